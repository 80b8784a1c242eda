"""The visual builder: pure functions on a template dict, and the builder's form view-model.

Every operation takes a template (see docs/template-format.md) and returns a *new* dict; the input is never
modified. Operations keep the template consistent: removing or renaming a field also updates `required`,
conditions (`allOf` if/then), `ui` hints, workflow `requires`, the schedule and the `examples`.

    t = new_template("forklift-check", "叉车日检", "Forklift daily check", [("ISO 45001:2018", "8.1.2")])
    t = add_field(t, "result", "choice", "结论", "Result", options=[("ok", "正常", "OK"), ("ng", "异常", "Not OK")])
    t = add_field(t, "action", "textarea", "处理措施", "Action taken")
    t = set_condition(t, "action", "result", ["ng"])        # shown (and required) when result = ng

Field paths are dotted: "result" (top level), "items.item" (a column of the table "items"), "supplier.name"
(a field of the section "supplier").

The builder page is one plain form. `describe(t)` is its view-model, `to_form(t)` the values the page posts
when nothing was touched, and `apply_form(t, form)` applies what was posted: only values that differ from
`to_form(t)` change anything, so `apply_form(t, to_form(t)) == t` for every template, including what the
builder cannot show (it is kept as it is, and edited in the JSON tab).
"""
from __future__ import annotations

import copy
import json
import re
from typing import Any, Iterable

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError
from werkzeug.datastructures import MultiDict

from workbench import clauses as clause_catalogue
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


# --- small helpers ---------------------------------------------------------------------------------


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


# --- examples stay valid records --------------------------------------------------------------------


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


# --- templates and fields ---------------------------------------------------------------------------


def default_workflow() -> dict:
    return {
        "initial": "draft",
        "states": {
            "draft": {"label": {"zh": "草稿", "en": "Draft"}},
            "submitted": {"label": {"zh": "已提交", "en": "Submitted"}},
            "approved": {"label": {"zh": "已批准", "en": "Approved"}, "final": True},
        },
        "transitions": [
            {"name": "submit", "from": ["draft"], "to": "submitted", "label": {"zh": "提交", "en": "Submit"},
             "roles": ["member", "manager"]},
            {"name": "return", "from": ["submitted"], "to": "draft", "label": {"zh": "退回", "en": "Return"},
             "roles": ["manager"], "comment": "required"},
            {"name": "approve", "from": ["submitted"], "to": "approved", "label": {"zh": "批准", "en": "Approve"},
             "roles": ["manager"]},
        ],
    }


def new_template(key: str, title_zh: str, title_en: str, clauses: Iterable[tuple[str, str]],
                 first_field: bool = True) -> dict:
    """A new template: one date field, the default submit/approve workflow."""
    t: dict = {"key": key, "version": 1, "title": i18n(title_zh, title_en),
               "clauses": [{"standard": s, "clause": c} for s, c in clauses],
               "schema": {"type": "object", "required": [], "properties": {}},
               "workflow": default_workflow()}
    if first_field:
        t["schema"]["properties"]["date"] = {"type": "string", "format": "date", "label": {"zh": "日期", "en": "Date"}}
        t["schema"]["required"] = ["date"]
    else:
        del t["schema"]["required"]
    return t


def make_field(type_: str, label_zh: str = "", label_en: str = "", key: str = "",
               options: Iterable[tuple[Any, str, str]] | None = None) -> dict:
    """A field schema of a builder type (no ui hint: see add_field for textarea)."""
    label = i18n(label_zh, label_en) if (label_zh or label_en) else {"zh": key or type_, "en": key or type_}
    f: dict = {}
    if type_ in ("text", "textarea"):
        f = {"type": "string"}
    elif type_ in ("number", "integer"):
        f = {"type": type_}
    elif type_ in ("date", "email", "attachment"):
        f = {"type": "string", "format": type_}
    elif type_ == "datetime":
        f = {"type": "string", "format": "date-time"}
    elif type_ == "yesno":
        f = {"type": "boolean"}
    elif type_ in ("choice", "multichoice"):
        opts = list(options or [("option_1", "选项 1", "Option 1"), ("option_2", "选项 2", "Option 2")])
        enum = [v for v, _, _ in opts]
        labels = {str(v): i18n(zh, en or str(v)) if (zh or en) else {"zh": str(v), "en": str(v)} for v, zh, en in opts}
        if type_ == "choice":
            f = {"type": "string", "enum": enum, "enumLabels": labels}
        else:
            f = {"type": "array", "uniqueItems": True, "items": {"type": "string", "enum": enum}, "enumLabels": labels}
    elif type_ in ("table", "section"):
        child = {"item": {"type": "string", "label": {"zh": "项目", "en": "Item"}}}
        if type_ == "table":
            f = {"type": "array", "items": {"type": "object", "properties": child}}
        else:
            f = {"type": "object", "properties": child}
    else:
        raise BuilderError(f"unknown type '{type_}'", "type")
    return {**f, "label": label}


def _check_key(key: str, siblings: Iterable[str]) -> None:
    if not KEY_RE.match(key or ""):
        raise BuilderError(f"'{key}' is not a valid key: use lowercase letters, digits and _ (start with a letter)",
                           "key")
    if key in siblings:
        raise BuilderError(f"a field '{key}' already exists here", "key")


def free_key(t: dict, parent: str = "", stem: str = "field") -> str:
    siblings = _container(t, parent).get("properties") or {}
    n = len(siblings) + 1
    while f"{stem}_{n}" in siblings:
        n += 1
    return f"{stem}_{n}"


def add_field(t: dict, key: str, type_: str, label_zh: str = "", label_en: str = "", parent: str = "", *,
              help_zh: str = "", help_en: str = "", required: bool = False,
              options: Iterable[tuple[Any, str, str]] | None = None, heading: int | None = None) -> dict:
    """Add a field at the end of `parent` ("" = top level, or a table/section path)."""
    t = _copy(t)
    obj = _container(t, parent, create=True)
    key = (key or "").strip() or free_key(t, parent)
    _check_key(key, obj["properties"])
    if type_ not in TYPES:
        raise BuilderError(f"unknown type '{type_}'", "type")
    if parent and type_ not in CHILD_TYPES:
        raise BuilderError(f"a {type_} cannot be inside a table or section", "type")
    field = make_field(type_, label_zh, label_en, key, options)
    if help_zh or help_en:
        field["help"] = i18n(help_zh, help_en)
    obj["properties"][key] = field
    path = f"{parent}.{key}" if parent else key
    if type_ == "textarea":
        _make_textarea(t, path)
    if not parent:
        ui = t.get("ui") or {}
        if ui.get("order"):
            ui["order"].append(key)
        if ui.get("sections"):
            i = heading if heading is not None and 0 <= heading < len(ui["sections"]) else len(ui["sections"]) - 1
            ui["sections"][i]["fields"].append(key)
    if required:
        obj.setdefault("required", []).append(key)
    return t


def remove_field(t: dict, path: str) -> dict:
    t = _copy(t)
    get_field(t, path)
    parent, name = parent_of(path), key_of(path)
    if not parent and len(_schema(t)["properties"]) == 1:
        raise BuilderError("a template needs at least one field")
    obj = _container(t, parent, create=True)
    del obj["properties"][name]
    _remove_from(obj, "required", name)
    widgets = (t.get("ui") or {}).get("widgets") or {}
    for k in [k for k in widgets if k == path or k.startswith(path + ".")]:
        del widgets[k]
    if not parent:
        _forget_top_level(t, name)
    _tidy_ui(t)
    _prune_examples(t)
    return t


def _remove_from(obj: dict, key: str, name: str) -> None:
    if name in (obj.get(key) or []):
        obj[key] = [n for n in obj[key] if n != name]
        if not obj[key]:
            del obj[key]


def _forget_top_level(t: dict, name: str) -> None:
    """Remove every reference to a deleted top-level field."""
    s = _schema(t)
    blocks = s.get("allOf") or []
    kept = []
    for b in blocks:
        if not isinstance(b, dict):
            kept.append(b)
            continue
        if name in ((b.get("if") or {}).get("properties") or {}):
            continue  # the condition tested the removed field: its fields become unconditional
        for branch in ("then", "else"):
            sub = b.get(branch)
            if isinstance(sub, dict):
                _remove_from(sub, "required", name)
                (sub.get("properties") or {}).pop(name, None)
                if "properties" in sub and not sub["properties"]:
                    del sub["properties"]
        if "then" in b and not b["then"] and "else" not in b:
            continue
        kept.append(b)
    if "allOf" in s:
        if kept:
            s["allOf"] = kept
        else:
            del s["allOf"]
    if "if" in s:
        if name in ((s.get("if") or {}).get("properties") or {}):
            for k in ("if", "then", "else"):
                s.pop(k, None)
        else:
            for branch in ("then", "else"):
                if isinstance(s.get(branch), dict):
                    _remove_from(s[branch], "required", name)
                    (s[branch].get("properties") or {}).pop(name, None)
    deps = s.get("dependentRequired")
    if isinstance(deps, dict):
        deps.pop(name, None)
        for k in list(deps):
            deps[k] = [d for d in deps[k] if d != name]
            if not deps[k]:
                del deps[k]
        if not deps:
            del s["dependentRequired"]
    if isinstance(s.get("oneOf"), list):
        alts = []
        for alt in s["oneOf"]:
            if isinstance(alt, dict):
                _remove_from(alt, "required", name)
                (alt.get("properties") or {}).pop(name, None)
                if "properties" in alt and not alt["properties"]:
                    del alt["properties"]
                if not alt:
                    continue
            alts.append(alt)
        if alts:
            s["oneOf"] = alts
        else:
            del s["oneOf"]
    ui = t.get("ui") or {}
    for key in ("order", "list_columns"):
        if name in (ui.get(key) or []):
            ui[key] = [n for n in ui[key] if n != name]
    if ui.get("title_field") == name:
        del ui["title_field"]
    if ui.get("sections"):
        for sec in ui["sections"]:
            sec["fields"] = [n for n in sec.get("fields") or [] if n != name]
        ui["sections"] = [sec for sec in ui["sections"] if sec["fields"]]
    for tr in ((t.get("workflow") or {}).get("transitions") or []):
        if isinstance(tr, dict) and name in (tr.get("requires") or []):
            tr["requires"] = [n for n in tr["requires"] if n != name]
            if not tr["requires"]:
                del tr["requires"]
    sched = t.get("schedule")
    if isinstance(sched, dict) and name in sched.values():
        if sched.get("subject_field") == name and sched.get("due_field") != name:
            del sched["subject_field"]
        else:
            del t["schedule"]


def rename_field(t: dict, path: str, new_key: str) -> dict:
    """Rename a field's key, and every reference to it."""
    t = _copy(t)
    get_field(t, path)
    parent, old = parent_of(path), key_of(path)
    if new_key == old:
        return t
    obj = _container(t, parent, create=True)
    _check_key(new_key, obj["properties"])
    obj["properties"] = {(new_key if k == old else k): v for k, v in obj["properties"].items()}
    if old in (obj.get("required") or []):
        obj["required"] = [new_key if n == old else n for n in obj["required"]]
    new_path = f"{parent}.{new_key}" if parent else new_key
    ui = t.get("ui") or {}
    if ui.get("widgets"):
        ui["widgets"] = {(new_path + k[len(path):] if k == path or k.startswith(path + ".") else k): v
                         for k, v in ui["widgets"].items()}
    if not parent:
        _rename_top_level(t, old, new_key)
    _rename_in_examples(t, split(parent), old, new_key)
    return t


def _ren(names: list, old: str, new: str) -> list:
    return [new if n == old else n for n in names]


def _rename_top_level(t: dict, old: str, new: str) -> None:
    s = _schema(t)

    def fix_block(b: dict) -> None:
        test = b.get("if")
        if isinstance(test, dict):
            if old in (test.get("properties") or {}):
                test["properties"] = {(new if k == old else k): v for k, v in test["properties"].items()}
            if old in (test.get("required") or []):
                test["required"] = _ren(test["required"], old, new)
        for branch in ("then", "else"):
            sub = b.get(branch)
            if isinstance(sub, dict):
                if old in (sub.get("required") or []):
                    sub["required"] = _ren(sub["required"], old, new)
                if old in (sub.get("properties") or {}):
                    sub["properties"] = {(new if k == old else k): v for k, v in sub["properties"].items()}

    if "if" in s:
        fix_block(s)
    for b in s.get("allOf") or []:
        if isinstance(b, dict):
            fix_block(b)
    for alt in s.get("oneOf") or []:
        if isinstance(alt, dict):
            if old in (alt.get("required") or []):
                alt["required"] = _ren(alt["required"], old, new)
            if old in (alt.get("properties") or {}):
                alt["properties"] = {(new if k == old else k): v for k, v in alt["properties"].items()}
    if isinstance(s.get("dependentRequired"), dict):
        s["dependentRequired"] = {(new if k == old else k): _ren(v, old, new) for k, v in s["dependentRequired"].items()}
    ui = t.get("ui") or {}
    for key in ("order", "list_columns"):
        if old in (ui.get(key) or []):
            ui[key] = _ren(ui[key], old, new)
    if ui.get("title_field") == old:
        ui["title_field"] = new
    for sec in ui.get("sections") or []:
        sec["fields"] = _ren(sec.get("fields") or [], old, new)
    for tr in ((t.get("workflow") or {}).get("transitions") or []):
        if isinstance(tr, dict) and old in (tr.get("requires") or []):
            tr["requires"] = _ren(tr["requires"], old, new)
    sched = t.get("schedule")
    if isinstance(sched, dict):
        for k, v in list(sched.items()):
            if v == old and k.endswith("_field"):
                sched[k] = new


def _rename_in_examples(t: dict, parents: list[str], old: str, new: str) -> None:
    def walk(node: Any, rest: list[str]) -> None:
        if isinstance(node, list):
            for row in node:
                walk(row, rest)
        elif isinstance(node, dict):
            if not rest:
                if old in node:
                    items = [(new if k == old else k, v) for k, v in node.items()]
                    node.clear()
                    node.update(items)
            elif rest[0] in node:
                walk(node[rest[0]], rest[1:])

    for ex in t.get("examples") or []:
        walk(ex, parents)


def move_field(t: dict, path: str, direction: str | int) -> dict:
    """Move a field one place up (-1, "up") or down (+1, "down") among its siblings, as the form shows them.

    With ui.sections (headings), moving past the first/last field of a heading moves it into the
    neighbouring heading."""
    t = _copy(t)
    get_field(t, path)
    step = -1 if direction in ("up", -1) else 1
    parent, name = parent_of(path), key_of(path)
    if parent:
        obj = _container(t, parent, create=True)
        names = list(obj["properties"])
        i = names.index(name)
        j = i + step
        if 0 <= j < len(names):
            names[i], names[j] = names[j], names[i]
            obj["properties"] = {n: obj["properties"][n] for n in names}
        return t
    ui = t.get("ui") or {}
    sections = ui.get("sections")
    if sections and any(name in (s.get("fields") or []) for s in sections):
        si = next(i for i, s in enumerate(sections) if name in s["fields"])
        fields = sections[si]["fields"]
        fi = fields.index(name)
        if 0 <= fi + step < len(fields):
            fields[fi], fields[fi + step] = fields[fi + step], fields[fi]
        elif 0 <= si + step < len(sections) and len(fields) > 1:
            fields.remove(name)
            if step < 0:
                sections[si - 1]["fields"].append(name)
            else:
                sections[si + 1]["fields"].insert(0, name)
        order = top_order(t)
    else:
        order = top_order(t)
        i = order.index(name)
        j = i + step
        if not 0 <= j < len(order):
            return t
        order[i], order[j] = order[j], order[i]
        if ui.get("order"):
            ui["order"] = order
    props = _schema(t)["properties"]
    _schema(t)["properties"] = {n: props[n] for n in order}
    return t


def set_label(t: dict, path: str, zh: str, en: str) -> dict:
    t = _copy(t)
    if not (zh or "").strip() and not (en or "").strip():
        raise BuilderError("a field needs a label", "label_zh")
    get_field(t, path)["label"] = i18n(zh, en)
    return t


def set_help(t: dict, path: str, zh: str, en: str) -> dict:
    t = _copy(t)
    field = get_field(t, path)
    if (zh or "").strip() or (en or "").strip():
        field["help"] = i18n(zh, en)
    else:
        field.pop("help", None)
    return t


def set_type(t: dict, path: str, type_: str) -> dict:
    """Change a field's type, keeping its label, help and (between choice types) its options."""
    t = _copy(t)
    field = get_field(t, path)
    old_type = field_type(field, hint_of(t, path))
    if type_ == old_type:
        return t
    if type_ not in TYPES:
        raise BuilderError(f"unknown type '{type_}'", "type")
    if parent_of(path) and type_ not in CHILD_TYPES:
        raise BuilderError(f"a {type_} cannot be inside a table or section", "type")
    options = [(v, lab.get("zh", ""), lab.get("en", "")) for v, lab in _options_of(field)] or None
    if old_type in ("text", "textarea") and type_ in ("text", "textarea"):
        new = dict(field)
        if type_ == "text" and (new.get("maxLength") or 0) > 200:
            del new["maxLength"]
    else:
        made = make_field(type_, key=key_of(path), options=options if type_ in ("choice", "multichoice") else None)
        new = {k: v for k, v in field.items() if k not in _TYPE_KEYS}
        new.update({k: v for k, v in made.items() if k != "label"})
    obj = _container(t, parent_of(path), create=True)
    obj["properties"][key_of(path)] = new
    widgets = _ui(t).setdefault("widgets", {})
    for k in [k for k in widgets if k == path or k.startswith(path + ".")]:
        del widgets[k]
    if type_ == "textarea":
        _make_textarea(t, path)
    _tidy_ui(t)
    if not parent_of(path):
        _fix_tests(t, key_of(path))
    _prune_examples(t)
    return t


def in_table(t: dict, path: str) -> bool:
    """Is this a column of a table? (ui.widgets cannot name those: see the report on hint paths.)"""
    parent = parent_of(path)
    return bool(parent) and type_of(t, parent) == "table"


def _make_textarea(t: dict, path: str) -> None:
    """Long text: the ui hint, or — for a table column, which ui.widgets cannot address — a maxLength over 200
    (the form generator shows such text as a textarea too)."""
    if in_table(t, path):
        field = get_field(t, path)
        if (field.get("maxLength") or 0) <= 200:
            field["maxLength"] = 2000
    else:
        _ui(t).setdefault("widgets", {})[path] = "textarea"


def _parse_value(field: dict, raw: Any) -> Any:
    """An option value typed like the field's enum (integers stay integers)."""
    base = field.get("type") if field.get("type") != "array" else (field.get("items") or {}).get("type")
    if isinstance(raw, str) and base in ("integer", "number"):
        try:
            value = int(raw) if base == "integer" or re.fullmatch(r"[+-]?\d+", raw) else float(raw)
            if value != value or value in (float("inf"), float("-inf")):
                raise ValueError(raw)
            return value
        except ValueError:
            raise BuilderError(f"option '{raw}' is not a number", "options")
    return raw


def set_options(t: dict, path: str, options: Iterable[tuple[Any, str, str]]) -> dict:
    """Replace the choices of a choice / multi-choice field: [(value, zh, en), …]."""
    t = _copy(t)
    field = get_field(t, path)
    if field_type(field) not in ("choice", "multichoice"):
        raise BuilderError("only choice fields have options", "options")
    old = {str(v): v for v, _ in _options_of(field)}
    enum, labels = [], {}
    for value, zh, en in options:
        if str(value) in old:
            value = old[str(value)]
        elif isinstance(value, str):
            value = _parse_value(field, value.strip())
            if value == "":
                continue
        if str(value) in labels:
            raise BuilderError(f"option '{value}' appears twice", "options")
        enum.append(value)
        labels[str(value)] = i18n(zh, en) if ((zh or "").strip() or (en or "").strip()) else {"zh": str(value), "en": str(value)}
    if not enum:
        raise BuilderError("a choice needs at least one option", "options")
    if field.get("type") == "array":
        field.setdefault("items", {"type": "string"})["enum"] = enum
        field["items"].pop("enumLabels", None)
    else:
        field["enum"] = enum
    field["enumLabels"] = labels
    if not parent_of(path):
        _fix_tests(t, key_of(path))
    _prune_examples(t)
    return t


def set_limits(t: dict, path: str, minimum: float | None = None, maximum: float | None = None,
               max_length: int | None = None) -> dict:
    """minimum/maximum for numbers, max_length for text; None removes the limit."""
    t = _copy(t)
    field = get_field(t, path)
    kind = field_type(field, hint_of(t, path))
    if kind in ("number", "integer"):
        if minimum is not None and maximum is not None and minimum > maximum:
            raise BuilderError("the minimum is larger than the maximum", "min")
        for key, value in (("minimum", minimum), ("maximum", maximum)):
            if value is None:
                field.pop(key, None)
            else:
                field[key] = value
    if kind in ("text", "textarea"):
        if max_length is None:
            field.pop("maxLength", None)
        else:
            field["maxLength"] = max_length
    _prune_examples(t)
    return t


def set_widget(t: dict, path: str, widget: str | None) -> dict:
    """A ui.widgets hint for the field (e.g. "radio" for a choice), or None for the default."""
    t = _copy(t)
    get_field(t, path)
    widgets = _ui(t).setdefault("widgets", {})
    if widget:
        widgets[path] = widget
    else:
        widgets.pop(path, None)
    _tidy_ui(t)
    return t


# --- required and conditions -------------------------------------------------------------------------


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


# --- template-level settings --------------------------------------------------------------------------


def set_meta(t: dict, *, key: str | None = None, title: tuple[str, str] | None = None,
             description: tuple[str, str] | None = None) -> dict:
    t = _copy(t)
    if key is not None:
        if not TEMPLATE_KEY_RE.match(key):
            raise BuilderError("the key uses lowercase letters, digits and - (2–63 characters, starting with a letter)", "key")
        t["key"] = key
    if title is not None:
        if not (title[0] or "").strip() and not (title[1] or "").strip():
            raise BuilderError("the template needs a title", "title_zh")
        t["title"] = i18n(*title)
    if description is not None:
        if (description[0] or "").strip() or (description[1] or "").strip():
            t["description"] = i18n(*description)
        else:
            t.pop("description", None)
    return t


def set_clauses(t: dict, refs: Iterable[tuple[str, str]]) -> dict:
    t = _copy(t)
    out = []
    for standard, clause in refs:
        clause = (clause or "").strip()
        if standard not in clause_catalogue.STANDARDS:
            raise BuilderError(f"unknown standard '{standard}'", "clauses")
        if not clause_catalogue.exists(standard, clause):
            raise BuilderError(f"{standard} has no clause {clause}", "clauses")
        if {"standard": standard, "clause": clause} not in out:
            out.append({"standard": standard, "clause": clause})
    t["clauses"] = out
    return t


def set_list_columns(t: dict, names: list[str]) -> dict:
    t = _copy(t)
    if len(names) > 6:
        raise BuilderError("at most 6 list columns", "list_columns")
    _ui(t)["list_columns"] = list(names)
    _tidy_ui(t)
    return t


def set_title_field(t: dict, name: str | None) -> dict:
    t = _copy(t)
    if name:
        _ui(t)["title_field"] = name
    else:
        _ui(t).pop("title_field", None)
    _tidy_ui(t)
    return t


def set_headings(t: dict, headings: list[tuple[str, str]]) -> dict:
    """Rename, add and remove headings (ui.sections); `headings` lists (zh, en) of the kept ones in order,
    with None for a removed one: its fields join the heading before (or after) it. The first heading
    takes every field."""
    t = _copy(t)
    ui = _ui(t)
    old = ui.get("sections") or []
    new: list[dict] = []
    orphans: list[str] = []
    for i, h in enumerate(headings):
        if i < len(old):
            if h is None:
                if new:
                    new[-1]["fields"] += old[i]["fields"]
                else:
                    orphans += old[i]["fields"]
                continue
            sec = old[i]
            sec["title"] = i18n(*h)
            sec["fields"] = orphans + sec["fields"]
            orphans = []
            new.append(sec)
        elif h is not None:
            new.append({"title": i18n(*h), "fields": [] if (old or new) else top_order(t)})
    if orphans:
        if new:
            new[0]["fields"] = orphans + new[0]["fields"]
    if new:
        ui["sections"] = new
    else:
        ui.pop("sections", None)
    _tidy_ui(t)
    return t


def set_field_heading(t: dict, name: str, index: int) -> dict:
    t = _copy(t)
    sections = (t.get("ui") or {}).get("sections") or []
    if not 0 <= index < len(sections):
        raise BuilderError("unknown heading", "heading")
    for s in sections:
        if name in s["fields"]:
            s["fields"].remove(name)
    sections[index]["fields"].append(name)
    return t


def set_schedule(t: dict, schedule: dict | None) -> dict:
    t = _copy(t)
    if schedule:
        t["schedule"] = schedule
    else:
        t.pop("schedule", None)
    return t


# --- workflow -----------------------------------------------------------------------------------------


def _wf(t: dict) -> dict:
    wf = t.setdefault("workflow", {"initial": "", "states": {}, "transitions": []})
    wf.setdefault("states", {})
    wf.setdefault("transitions", [])
    return wf


def add_state(t: dict, name: str, zh: str, en: str, final: bool = False) -> dict:
    t = _copy(t)
    wf = _wf(t)
    if not STATE_RE.match(name or ""):
        raise BuilderError(f"'{name}' is not a valid state name (lowercase letters, digits, _)", "state")
    if name in wf["states"]:
        raise BuilderError(f"state '{name}' already exists", "state")
    wf["states"][name] = {"label": i18n(zh or name, en or name)}
    if final:
        wf["states"][name]["final"] = True
    if not wf.get("initial"):
        wf["initial"] = name
    return t


def rename_state(t: dict, old: str, new: str) -> dict:
    t = _copy(t)
    wf = _wf(t)
    if old not in wf["states"]:
        raise BuilderError(f"unknown state '{old}'", "state")
    if new == old:
        return t
    if not STATE_RE.match(new or ""):
        raise BuilderError(f"'{new}' is not a valid state name (lowercase letters, digits, _)", "state")
    if new in wf["states"]:
        raise BuilderError(f"state '{new}' already exists", "state")
    wf["states"] = {(new if k == old else k): v for k, v in wf["states"].items()}
    if wf.get("initial") == old:
        wf["initial"] = new
    for tr in wf["transitions"]:
        tr["from"] = _ren(tr.get("from") or [], old, new)
        if tr.get("to") == old:
            tr["to"] = new
    return t


def remove_state(t: dict, name: str) -> dict:
    """Remove a state and the transitions into it; transitions from it lose that source."""
    t = _copy(t)
    wf = _wf(t)
    if name not in wf["states"]:
        raise BuilderError(f"unknown state '{name}'", "state")
    if len(wf["states"]) == 1:
        raise BuilderError("a workflow needs at least one state", "state")
    del wf["states"][name]
    kept = []
    for tr in wf["transitions"]:
        if tr.get("to") == name:
            continue
        tr["from"] = [s for s in tr.get("from") or [] if s != name]
        if tr["from"]:
            kept.append(tr)
    wf["transitions"] = kept
    if wf.get("initial") == name:
        wf["initial"] = next(iter(wf["states"]))
    return t


def add_transition(t: dict, name: str, from_: list[str], to: str, zh: str, en: str, roles: list[str], *,
                   comment: str | None = None, requires: list[str] | None = None,
                   signature: tuple[str, str] | None = None) -> dict:
    t = _copy(t)
    wf = _wf(t)
    tr = _transition(wf, name, from_, to, zh, en, roles, comment, requires, signature,
                     taken={x.get("name") for x in wf["transitions"]})
    wf["transitions"].append(tr)
    return t


def _transition(wf: dict, name, from_, to, zh, en, roles, comment, requires, signature, taken) -> dict:
    if not STATE_RE.match(name or ""):
        raise BuilderError(f"'{name}' is not a valid step name (lowercase letters, digits, _)", "transition")
    if name in taken:
        raise BuilderError(f"step '{name}' already exists", "transition")
    if not from_:
        raise BuilderError(f"step '{name}': choose the state(s) it starts from", "transition")
    for s in list(from_) + [to]:
        if s not in wf["states"]:
            raise BuilderError(f"step '{name}': unknown state '{s}'", "transition")
    if not roles or set(roles) - set(ROLES):
        raise BuilderError(f"step '{name}': choose who may take it", "transition")
    tr: dict = {"name": name, "from": list(from_), "to": to, "label": i18n(zh or name, en or name), "roles": list(roles)}
    if requires:
        tr["requires"] = list(requires)
    if comment:
        if comment not in COMMENT_MODES:
            raise BuilderError(f"unknown comment mode '{comment}'", "transition")
        tr["comment"] = comment
    if signature and ((signature[0] or "").strip() or (signature[1] or "").strip()):
        tr["signature"] = {"meaning": i18n(*signature)}
    return tr


def remove_transition(t: dict, name: str) -> dict:
    t = _copy(t)
    wf = _wf(t)
    if not any(tr.get("name") == name for tr in wf["transitions"]):
        raise BuilderError(f"unknown step '{name}'", "transition")
    wf["transitions"] = [tr for tr in wf["transitions"] if tr.get("name") != name]
    return t


def set_workflow(t: dict, initial: str | None = None, states: dict | None = None,
                 transitions: list | None = None) -> dict:
    """Replace parts of the workflow wholesale (states: {name: {label, final?}}, transitions: [...])."""
    t = _copy(t)
    wf = _wf(t)
    if states is not None:
        wf["states"] = copy.deepcopy(states)
    if transitions is not None:
        wf["transitions"] = copy.deepcopy(transitions)
    if initial is not None:
        if initial not in wf["states"]:
            raise BuilderError(f"unknown state '{initial}'", "initial")
        wf["initial"] = initial
    return t


# --- the builder form: view-model, posted values, and applying them -----------------------------------


def _s(v: Any) -> str:
    """A value as the form shows it."""
    if v is None:
        return ""
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def code(field: str, values: list) -> str:
    """The <select> value naming a condition."""
    return json.dumps([field, values], ensure_ascii=False, separators=(",", ":"))


def dom(path: str) -> str:
    return "b-" + re.sub(r"[^A-Za-z0-9_-]", "-", path.replace(".", "--"))


def _txt(i: Any, side: str) -> str:
    v = i.get(side, "") if isinstance(i, dict) else ""
    return v if isinstance(v, str) else ""


def _label(i: Any, lang: str, default: str = "") -> str:
    if not isinstance(i, dict):
        return default
    return i.get(lang) or i.get("en") or i.get("zh") or default


def describe(t: dict, lang: str = "zh") -> dict:
    """The builder page's view-model of a template (plain dicts and lists, strings as the form shows them)."""
    s = t.get("schema") if isinstance(t.get("schema"), dict) else {}
    ui = t.get("ui") if isinstance(t.get("ui"), dict) else {}
    sections = [sec for sec in ui.get("sections") or [] if isinstance(sec, dict)]
    top = [n for n in top_order(t) if isinstance((s.get("properties") or {}).get(n), dict)] if s else []

    def heading_of(name: str) -> str:
        for i, sec in enumerate(sections):
            if name in (sec.get("fields") or []):
                return str(i)
        return ""

    def vm(path: str, field: dict, depth: int, in_table_: bool = False) -> dict:
        kind = field_type(field, (ui.get("widgets") or {}).get(path))
        name = key_of(path)
        out = {"path": path, "key": name, "dom": dom(path), "type": kind, "depth": depth,
               "label_zh": _txt(field.get("label"), "zh"), "label_en": _txt(field.get("label"), "en"),
               "help_zh": _txt(field.get("help"), "zh"), "help_en": _txt(field.get("help"), "en"),
               "title": _label(field.get("label"), lang, name), "required": False, "options": [],
               "min": _s(field.get("minimum")), "max": _s(field.get("maximum")), "maxlen": _s(field.get("maxLength")),
               "radio": (ui.get("widgets") or {}).get(path) == "radio", "cond": "", "cond_text": "",
               "heading": heading_of(name) if depth == 0 else "", "children": [], "in_table": in_table_}
        try:
            out["required"] = is_required(t, path)
        except BuilderError:
            pass
        if kind in ("choice", "multichoice"):
            out["options"] = [(_s(v), _txt(lab, "zh"), _txt(lab, "en")) for v, lab in _options_of(field)]
        if depth == 0:
            cond = condition_of(t, name)
            if cond == "complex":
                out["cond"], out["cond_text"] = "complex", "complex"
            elif cond:
                out["cond"] = code(*cond)
                out["cond_text"] = _cond_text(t, cond[0], cond[1], lang)
        if kind in CONTAINERS:
            obj = _object_of(field) or {}
            out["children"] = [vm(f"{path}.{n}", f, depth + 1, kind == "table")
                               for n, f in (obj.get("properties") or {}).items() if isinstance(f, dict)]
        return out

    fields = [vm(n, s["properties"][n], 0) for n in top]
    choices = []
    for n in top:
        f = s["properties"][n]
        kind = field_type(f)
        if kind == "choice":
            for v, lab in _options_of(f):
                choices.append((n, code(n, [v]), f"{_label(f.get('label'), lang, n)} = {_label(lab, lang, _s(v))}"))
        elif kind == "yesno":
            for v in (True, False):
                yes = ("是" if v else "否") if lang == "zh" else ("yes" if v else "no")
                choices.append((n, code(n, [v]), f"{_label(f.get('label'), lang, n)} = {yes}"))
    for f in fields:  # a current condition the list does not offer (several values, a text field…)
        if f["cond"] and f["cond"] != "complex" and f["cond"] not in {c for _, c, _ in choices}:
            choices.append((json.loads(f["cond"])[0], f["cond"], f["cond_text"]))

    wf = t.get("workflow") if isinstance(t.get("workflow"), dict) else {}
    states = wf.get("states") if isinstance(wf.get("states"), dict) else {}
    sched = t.get("schedule") if isinstance(t.get("schedule"), dict) else {}
    extras = [k for k in ("dependentRequired", "oneOf", "if") if k in s]
    if any(f["cond"] == "complex" for f in fields):
        extras.append("complex conditions")
    if any(f["type"] in ADVANCED for f in _walk(fields)):
        extras.append("advanced fields")
    return {
        "key": _s(t.get("key")), "version": _s(t.get("version")),
        "title_zh": _txt(t.get("title"), "zh"), "title_en": _txt(t.get("title"), "en"),
        "desc_zh": _txt(t.get("description"), "zh"), "desc_en": _txt(t.get("description"), "en"),
        "clauses": [(_s(c.get("standard")), _s(c.get("clause"))) for c in t.get("clauses") or [] if isinstance(c, dict)],
        "new_standard": (_s((t.get("clauses") or [{}])[-1].get("standard")) if t.get("clauses") and
                         isinstance(t["clauses"][-1], dict) else "") or clause_catalogue.STANDARDS[0],
        "fields": fields, "top": top,
        "headings": [(_txt(sec.get("title"), "zh"), _txt(sec.get("title"), "en")) for sec in sections],
        "title_field": _s(ui.get("title_field")), "list_columns": list(ui.get("list_columns") or []),
        "cond_choices": choices,
        "workflow": {
            "initial": _s(wf.get("initial")),
            "states": [{"name": n, "zh": _txt(st.get("label"), "zh"), "en": _txt(st.get("label"), "en"),
                        "final": bool(st.get("final")), "title": _label(st.get("label"), lang, n)}
                       for n, st in states.items() if isinstance(st, dict)],
            "transitions": [{"name": _s(tr.get("name")), "zh": _txt(tr.get("label"), "zh"), "en": _txt(tr.get("label"), "en"),
                             "from": [_s(x) for x in tr.get("from") or []], "to": _s(tr.get("to")),
                             "roles": [_s(x) for x in tr.get("roles") or []], "comment": _s(tr.get("comment")),
                             "requires": [_s(x) for x in tr.get("requires") or []],
                             "sig_zh": _txt((tr.get("signature") or {}).get("meaning"), "zh"),
                             "sig_en": _txt((tr.get("signature") or {}).get("meaning"), "en"),
                             "title": _label(tr.get("label"), lang, _s(tr.get("name")))}
                            for tr in wf.get("transitions") or [] if isinstance(tr, dict)],
        },
        "schedule": {"kind": "periodic" if "every_months" in sched else "due" if "due_field" in sched else "",
                     "every_months": _s(sched.get("every_months")), "date_field": _s(sched.get("date_field")),
                     "due_field": _s(sched.get("due_field")), "subject_field": _s(sched.get("subject_field")),
                     "warn_days": _s(sched.get("warn_days"))},
        "extras": extras,
    }


def _walk(fields: list[dict]) -> Iterable[dict]:
    for f in fields:
        yield f
        yield from _walk(f["children"])


def _cond_text(t: dict, field: str, values: list, lang: str) -> str:
    f = ((t.get("schema") or {}).get("properties") or {}).get(field) or {}
    labels = dict((str(v), lab) for v, lab in _options_of(f))
    shown = []
    for v in values:
        if isinstance(v, bool):
            shown.append(("是" if v else "否") if lang == "zh" else ("yes" if v else "no"))
        else:
            shown.append(_label(labels.get(str(v)), lang, _s(v)))
    return f"{_label(f.get('label'), lang, field)} = {' / '.join(shown)}"


def field_inputs(f: dict) -> list[tuple[str, str]]:
    """The (name, value) pairs the builder page posts for one field (children are separate)."""
    p = f["path"]
    out = [(f"{p}:_", "1"), (f"{p}:key", f["key"]), (f"{p}:type", f["type"]),
           (f"{p}:label_zh", f["label_zh"]), (f"{p}:label_en", f["label_en"]),
           (f"{p}:help_zh", f["help_zh"]), (f"{p}:help_en", f["help_en"])]
    if f["required"]:
        out.append((f"{p}:required", "1"))
    if f["type"] in ("number", "integer"):
        out += [(f"{p}:min", f["min"]), (f"{p}:max", f["max"])]
    if f["type"] in ("text", "textarea"):
        out.append((f"{p}:maxlen", f["maxlen"]))
    if f["type"] in ("choice", "multichoice"):
        for value, zh, en in f["options"] + [("", "", "")]:
            out += [(f"{p}:opt_value", value), (f"{p}:opt_zh", zh), (f"{p}:opt_en", en)]
    if f["type"] == "choice" and f["radio"] and not f["in_table"]:
        out.append((f"{p}:radio", "1"))
    if f["depth"] == 0:
        out.append((f"{p}:cond", f["cond"]))
    return out


def to_form(t: dict, parts: Iterable[str] = ("fields", "settings", "workflow")) -> MultiDict:
    """What the builder page posts when nothing was changed."""
    d = describe(t)
    out: list[tuple[str, str]] = []
    parts = list(parts)
    if "fields" in parts:
        out.append(("_part", "fields"))
        for f in _walk(d["fields"]):
            out += field_inputs(f)
            if f["depth"] == 0 and d["headings"]:
                out.append((f"{f['path']}:heading", f["heading"]))
    if "settings" in parts:
        out.append(("_part", "settings"))
        out += [("t:key", d["key"]), ("t:title_zh", d["title_zh"]), ("t:title_en", d["title_en"]),
                ("t:desc_zh", d["desc_zh"]), ("t:desc_en", d["desc_en"])]
        for standard, clause in d["clauses"] + [(d["new_standard"], "")]:
            out += [("c:standard", standard), ("c:clause", clause)]
        for zh, en in d["headings"] + [("", "")]:
            out += [("h:zh", zh), ("h:en", en)]
        out.append(("t:title_field", d["title_field"]))
        out += [("t:list_columns", n) for n in d["list_columns"]]
        sch = d["schedule"]
        out += [("sch:kind", sch["kind"])] + [(f"sch:{k}", sch[k]) for k in
                                              ("every_months", "date_field", "due_field", "subject_field", "warn_days")]
    if "workflow" in parts:
        wf = d["workflow"]
        out += [("_part", "workflow"), ("w:initial", wf["initial"])]
        for st in wf["states"] + [{"name": "", "zh": "", "en": "", "final": False}]:
            out += [("s:orig", st["name"]), ("s:name", st["name"]), ("s:zh", st["zh"]), ("s:en", st["en"])]
        out += [("s:final", st["name"]) for st in wf["states"] if st["final"]]
        rows = wf["transitions"] + [{"name": "", "zh": "", "en": "", "from": [], "to": "", "roles": [],
                                     "comment": "", "requires": [], "sig_zh": "", "sig_en": ""}]
        out.append(("x:count", str(len(rows))))
        for i, tr in enumerate(rows):
            out += [(f"x{i}:orig", tr["name"]), (f"x{i}:name", tr["name"]), (f"x{i}:zh", tr["zh"]),
                    (f"x{i}:en", tr["en"]), (f"x{i}:to", tr["to"]), (f"x{i}:comment", tr["comment"]),
                    (f"x{i}:sig_zh", tr["sig_zh"]), (f"x{i}:sig_en", tr["sig_en"])]
            out += [(f"x{i}:from", s) for s in tr["from"]] + [(f"x{i}:roles", r) for r in tr["roles"]]
            out += [(f"x{i}:requires", r) for r in tr["requires"]]
    return MultiDict(out)


class FormErrors(dict):
    """input name -> message"""


def _number(raw: str, name: str, errors: dict, integer: bool = False) -> Any:
    raw = (raw or "").strip()
    if raw == "":
        return None
    try:
        if integer or re.fullmatch(r"[+-]?\d+", raw):
            return int(raw)
        value = float(raw)
        if value != value or value in (float("inf"), float("-inf")):  # NaN / Infinity would disable the bound
            raise ValueError(raw)
        return value
    except ValueError:
        errors[name] = "enter a number" if not integer else "enter a whole number"
        return ValueError


def apply_form(t: dict, form: MultiDict) -> tuple[dict, dict[str, str], dict[str, str]]:
    """Apply posted builder values. Returns (template, errors {input name: message}, renamed {old: new path}).

    Only values that differ from `to_form(t)` change the template; an input that could not be applied is
    reported and left as it was (the rest still applies)."""
    errors: dict[str, str] = {}
    renamed: dict[str, str] = {}
    parts = set(form.getlist("_part"))
    if "fields" in parts:
        t = _apply_fields(t, form, errors, renamed)
    if "settings" in parts:
        t = _apply_settings(t, form, errors)
    if "workflow" in parts:
        t = _apply_workflow(t, form, errors)
    return t, errors, renamed


def _try(errors: dict, name: str, fn, *args, **kw):
    try:
        return fn(*args, **kw)
    except BuilderError as e:
        errors[name] = str(e)
        return None


def _apply_fields(t: dict, form: MultiDict, errors: dict, renamed: dict) -> dict:
    d = describe(t)
    posted = [f for f in _walk(d["fields"]) if f"{f['path']}:_" in form]
    for f in posted:
        p = f["path"]
        got = lambda attr, default="": form.get(f"{p}:{attr}", default)  # noqa: E731
        if (got("label_zh", f["label_zh"]), got("label_en", f["label_en"])) != (f["label_zh"], f["label_en"]):
            t = _try(errors, f"{p}:label_zh", set_label, t, p, got("label_zh"), got("label_en")) or t
        if (got("help_zh", f["help_zh"]), got("help_en", f["help_en"])) != (f["help_zh"], f["help_en"]):
            t = set_help(t, p, got("help_zh"), got("help_en"))
        new_type = got("type", f["type"])
        retyped = False
        if new_type != f["type"]:
            t = _try(errors, f"{p}:type", set_type, t, p, new_type) or t
            retyped = f"{p}:type" not in errors  # then the type's own inputs described the old type
        if (f"{p}:required" in form) != f["required"]:
            t = set_required(t, p, f"{p}:required" in form)
        if not retyped:
            t = _apply_type_inputs(t, f, form, errors)
        if f["depth"] == 0 and f"{p}:cond" in form and got("cond") not in (f["cond"], "complex"):
            raw = got("cond")
            if raw == "":
                t = set_condition(t, p, None)
            else:
                try:
                    field, values = json.loads(raw)
                    assert isinstance(field, str) and isinstance(values, list)
                except (ValueError, AssertionError, TypeError):
                    errors[f"{p}:cond"] = "unknown condition"
                else:
                    t = _try(errors, f"{p}:cond", set_condition, t, p, field, values) or t
        if f["depth"] == 0 and got("heading", f["heading"]) != f["heading"] and got("heading").isdigit():
            t = _try(errors, f"{p}:heading", set_field_heading, t, p, int(got("heading"))) or t
    # renames last, deepest first, so the paths above stay valid
    for f in sorted(posted, key=lambda f: -f["depth"]):
        new = form.get(f"{f['path']}:key", f["key"]).strip()
        if new != f["key"]:
            result = _try(errors, f"{f['path']}:key", rename_field, t, f["path"], new)
            if result is not None:
                t = result
                parent = parent_of(f["path"])
                renamed[f["path"]] = f"{parent}.{new}" if parent else new
    return t


def _apply_type_inputs(t: dict, f: dict, form: MultiDict, errors: dict) -> dict:
    """min/max, max length, options, radio: the inputs that belong to the field's type."""
    p = f["path"]
    got = lambda attr, default="": form.get(f"{p}:{attr}", default)  # noqa: E731
    if f["type"] in ("number", "integer") and (f"{p}:min" in form or f"{p}:max" in form):
        lo, hi = got("min", f["min"]).strip(), got("max", f["max"]).strip()
        if (lo, hi) != (f["min"], f["max"]):
            a = _number(lo, f"{p}:min", errors, f["type"] == "integer")
            b = _number(hi, f"{p}:max", errors, f["type"] == "integer")
            if a is not ValueError and b is not ValueError:
                field = get_field(t, p)
                a = field.get("minimum") if lo == f["min"] else a
                b = field.get("maximum") if hi == f["max"] else b
                t = _try(errors, f"{p}:min", set_limits, t, p, minimum=a, maximum=b) or t
    if f["type"] in ("text", "textarea") and f"{p}:maxlen" in form and got("maxlen").strip() != f["maxlen"]:
        n = _number(got("maxlen"), f"{p}:maxlen", errors, True)
        if n is not ValueError:
            if n is not None and n < 1:
                errors[f"{p}:maxlen"] = "enter a whole number of at least 1"
            else:
                t = set_limits(t, p, max_length=n)
    if f["type"] in ("choice", "multichoice") and f"{p}:opt_value" in form:
        rows = list(zip(form.getlist(f"{p}:opt_value"), form.getlist(f"{p}:opt_zh"), form.getlist(f"{p}:opt_en")))
        rows = [(v.strip(), zh.strip(), en.strip()) for v, zh, en in rows]
        if [r for r in rows if r != ("", "", "")] != f["options"]:
            if any(not v and (zh or en) for v, zh, en in rows):
                errors[f"{p}:opt_value"] = "every option needs a value"
            else:
                t = _try(errors, f"{p}:opt_value", set_options, t, p, [r for r in rows if r[0]]) or t
    if f["type"] == "choice" and not f["in_table"] and (f"{p}:radio" in form) != f["radio"]:
        t = set_widget(t, p, "radio" if f"{p}:radio" in form else None)
    return t


def _apply_settings(t: dict, form: MultiDict, errors: dict) -> dict:
    d = describe(t)
    key = form.get("t:key", d["key"]).strip()
    if key != d["key"]:
        t = _try(errors, "t:key", set_meta, t, key=key) or t
    title = (form.get("t:title_zh", d["title_zh"]), form.get("t:title_en", d["title_en"]))
    if title != (d["title_zh"], d["title_en"]):
        t = _try(errors, "t:title_zh", set_meta, t, title=title) or t
    desc = (form.get("t:desc_zh", d["desc_zh"]), form.get("t:desc_en", d["desc_en"]))
    if desc != (d["desc_zh"], d["desc_en"]):
        t = set_meta(t, description=desc)
    if "c:clause" in form:
        refs = [(s, c.strip()) for s, c in zip(form.getlist("c:standard"), form.getlist("c:clause")) if c.strip()]
        if refs != d["clauses"]:
            t = _try(errors, "c:clause", set_clauses, t, refs) or t
    if "h:zh" in form:
        rows = list(zip(form.getlist("h:zh"), form.getlist("h:en")))
        rows = [(zh.strip(), en.strip()) for zh, en in rows]
        if [r for r in rows if r != ("", "")] != d["headings"] or len(rows) < len(d["headings"]):
            t = set_headings(t, [None if r == ("", "") else r for r in rows])
    if "t:title_field" in form and form.get("t:title_field") != d["title_field"]:
        t = set_title_field(t, form.get("t:title_field") or None)
    if "t:title_zh" in form:  # the settings part was posted: absent checkboxes mean "none"
        cols = form.getlist("t:list_columns")
        if set(cols) != set(d["list_columns"]):
            keep = [c for c in d["list_columns"] if c in cols] + [c for c in cols if c not in d["list_columns"]]
            t = _try(errors, "t:list_columns", set_list_columns, t, keep) or t
    if "sch:kind" in form:
        sch = d["schedule"]
        posted = {k: form.get(f"sch:{k}", sch[k]).strip() for k in sch}
        if posted != sch:
            t = _apply_schedule(t, posted, sch, errors)
    return t


def _apply_schedule(t: dict, posted: dict, before: dict, errors: dict) -> dict:
    kind = posted["kind"]
    if kind == "":
        return set_schedule(t, None)
    old = t.get("schedule") if isinstance(t.get("schedule"), dict) else {}
    if kind == "periodic":
        months = _number(posted["every_months"], "sch:every_months", errors, True)
        if months is ValueError:
            return t
        if not months or not 1 <= months <= 120:
            errors["sch:every_months"] = "enter a number of months between 1 and 120"
            return t
        if not posted["date_field"]:
            errors["sch:date_field"] = "choose the date field the period counts from"
            return t
        new = {"every_months": months, "date_field": posted["date_field"]}
        if before["kind"] == "periodic" and posted["every_months"] == before["every_months"]:
            new["every_months"] = old.get("every_months", months)
        return set_schedule(t, new)
    if kind == "due":
        if not posted["due_field"]:
            errors["sch:due_field"] = "choose the field holding the due date"
            return t
        new = {"due_field": posted["due_field"]}
        if posted["subject_field"]:
            new["subject_field"] = posted["subject_field"]
        if posted["warn_days"]:
            days = _number(posted["warn_days"], "sch:warn_days", errors, True)
            if days is ValueError:
                return t
            new["warn_days"] = days
        return set_schedule(t, new)
    errors["sch:kind"] = "unknown schedule"
    return t


def _apply_workflow(t: dict, form: MultiDict, errors: dict) -> dict:
    original = t
    wf = t.get("workflow")
    if wf is not None and not (isinstance(wf, dict) and isinstance(wf.get("states", {}), dict)
                               and isinstance(wf.get("transitions", []), list)):
        errors["w:initial"] = "the workflow is not well-formed: fix it in the JSON tab"
        return t
    t = _apply_workflow_rows(t, form, errors)
    if "workflow" not in original and t.get("workflow") == {"initial": "", "states": {}, "transitions": []}:
        del t["workflow"]
    return t


def _apply_workflow_rows(t: dict, form: MultiDict, errors: dict) -> dict:
    d = describe(t)["workflow"]
    t = _copy(t)
    _wf(t)  # make sure the workflow structure exists before rows are applied
    before = {st["name"]: st for st in d["states"]}
    finals = set(form.getlist("s:final"))
    rows = list(zip(form.getlist("s:orig"), form.getlist("s:name"), form.getlist("s:zh"), form.getlist("s:en")))
    renames = []
    for orig, name, zh, en in rows:
        name, zh, en = name.strip(), zh.strip(), en.strip()
        if orig and orig in before:
            st = before[orig]
            if not name:
                t = _try(errors, "s:name", remove_state, t, orig) or t
                continue
            final = orig in finals
            if (zh, en, final) != (st["zh"], st["en"], st["final"]):
                state = _wf(t)["states"][orig]
                if (zh, en) != (st["zh"], st["en"]):
                    state["label"] = i18n(zh or orig, en or orig)
                if final != st["final"]:
                    if final:
                        state["final"] = True
                    else:
                        state.pop("final", None)
            if name != orig:
                renames.append((orig, name))
        elif name:
            t = _try(errors, "s:name", add_state, t, name, zh, en, "" in finals or name in finals) or t
    for orig, name in renames:
        t = _try(errors, "s:name", rename_state, t, orig, name) or t
    initial = form.get("w:initial", d["initial"])
    initial = dict(renames).get(initial, initial)
    if initial != _wf(t).get("initial") and initial != d["initial"]:
        t = _try(errors, "w:initial", set_workflow, t, initial=initial) or t
    t = _apply_transitions(t, form, d, dict(renames), errors)
    return t


def _apply_transitions(t: dict, form: MultiDict, d: dict, renames: dict, errors: dict) -> dict:
    count = int(form.get("x:count", "0") or 0) if (form.get("x:count") or "0").isdigit() else 0
    before = {tr["name"]: tr for tr in d["transitions"]}
    wf = _wf(t)
    current = {tr.get("name"): tr for tr in wf["transitions"]}
    new_list: list[dict] = []
    seen_orig = set()
    for i in range(count):
        g = lambda a, default="": form.get(f"x{i}:{a}", default).strip()  # noqa: E731
        orig = form.get(f"x{i}:orig", "")
        row = {"name": g("name"), "zh": g("zh"), "en": g("en"), "to": renames.get(g("to"), g("to")),
               "comment": g("comment"), "sig_zh": g("sig_zh"), "sig_en": g("sig_en"),
               "from": [renames.get(s, s) for s in form.getlist(f"x{i}:from")],
               "roles": form.getlist(f"x{i}:roles"), "requires": form.getlist(f"x{i}:requires")}
        if orig in before:
            if orig not in current:
                continue  # removed together with a state
            seen_orig.add(orig)
            b = before[orig]
            tr = current[orig]
            if not row["name"]:
                continue  # cleared: the step is removed
            b_from = [renames.get(s, s) for s in b["from"]]
            b_to = renames.get(b["to"], b["to"])
            same = (row["name"] == b["name"] and (row["zh"], row["en"]) == (b["zh"], b["en"])
                    and set(row["from"]) == set(b_from) and row["to"] == b_to and set(row["roles"]) == set(b["roles"])
                    and row["comment"] == b["comment"] and set(row["requires"]) == set(b["requires"])
                    and (row["sig_zh"], row["sig_en"]) == (b["sig_zh"], b["sig_en"]))
            if same:
                new_list.append(tr)
                continue
            try:
                made = _transition(wf, row["name"], row["from"], row["to"], row["zh"], row["en"], row["roles"],
                                   row["comment"] or None, row["requires"], (row["sig_zh"], row["sig_en"]),
                                   taken={x["name"] for x in new_list})
            except BuilderError as e:
                errors[f"x{i}:name"] = str(e)
                new_list.append(tr)
                continue
            # keep what the builder does not show, and the original order of unchanged lists
            merged = {k: v for k, v in tr.items() if k not in ("name", "from", "to", "label", "roles", "requires",
                                                                  "comment", "signature")}
            merged.update(made)
            if set(row["from"]) == set(b_from):
                merged["from"] = tr["from"]
            if set(row["roles"]) == set(b["roles"]):
                merged["roles"] = tr["roles"]
            if set(row["requires"]) == set(b["requires"]) and "requires" in tr:
                merged["requires"] = tr["requires"]
            if (row["zh"], row["en"]) == (b["zh"], b["en"]):
                merged["label"] = tr["label"]
            if row["comment"] == b["comment"] and "comment" in tr:
                merged["comment"] = tr["comment"]
            new_list.append({k: merged[k] for k in list(tr) + list(merged) if k in merged})
        elif row["name"]:
            try:
                new_list.append(_transition(wf, row["name"], row["from"], row["to"], row["zh"], row["en"],
                                            row["roles"], row["comment"] or None, row["requires"],
                                            (row["sig_zh"], row["sig_en"]), taken={x["name"] for x in new_list}))
            except BuilderError as e:
                errors[f"x{i}:name"] = str(e)
    if count:
        # steps that were not on the page (another tab added them meanwhile) are kept
        new_list += [tr for name, tr in current.items() if name not in seen_orig and name not in before]
        if new_list != wf["transitions"]:
            t = _copy(t)
            _wf(t)["transitions"] = new_list
    return t


# --- actions (the buttons of the builder page) ---------------------------------------------------------


def apply_action(t: dict, action: str, form: MultiDict, renamed: dict[str, str] | None = None) -> tuple[dict, str]:
    """Apply one button: "up:<path>", "down:<path>", "remove:<path>", "add:<parent>" (reads new:<parent>:*).

    Returns (template, path to focus). Raises BuilderError."""
    verb, _, path = action.partition(":")
    path = (renamed or {}).get(path, path)
    if verb in ("up", "down"):
        return move_field(t, path, verb), path
    if verb == "remove":
        return remove_field(t, path), parent_of(path)
    if verb == "add":
        g = lambda a: (form.get(f"new:{path}:{a}") or "").strip()  # noqa: E731
        type_ = g("type") or "text"
        key = g("key") or suggest_key(t, path, g("label_en"))
        t = add_field(t, key, type_, g("label_zh"), g("label_en"), path, required=bool(g("required")))
        return t, f"{path}.{key}" if path else key
    return t, ""


def suggest_key(t: dict, parent: str, label_en: str) -> str:
    """A key from the English label ("Action taken" -> "action_taken"), or field_N."""
    slug = re.sub(r"[^a-z0-9]+", "_", (label_en or "").lower()).strip("_")[:40]
    if slug and slug[0].isalpha():
        siblings = _container(t, parent).get("properties") or {}
        key, n = slug, 2
        while key in siblings:
            key, n = f"{slug}_{n}", n + 1
        return key
    return free_key(t, parent)


# --- mapping validation errors to builder fields ---------------------------------------------------------

_TOKEN = re.compile(r'\.([^.\[\]]+)|\[(\d+)\]|\[("(?:[^"\\]|\\.)*")\]')


def parse_path(jpath: str) -> list:
    out: list = []
    for m in _TOKEN.finditer(jpath[1:] if jpath.startswith("$") else jpath):
        if m.group(1) is not None:
            out.append(m.group(1))
        elif m.group(2) is not None:
            out.append(int(m.group(2)))
        else:
            out.append(json.loads(m.group(3)))
    return out


def error_field(t: dict, jpath: str) -> str | None:
    """The builder field path a template error is about ($.schema.properties.items.items.properties.x -> items.x)."""
    parts = parse_path(jpath)
    field: list[str] = []
    if parts[:1] == ["schema"]:
        rest = parts[1:]
        while len(rest) >= 2 and rest[0] == "properties" and isinstance(rest[1], str):
            field.append(rest[1])
            rest = rest[2:]
            if rest[:1] == ["items"]:
                rest = rest[1:]
        if not field and len(rest) == 2 and rest[0] == "required" and isinstance(rest[1], int):
            try:
                field = [t["schema"]["required"][rest[1]]]
            except (KeyError, IndexError, TypeError):
                pass
        if not field and len(rest) >= 3 and rest[0] == "allOf" and rest[2] in ("then", "else"):
            try:
                block = t["schema"]["allOf"][rest[1]]
                if len(rest) >= 5 and rest[3] == "required":
                    field = [block[rest[2]]["required"][rest[4]]]
            except (KeyError, IndexError, TypeError):
                pass
        if not field and len(rest) >= 4 and rest[0] == "allOf" and rest[2] == "if" and rest[3] == "properties":
            field = [rest[4]] if len(rest) > 4 and isinstance(rest[4], str) else []
    elif parts[:1] == ["ui"] and len(parts) >= 3 and parts[1] == "widgets" and isinstance(parts[2], str):
        field = split(parts[2])
    elif parts[:1] == ["examples"] and len(parts) >= 3 and isinstance(parts[2], str):
        field = [parts[2]]
    path = ".".join(field)
    return path if path and has_field(t, path) else None


def error_tab(jpath: str) -> str:
    parts = parse_path(jpath)
    head = parts[0] if parts else ""
    if head in ("workflow",):
        return "workflow"
    if head in ("key", "title", "description", "clauses", "schedule") or (head == "ui" and len(parts) > 1 and parts[1] != "widgets"):
        return "settings"
    if head in ("schema", "ui", "examples"):
        return "fields"
    return "json"
