"""Hypothesis strategies that generate record data from a template's JSON Schema (the subset we support).

`valid_records(schema)` draws data that validates, conditionals included: it draws every property
optionally, then fills whatever the validator says is still required (then/else branches, dependentRequired).
Values are the kind a form can carry: stripped strings without control characters, minute-precision
date-times at +08:00, no attachment or record-link values.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from hypothesis import strategies as st

from workbench.formats import record_validator
from workbench.record_rules import band_of, count_of, earliest_of, product_of, uncovered

CST = timezone(timedelta(hours=8))
SKIP_FORMATS = ("attachment", "record-link")
_alphabet = st.sampled_from(list("abcXYZ019 -_/，。测试批号合格不供方审核纠正措施（）#."))


def text_value(field: dict) -> st.SearchStrategy[str]:
    max_len = min(field.get("maxLength", 40), 40)
    min_len = max(field.get("minLength", 1), 1)
    if field.get("pattern"):
        return st.from_regex(field["pattern"], fullmatch=True).filter(lambda s: s == s.strip() and s and "\r" not in s
                                                                     and min_len <= len(s) <= field.get("maxLength", 10**6))
    return st.text(_alphabet, min_size=min_len, max_size=max_len).map(str.strip).filter(lambda s: len(s) >= min_len)


def scalar(field: dict) -> st.SearchStrategy:
    if "enum" in field:
        return st.sampled_from(field["enum"])
    if "const" in field:
        return st.just(field["const"])
    t = field.get("type")
    if t == "boolean":
        return st.booleans()
    if t == "integer":
        return st.integers(min_value=int(field.get("minimum", -10**6)), max_value=int(field.get("maximum", 10**6)))
    if t == "number":
        lo, hi = field.get("minimum", -1e6), field.get("maximum", 1e6)
        return st.one_of(st.integers(min_value=int(-(-lo // 1)), max_value=int(hi // 1)),
                         st.floats(min_value=lo, max_value=hi, allow_nan=False, allow_infinity=False))
    fmt = field.get("format")
    if fmt == "date":
        return st.dates(date(2015, 1, 1), date(2035, 12, 31)).map(date.isoformat)
    if fmt == "date-time":
        return st.datetimes(datetime(2015, 1, 1), datetime(2035, 12, 31)).map(
            lambda d: d.replace(second=0, microsecond=0, tzinfo=CST).isoformat())
    if fmt == "email":
        return st.from_regex(r"[a-z]{1,8}@[a-z]{1,8}\.(com|cn)", fullmatch=True)
    return text_value(field)


def value(field: dict) -> st.SearchStrategy:
    t = field.get("type")
    if t == "object":
        return obj(field)
    if t == "array":
        items = field.get("items") or {}
        lo, hi = field.get("minItems", 0), min(field.get("maxItems", 3), 3)
        if "enum" in items:
            return st.lists(st.sampled_from(items["enum"]), min_size=max(lo, 1), max_size=max(hi, 1), unique=True)
        return st.lists(value(items), min_size=max(lo, 1), max_size=max(hi, lo, 1))
    return scalar(field)


def usable(field: dict) -> bool:
    return field.get("format") not in SKIP_FORMATS


@st.composite
def obj(draw, schema: dict) -> dict:
    props = {k: v for k, v in (schema.get("properties") or {}).items() if usable(v)}
    required = [k for k in schema.get("required") or [] if k in props]
    out = {}
    for name, field in props.items():
        if name in required or draw(st.booleans()):
            out[name] = draw(value(field))
    if not out and props:  # a nested object / row must carry something, or the form drops it
        name = draw(st.sampled_from(sorted(props)))
        out[name] = draw(value(props[name]))
    return out


@st.composite
def valid_records(draw, schema: dict) -> dict:
    data = draw(obj(schema))
    validator = record_validator(schema)
    for _ in range(6):  # fill what conditionals still require, at any depth; set computed and fixed values
        changed = False
        for e in list(validator.iter_errors(data)):
            where = _at(data, list(e.absolute_path)[:-1]) if e.validator in ("products", "counts", "maxBand", "earliest", "covers", "const") else _at(data, e.absolute_path)
            if not isinstance(where, dict):
                continue
            if e.validator == "required":
                for name in e.validator_value:
                    field = (e.schema.get("properties") or {}).get(name) or _field(schema, list(e.absolute_path) + [name])
                    if name not in where and field and usable(field):
                        where[name] = draw(value(field))
                        changed = True
            elif e.validator == "dependentRequired":
                for k, deps in e.validator_value.items():
                    for d in deps if k in where else []:
                        field = (e.schema.get("properties") or {}).get(d)
                        if d not in where and field:
                            where[d] = draw(value(field))
                            changed = True
            elif e.validator == "const" and e.path:
                where[e.path[-1]] = e.validator_value
                changed = True
            elif e.validator == "products":
                target = e.path[-1]
                where[target] = product_of(where, e.validator_value[target])
                changed = True
            elif e.validator == "counts":
                target = e.path[-1]
                where[target] = count_of(where, e.validator_value[target])
                changed = True
            elif e.validator == "covers":  # keep the ticked choices that have a row
                target = e.path[-1]
                missing = uncovered(where, target, e.validator_value[target])
                kept = [v for v in where[target] if v not in missing]
                if kept:
                    where[target] = kept
                else:
                    rule = e.validator_value[target]
                    rows = where.setdefault(rule["items"], [])
                    rows[:1] = [dict(rows[0] if rows else {}, **{rule["value"]: where[target][0]})]
                    where[target] = where[target][:1]
                changed = True
            elif e.validator == "earliest":
                target = e.path[-1]
                where[target] = earliest_of(where, e.validator_value[target])
                changed = True
            elif e.validator == "maxBand":
                target = e.path[-1]
                where[target] = band_of(where, e.validator_value[target])
                changed = True
        if not changed:
            break
    return data


def _at(data, path):
    node = data
    for p in path:
        try:
            node = node[p]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _field(schema: dict, path: list) -> dict | None:
    """The schema of the field at a data path (list indexes step into `items`)."""
    node = schema
    for p in path:
        node = (node.get("items") or {}) if isinstance(p, int) else (node.get("properties") or {}).get(p)
        if not isinstance(node, dict):
            return None
    return node
