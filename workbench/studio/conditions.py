"""Required fields and conditions ("show this field when that choice has one of these values").

The builder writes conditions as `allOf: [{"if": {"properties": {f: {"const": v}}, "required": [f]},
"then": {"required": [name]}}]` (docs/template-format.md); anything else is "complex" and kept as written.
"""
from __future__ import annotations

from typing import Any

from workbench.studio.common import (
    BuilderError, _container, _copy, _options_of, _prune_examples, _remove_from, _schema, field_type, get_field,
    key_of, parent_of,
)

def _simple_test(block: Any) -> tuple[str, list] | None:
    """(field, values) of a builder-shaped allOf block: if one field is const/enum, then required/properties."""
    if not isinstance(block, dict) or set(block) - {"if", "then"} or "if" not in block:
        return None
    test, then = block.get("if"), block.get("then", {})
    if not isinstance(test, dict) or set(test) - {"properties", "required"} or not isinstance(then, dict):
        return None
    if set(then) - {"required", "properties"}:
        return None
    props = test.get("properties") or {}
    if len(props) != 1:
        return None
    name, sub = next(iter(props.items()))
    if not isinstance(sub, dict) or len(sub) != 1:
        return None
    if "const" in sub:
        return name, [sub["const"]]
    if isinstance(sub.get("enum"), list):
        return name, list(sub["enum"])
    return None


def _then_names(block: dict) -> list[str]:
    then = block.get("then") or {}
    return list(then.get("required") or []) + [n for n in then.get("properties") or {} if n not in (then.get("required") or [])]


def condition_of(t: dict, name: str) -> tuple[str, list] | str | None:
    """When a top-level field is shown: None (always), (field, values), or "complex" (only in the JSON tab)."""
    s = t.get("schema") or {}
    found: list[tuple[str, list]] = []
    complex_ = False
    for b in s.get("allOf") or []:
        simple = _simple_test(b)
        if simple and name in _then_names(b):
            found.append(simple)
        elif not simple and isinstance(b, dict) and "if" in b and name in _then_names(b):
            complex_ = True
    if "if" in s and name in _then_names(s):
        complex_ = True
    if complex_ or len({f for f, _ in found}) > 1:
        return "complex"
    if not found:
        return None
    values: list = []
    for _, vs in found:
        values += [v for v in vs if v not in values]
    return found[0][0], values


def is_required(t: dict, path: str) -> bool:
    parent, name = parent_of(path), key_of(path)
    obj = _container(t, parent)
    if name in (obj.get("required") or []):
        return True
    if parent:
        return False
    for b in (t.get("schema") or {}).get("allOf") or []:
        if _simple_test(b) and name in ((b.get("then") or {}).get("required") or []):
            return True
    return False


def set_required(t: dict, path: str, required: bool) -> dict:
    """Required always, or — for a field with a condition — required whenever it is shown."""
    t = _copy(t)
    get_field(t, path)
    parent, name = parent_of(path), key_of(path)
    obj = _container(t, parent, create=True)
    cond = None if parent else condition_of(t, name)
    if cond is None:
        if required and name not in (obj.get("required") or []):
            obj.setdefault("required", []).append(name)
        elif not required:
            _remove_from(obj, "required", name)
    else:
        if not required:
            _remove_from(obj, "required", name)
        for b in _schema(t).get("allOf") or []:
            if _simple_test(b) and name in _then_names(b):
                _place_in_then(b, name, required)
    _prune_examples(t)
    return t


def _place_in_then(block: dict, name: str, required: bool) -> None:
    then = block.setdefault("then", {})
    req = then.get("required") or []
    props = then.get("properties") or {}
    if required:
        if name not in req:
            then["required"] = req + [name]
        props.pop(name, None)
        if "properties" in then and not props:
            del then["properties"]
    else:
        if name in req:
            then["required"] = [n for n in req if n != name]
            if not then["required"]:
                del then["required"]
        then.setdefault("properties", {})[name] = {}


def set_condition(t: dict, name: str, field: str | None, values: list | None = None,
                  required: bool | None = None) -> dict:
    """Show top-level field `name` only when top-level `field` has one of `values` (None: always shown).

    Written as `allOf: [{"if": {"properties": {field: {"const": v}}, "required": [field]}, "then": {"required":
    [name]}}]` (docs/template-format.md); a field that is not required gets `then.properties` instead, which
    only shows it. `required` defaults to whether the field is required now."""
    t = _copy(t)
    get_field(t, name)
    if parent_of(name):
        raise BuilderError("only top-level fields can have a condition", "cond")
    if required is None:
        required = is_required(t, name)
    s = _schema(t)
    if field is not None:
        if field == name:
            raise BuilderError("a field cannot depend on itself", "cond")
        if field not in s["properties"]:
            raise BuilderError(f"unknown field '{field}'", "cond")
        if not values:
            raise BuilderError("choose the value that shows the field", "cond")
    # forget the current (builder-shaped) condition
    kept = []
    for b in s.get("allOf") or []:
        if _simple_test(b) and name in _then_names(b):
            then = b["then"]
            _remove_from(then, "required", name)
            (then.get("properties") or {}).pop(name, None)
            if "properties" in then and not then["properties"]:
                del then["properties"]
            if not then:
                continue
        kept.append(b)
    _remove_from(s, "required", name)
    if field is None:
        if kept:
            s["allOf"] = kept
        else:
            s.pop("allOf", None)
        if required:
            s.setdefault("required", []).append(name)
        _prune_examples(t)
        return t
    test = {"const": values[0]} if len(values) == 1 else {"enum": list(values)}
    target = next((b for b in kept if _simple_test(b) and b["if"]["properties"].get(field) == test), None)
    if target is None:
        target = {"if": {"properties": {field: test}, "required": [field]}, "then": {}}
        kept.append(target)
    _place_in_then(target, name, bool(required))
    s["allOf"] = kept
    _prune_examples(t)
    return t


def _fix_tests(t: dict, name: str) -> None:
    """After a field's type or options changed: conditions testing it keep only values it can still have."""
    s = _schema(t)
    field = s["properties"].get(name) or {}
    kind = field_type(field)
    if kind == "choice":
        allowed: list | None = [v for v, _ in _options_of(field)]
    elif kind == "yesno":
        allowed = [True, False]
    else:
        allowed = []
    kept = []
    for b in s.get("allOf") or []:
        simple = _simple_test(b)
        if simple and simple[0] == name:
            values = [v for v in simple[1] if v in allowed and not (isinstance(v, bool) != (kind == "yesno"))]
            if not values:
                continue
            if values != simple[1]:
                b["if"]["properties"][name] = {"const": values[0]} if len(values) == 1 else {"enum": values}
        kept.append(b)
    if kept:
        s["allOf"] = kept
    else:
        s.pop("allOf", None)
