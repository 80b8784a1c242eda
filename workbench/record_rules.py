"""Record rules a JSON Schema cannot state: keywords of our own, written on an object schema (the record schema or
a table's `items`), checked whenever a record is validated (`workbench.formats.record_validator`):

- `"products": {"d": ["l", "e", "c"]}` — field `d` must equal l × e × c (LEC risk value D = L × E × C);
  checked when the target and every factor hold numbers (floating-point rounding tolerated).
- `"counts": {"nc_count": {"items": "findings", "where": {"grade": ["minor", "major"]}}}` — `nc_count` must equal
  the number of rows of table `findings` whose `grade` is one of the values (all rows without `where`).
- `"maxBand": {"max_level": {"items": "hazards", "value": "d", "bands": [[320, "5"], [160, "4"], [0, "1"]]}}` —
  `max_level` must be the band of the largest `d` in the rows: the first band whose lower bound it reaches.
- `"earliest": {"next_expiry": {"items": "certificates", "value": "expiry"}}` — date `next_expiry` must be the
  earliest `expiry` in the rows (reminders follow it).
- `"covers": {"inputs": {"items": "input_details", "value": "input"}}` — every choice ticked in array `inputs`
  needs a row of `input_details` whose `input` is that choice (content per input, not only a ticked box).

Each reports at its target field (the validator is the keyword's name); forms/validate.py words the message in
zh/en. `template_errors` is the template check (names must exist and have the right kind); `forget` and `rename`
keep the rules — and the conditionals inside tables and `dependentSchemas` — right when the studio builder
removes or renames a field.
"""
from __future__ import annotations

import math
import re
from typing import Iterator

from jsonschema.exceptions import ValidationError

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _json_path(parts) -> str:
    from workbench.templates import json_path

    return json_path(parts)


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def product_of(instance: dict, factors: list[str]) -> float | None:
    """The product of the factor fields, or None when one of them is not a number."""
    values = [instance.get(f) for f in factors]
    return math.prod(values) if all(_number(v) for v in values) else None


def _column(instance: dict, rule: dict) -> list:
    rows = instance.get(rule.get("items", ""))
    return [r.get(rule.get("value")) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def count_of(instance: dict, rule: dict) -> int:
    rows = instance.get(rule.get("items", ""))
    where = rule.get("where") or {}
    if not isinstance(rows, list):
        return 0
    return sum(1 for r in rows if isinstance(r, dict) and all(r.get(k) in vals for k, vals in where.items()))


def band_of(instance: dict, rule: dict):
    """The band of the largest value in the rows, or None when no row holds a number (or none reaches a band)."""
    values = [v for v in _column(instance, rule) if _number(v)]
    if not values:
        return None
    top = max(values)
    bands = [b for b in rule.get("bands") or [] if isinstance(b, list) and len(b) == 2 and _number(b[0])]
    return next((band for low, band in bands if top >= low), None)


def earliest_of(instance: dict, rule: dict) -> str | None:
    values = [v for v in _column(instance, rule) if isinstance(v, str) and _DATE.match(v)]
    return min(values) if values else None


def _same(got, expected) -> bool:
    if _number(got) and _number(expected):
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)  # 0.1 × 3 × 7 is 2.1000000000000005
    return got == expected


def _rule(expected_of, shape: type):
    """A keyword checking each target field against the value `expected_of(instance, rule)` computes; silent when
    that is None or the target holds another kind of value (the type and required rules speak then)."""
    def check(validator, spec, instance, schema):
        if not isinstance(instance, dict) or not isinstance(spec, dict):
            return
        for target, rule in spec.items():
            got = instance.get(target)
            expected = expected_of(instance, rule) if isinstance(rule, shape) else None
            if expected is None or got is None or _number(got) != _number(expected) or _same(got, expected):
                continue
            yield ValidationError(f"{target} must be {expected!r}, not {got!r}", path=[target])
    return check


RULES = {"products": (product_of, list), "counts": (count_of, dict), "maxBand": (band_of, dict), "earliest": (earliest_of, dict)}


def uncovered(instance: dict, target: str, rule: dict) -> list:
    """The values of array `target` that no row of the rule's table holds in its column."""
    ticked = instance.get(target)
    if not isinstance(ticked, list):
        return []
    have = set(v for v in _column(instance, rule) if isinstance(v, (str, int, float, bool)))
    return [v for v in ticked if isinstance(v, (str, int, float, bool)) and v not in have]


def _covers(validator, spec, instance, schema):
    if not isinstance(instance, dict) or not isinstance(spec, dict):
        return
    for target, rule in spec.items():
        missing = uncovered(instance, target, rule) if isinstance(rule, dict) else []
        if missing:
            yield ValidationError(f"{target}: no row of {rule.get('items')} for {missing}", path=[target])


KEYWORDS = (*RULES, "covers")


def keywords() -> dict:
    """The jsonschema keyword functions (workbench.formats.record_validator extends Draft 2020-12 with them)."""
    return {**{k: _rule(f, shape) for k, (f, shape) in RULES.items()}, "covers": _covers}



# --- template checks ---------------------------------------------------------------------------------


def template_errors(obj: dict, jpath: tuple, root: bool = False) -> Iterator[tuple[str, str]]:
    """(JSON path, message) for every rule of this object schema that names a missing field or one of the wrong
    kind; for a table's row (not the record itself) also its `allOf` conditionals; and `dependentSchemas` keys."""
    yield from _rule_errors(obj, jpath)
    yield from _band_errors(obj, jpath)
    yield from _earliest_errors(obj, jpath)
    yield from _covers_errors(obj, jpath)
    props = obj.get("properties") or {}
    for name in obj.get("dependentSchemas") or {}:
        if name not in props:
            yield _json_path(jpath + ("dependentSchemas", name)), f"unknown field '{name}'"
    if root:
        return  # the record's own conditionals are checked by templates.py
    for i, block in enumerate(obj.get("allOf") or []):
        if not isinstance(block, dict):
            continue
        for name in (block.get("if") or {}).get("properties") or {}:
            if name not in props:
                yield _json_path(jpath + ("allOf", i, "if", "properties", name)), f"condition tests unknown field '{name}'"
        for branch in ("then", "else"):
            for j, name in enumerate((block.get(branch) or {}).get("required") or []):
                if name not in props:
                    yield _json_path(jpath + ("allOf", i, branch, "required", j)), f"unknown field '{name}'"


def _covers_errors(obj: dict, jpath: tuple) -> Iterator[tuple[str, str]]:
    props = obj.get("properties") or {}
    for target, rule in (obj.get("covers") or {}).items():
        here = jpath + ("covers", target)
        if (props.get(target) or {}).get("type") != "array":
            yield _json_path(here), f"'{target}' is not an array field of this object"
        rows = ((props.get(rule["items"]) or {}).get("items") or {}).get("properties") or {}
        if rule["value"] not in rows:
            yield _json_path(here + ("value",)), f"'{rule['value']}' is not a column of table '{rule['items']}'"


def _rule_errors(obj: dict, jpath: tuple) -> Iterator[tuple[str, str]]:
    """`products` and `counts` must name number fields of the same object."""
    props = obj.get("properties") or {}

    def numeric(name: str) -> bool:
        return (props.get(name) or {}).get("type") in ("number", "integer")

    for target, factors in (obj.get("products") or {}).items():
        here = jpath + ("products", target)
        if not numeric(target):
            yield _json_path(here), f"'{target}' is not a number field of this object"
        for i, f in enumerate(factors):
            if not numeric(f):
                yield _json_path(here + (i,)), f"factor '{f}' is not a number field of this object"
    for target, rule in (obj.get("counts") or {}).items():
        here = jpath + ("counts", target)
        if (props.get(target) or {}).get("type") != "integer":
            yield _json_path(here), f"'{target}' is not an integer field of this object"
        rows = props.get(rule["items"]) or {}
        row_props = (rows.get("items") or {}).get("properties") or {}
        if rows.get("type") != "array" or not row_props:
            yield _json_path(here + ("items",)), f"'{rule['items']}' is not a table (array of objects) of this object"
            continue
        for key, values in (rule.get("where") or {}).items():
            enum = (row_props.get(key) or {}).get("enum")
            if key not in row_props:
                yield _json_path(here + ("where", key)), f"unknown column '{key}' of '{rule['items']}'"
            elif enum is not None and any(v not in enum for v in values):
                yield _json_path(here + ("where", key)), f"value(s) {[v for v in values if v not in enum]} are not choices of '{key}'"


def _band_errors(obj: dict, jpath: tuple) -> Iterator[tuple[str, str]]:
    props = obj.get("properties") or {}
    for target, rule in (obj.get("maxBand") or {}).items():
        here = jpath + ("maxBand", target)
        if target not in props:
            yield _json_path(here), f"unknown field '{target}'"
        rows = ((props.get(rule["items"]) or {}).get("items") or {}).get("properties") or {}
        if (rows.get(rule["value"]) or {}).get("type") not in ("number", "integer"):
            yield _json_path(here + ("value",)), f"'{rule['value']}' is not a number column of table '{rule['items']}'"
        lows = [low for low, _ in rule["bands"]]
        if lows != sorted(lows, reverse=True):
            yield _json_path(here + ("bands",)), "bands must be in descending order of their lower bound"
        enum = (props.get(target) or {}).get("enum")
        for i, (_, band) in enumerate(rule["bands"]):
            if enum is not None and band not in enum:
                yield _json_path(here + ("bands", i)), f"'{band}' is not a choice of '{target}'"


def _earliest_errors(obj: dict, jpath: tuple) -> Iterator[tuple[str, str]]:
    props = obj.get("properties") or {}
    for target, rule in (obj.get("earliest") or {}).items():
        here = jpath + ("earliest", target)
        if (props.get(target) or {}).get("format") != "date":
            yield _json_path(here), f"'{target}' is not a date field of this object"
        rows = ((props.get(rule["items"]) or {}).get("items") or {}).get("properties") or {}
        if (rows.get(rule["value"]) or {}).get("format") != "date":
            yield _json_path(here + ("value",)), f"'{rule['value']}' is not a date column of table '{rule['items']}'"


# --- keeping rules right when the builder removes or renames a field ----------------------------------------


def _objects(schema: dict, prefix: tuple = ()) -> Iterator[tuple[tuple, dict]]:
    """(data path of names, object schema) for the record schema and every section / table row in it."""
    yield prefix, schema
    for name, field in (schema.get("properties") or {}).items():
        if not isinstance(field, dict):
            continue
        if field.get("type") == "object":
            yield from _objects(field, prefix + (name,))
        items = field.get("items")
        if field.get("type") == "array" and isinstance(items, dict) and items.get("type") == "object":
            yield from _objects(items, prefix + (name,))


def _blocks(sub: dict) -> list[dict]:
    """The if/then blocks of a schema: itself (top-level if) and its allOf entries."""
    out = [sub] if isinstance(sub, dict) and "if" in sub else []
    return out + [b for b in (sub.get("allOf") or []) if isinstance(b, dict) and "if" in b] if isinstance(sub, dict) else out


def _drop_refs(block: dict, name: str) -> bool:
    """Remove `name` from a block's then/else; False when the block tests `name` (drop the whole block)."""
    if name in ((block.get("if") or {}).get("properties") or {}):
        return False
    for branch in ("then", "else"):
        sub = block.get(branch)
        if isinstance(sub, dict):
            if name in (sub.get("required") or []):
                sub["required"] = [n for n in sub["required"] if n != name]
            (sub.get("properties") or {}).pop(name, None)
            for key in ("required", "properties"):
                if key in sub and not sub[key]:
                    del sub[key]
    return True


def _ren_block(block: dict, old: str, new: str) -> None:
    for part in ("if", "then", "else"):
        sub = block.get(part)
        if isinstance(sub, dict):
            if old in (sub.get("required") or []):
                sub["required"] = [new if n == old else n for n in sub["required"]]
            if old in (sub.get("properties") or {}):
                sub["properties"] = {(new if k == old else k): v for k, v in sub["properties"].items()}


def _rule_names(keyword: str, target: str, rule) -> list[tuple]:
    """The relative data paths a rule depends on."""
    if keyword == "products":
        return [(target,)] + [(f,) for f in rule] if isinstance(rule, list) else [(target,)]
    if not isinstance(rule, dict):
        return [(target,)]
    out = [(target,), (rule.get("items"),)]
    if rule.get("value"):
        out.append((rule.get("items"), rule["value"]))
    return out


def forget(schema: dict, path: str) -> None:
    """A field at dotted `path` was removed: drop the rules that need it, its `where` column, its
    `dependentSchemas`, and its mentions in a table row's conditionals (the record's own the builder handles)."""
    gone = tuple(path.split("."))
    for prefix, obj in list(_objects(schema)):
        if gone[:len(prefix)] != prefix or len(gone) == len(prefix):
            continue
        rest = gone[len(prefix):]
        for keyword in KEYWORDS:
            spec = obj.get(keyword)
            if not isinstance(spec, dict):
                continue
            for target, rule in list(spec.items()):
                where = rule.get("where") if keyword == "counts" and isinstance(rule, dict) else None
                if rest in _rule_names(keyword, target, rule):
                    del spec[target]
                elif isinstance(where, dict) and len(rest) == 2 and rest[0] == rule.get("items") and rest[1] in where:
                    del where[rest[1]]
                    if not where:
                        del rule["where"]
            if not spec:
                del obj[keyword]
        if len(rest) != 1:
            continue
        deps = obj.get("dependentSchemas")
        if isinstance(deps, dict):
            deps.pop(rest[0], None)
            for sub in deps.values():
                if isinstance(sub, dict) and isinstance(sub.get("allOf"), list):
                    sub["allOf"] = [b for b in sub["allOf"] if not isinstance(b, dict) or _drop_refs(b, rest[0])]
                elif isinstance(sub, dict) and "if" in sub and not _drop_refs(sub, rest[0]):
                    for k in ("if", "then", "else"):
                        sub.pop(k, None)
            if not deps:
                del obj["dependentSchemas"]
        if prefix and isinstance(obj.get("allOf"), list):
            obj["allOf"] = [b for b in obj["allOf"] if not isinstance(b, dict) or "if" not in b
                            or (_drop_refs(b, rest[0]) and (b.get("then") or b.get("else")))]
            if not obj["allOf"]:
                del obj["allOf"]


def rename(schema: dict, path: str, new_key: str) -> None:
    """The field at dotted `path` is now called `new_key`: follow it in every rule, `where`, `dependentSchemas`
    and table-row conditional."""
    old_path = tuple(path.split("."))
    old = old_path[-1]
    for prefix, obj in list(_objects(schema)):
        if old_path[:len(prefix)] != prefix or len(old_path) == len(prefix):
            continue
        rest = old_path[len(prefix):]
        for keyword in KEYWORDS:
            spec = obj.get(keyword)
            if not isinstance(spec, dict):
                continue
            renamed = {}
            for target, rule in spec.items():
                if rest == (target,):
                    target = new_key
                if keyword == "products" and isinstance(rule, list) and len(rest) == 1:
                    rule = [new_key if f == old else f for f in rule]
                elif isinstance(rule, dict):
                    if rest == (rule.get("items"),):
                        rule["items"] = new_key
                    elif len(rest) == 2 and rest[0] == rule.get("items"):
                        if rule.get("value") == old:
                            rule["value"] = new_key
                        if isinstance(rule.get("where"), dict) and old in rule["where"]:
                            rule["where"] = {(new_key if k == old else k): v for k, v in rule["where"].items()}
                renamed[target] = rule
            obj[keyword] = renamed
        if len(rest) != 1:
            continue
        deps = obj.get("dependentSchemas")
        if isinstance(deps, dict):
            obj["dependentSchemas"] = {(new_key if k == old else k): v for k, v in deps.items()}
            for sub in obj["dependentSchemas"].values():
                for block in _blocks(sub):
                    _ren_block(block, old, new_key)
        if prefix:
            for block in _blocks(obj):
                _ren_block(block, old, new_key)
