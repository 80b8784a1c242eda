"""What every builder module shares: the field types, `BuilderError`, dotted field paths and lookups
(`get_field`, `field_type`, `top_order`…), and keeping `examples` valid records after a change.

Reading never changes a template; helpers that write (`_schema`, `_ui`, `_container(create=True)`) are only
called on the copy an operation returns.
"""
from __future__ import annotations

import copy
import re
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from workbench.formats import record_validator

TYPES = ("text", "textarea", "number", "integer", "date", "datetime", "email", "choice", "multichoice", "yesno",
         "table", "section", "attachment")
CONTAINERS = ("table", "section")
CHILD_TYPES = tuple(t for t in TYPES if t not in ("table", "section", "attachment"))
ADVANCED = ("list", "link", "other")  # recognised but only editable in the JSON tab (label/help/required are)
ROLES = ("member", "manager", "consultant", "admin")
COMMENT_MODES = ("none", "optional", "required")
KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")
TEMPLATE_KEY_RE = re.compile(r"^[a-z][a-z0-9-]{1,62}$")
STATE_RE = re.compile(r"^[a-z][a-z0-9_]*$")

# keys of a field schema that belong to its type (dropped when the type changes)
_TYPE_KEYS = {"type", "format", "enum", "enumLabels", "items", "properties", "required", "minimum", "maximum",
              "exclusiveMinimum", "exclusiveMaximum", "multipleOf", "maxLength", "minLength", "pattern", "uniqueItems",
              "minItems", "maxItems", "linkTemplates", "const", "default", "additionalProperties", "allOf", "if",
              "then", "else", "oneOf", "anyOf", "dependentRequired"}


class BuilderError(ValueError):
    """An operation that cannot be done (unknown field, duplicate key…). `field` names the input, if any."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


def i18n(zh: str, en: str) -> dict:
    """A {zh, en} text; a missing side falls back to the other one."""
    zh, en = (zh or "").strip(), (en or "").strip()
    return {"zh": zh or en, "en": en or zh}


def _copy(t: dict) -> dict:
    return copy.deepcopy(t)


def _schema(t: dict) -> dict:
    s = t.setdefault("schema", {"type": "object", "properties": {}})
    s.setdefault("properties", {})
    return s


def _ui(t: dict) -> dict:
    return t.setdefault("ui", {})


def _tidy_ui(t: dict) -> None:
    ui = t.get("ui")
    if isinstance(ui, dict):
        for k in ("widgets", "order", "sections", "list_columns"):
            if k in ui and not ui[k]:
                del ui[k]
        if not ui:
            del t["ui"]


def split(path: str) -> list[str]:
    return [p for p in path.split(".") if p]


def parent_of(path: str) -> str:
    return path.rsplit(".", 1)[0] if "." in path else ""


def key_of(path: str) -> str:
    return path.rsplit(".", 1)[-1]


def _object_of(field: dict) -> dict | None:
    """The object schema holding the children of a table (its items) or a section (itself)."""
    if field.get("type") == "object":
        return field
    items = field.get("items")
    if field.get("type") == "array" and isinstance(items, dict) and items.get("type") == "object":
        return items
    return None


def _container(t: dict, parent: str, create: bool = False) -> dict:
    """The object schema whose `properties` hold the children of `parent` ("" = top level).

    Reading never changes the template; `create` (write paths, on a copy) adds a missing `properties`."""
    obj = _schema(t) if create else (t.get("schema") if isinstance(t.get("schema"), dict) else {})
    for name in split(parent):
        field = (obj.get("properties") or {}).get(name)
        sub = _object_of(field) if isinstance(field, dict) else None
        if sub is None:
            raise BuilderError(f"'{parent}' is not a table or a section")
        obj = sub
    if create:
        obj.setdefault("properties", {})
    return obj


def get_field(t: dict, path: str) -> dict:
    obj = _container(t, parent_of(path))
    field = (obj.get("properties") or {}).get(key_of(path))
    if not isinstance(field, dict):
        raise BuilderError(f"unknown field '{path}'")
    return field


def has_field(t: dict, path: str) -> bool:
    try:
        get_field(t, path)
    except BuilderError:
        return False
    return True


def field_type(field: dict, hint: str | None = None) -> str:
    """The builder's name for a field schema's type (one of TYPES, or "list"/"link"/"other")."""
    t = field.get("type")
    if t == "object":
        return "section"
    if t == "array":
        items = _d(field.get("items"))
        if items.get("enum") is not None:
            return "multichoice"
        if items.get("type") == "object":
            return "table"
        return "list"
    if field.get("enum") is not None:
        return "choice"
    if t == "boolean":
        return "yesno"
    if t == "integer":
        return "integer"
    if t == "number":
        return "number"
    if t in ("string", None):
        fmt = field.get("format")
        if fmt in ("date", "email", "attachment"):
            return fmt
        if fmt == "date-time":
            return "datetime"
        if fmt == "record-link":
            return "link"
        if fmt is not None:
            return "other"
        if hint == "textarea" or (hint is None and (field.get("maxLength") or 0) > 200):
            return "textarea"
        return "text" if t == "string" else "other"
    return "other"


def hint_of(t: dict, path: str) -> str | None:
    return ((t.get("ui") or {}).get("widgets") or {}).get(path)


def type_of(t: dict, path: str) -> str:
    return field_type(get_field(t, path), hint_of(t, path))


def _d(x: Any) -> dict:
    return x if isinstance(x, dict) else {}


def _options_of(field: dict) -> list[tuple[Any, dict]]:
    enum = field.get("enum")
    if enum is None:
        enum = _d(field.get("items")).get("enum")
    labels = _d(field.get("enumLabels")) or _d(_d(field.get("items")).get("enumLabels"))
    return [(v, _d(labels.get(str(v)))) for v in (enum if isinstance(enum, list) else [])]


def top_order(t: dict) -> list[str]:
    """Top-level fields in the order the form shows them (sections, then ui.order, then properties)."""
    props = list((t.get("schema") or {}).get("properties") or {})
    ui = t.get("ui") or {}
    first: list[str] = []
    if ui.get("sections"):
        for s in ui["sections"]:
            first += [n for n in s.get("fields") or [] if n in props and n not in first]
    elif ui.get("order"):
        first = [n for n in ui["order"] if n in props]
        first = list(dict.fromkeys(first))
    return first + [n for n in props if n not in first]


def children_order(t: dict, parent: str) -> list[str]:
    return top_order(t) if not parent else list(_container(t, parent).get("properties") or {})


def field_paths(t: dict, parent: str = "") -> list[str]:
    """Every field path, depth first, in display order."""
    out = []
    for name in children_order(t, parent):
        path = f"{parent}.{name}" if parent else name
        out.append(path)
        if type_of(t, path) in CONTAINERS:
            out += field_paths(t, path)
    return out


def _prune_examples(t: dict) -> None:
    """Drop example values of fields that no longer exist, then examples that no longer validate."""
    examples = t.get("examples")
    if not isinstance(examples, list):
        return
    schema = t.get("schema") or {}
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError:
        return
    validator = record_validator(schema)
    kept = []
    for ex in examples:
        if isinstance(ex, dict):
            ex = _strip_unknown(schema, ex)
            if not any(True for _ in validator.iter_errors(ex)):
                kept.append(ex)
    if kept:
        t["examples"] = kept
    else:
        del t["examples"]


def _strip_unknown(obj_schema: dict, data: dict) -> dict:
    props = obj_schema.get("properties") or {}
    out = {}
    for k, v in data.items():
        if k not in props:
            continue
        sub = _object_of(props[k]) if isinstance(props[k], dict) else None
        if sub is not None and props[k].get("type") == "array" and isinstance(v, list):
            v = [_strip_unknown(sub, row) if isinstance(row, dict) else row for row in v]
        elif sub is not None and isinstance(v, dict):
            v = _strip_unknown(sub, v)
        out[k] = v
    return out


def _remove_from(obj: dict, key: str, name: str) -> None:
    if name in (obj.get(key) or []):
        obj[key] = [n for n in obj[key] if n != name]
        if not obj[key]:
            del obj[key]


def _ren(names: list, old: str, new: str) -> list:
    return [new if n == old else n for n in names]
