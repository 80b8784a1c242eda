"""Builder operations on fields: add, remove, rename, move, retype, label, options, limits, widgets.

Each takes a template and returns a new dict (the input is never modified). Removing or renaming a field also
updates every reference to it: `required`, conditions (`allOf` if/then), `ui` hints and order, workflow
`requires`, the schedule and the `examples`.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

from flask_babel import gettext as _

from workbench import record_rules

from workbench.studio.common import (
    BuilderError, CHILD_TYPES, KEY_RE, TYPES, _TYPE_KEYS, _container, _copy, _options_of, _prune_examples,
    _remove_from, _ren, _schema, _tidy_ui, _ui, field_type, get_field, hint_of, i18n, key_of, parent_of, split,
    type_of,
)
from workbench.studio.conditions import _fix_tests
from workbench.studio.workflow import default_workflow

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


def _check_label(obj: dict, name: str, zh: str, en: str) -> None:
    """Two fields side by side (siblings) may not carry the same label: people could not tell them apart."""
    zh, en = (zh or "").strip(), (en or "").strip()
    for key, f in (obj.get("properties") or {}).items():
        lab = f.get("label") if isinstance(f, dict) else None
        if key == name or not isinstance(lab, dict):
            continue
        for mine, theirs in ((zh, lab.get("zh")), (en, lab.get("en"))):
            if mine and mine == theirs:
                raise BuilderError(_("“%(label)s” is already the label of the field “%(key)s” here: give each field "
                                     "its own label.", label=mine, key=key), "label_zh")


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
    if label_zh or label_en:
        _check_label(obj, key, label_zh, label_en)
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
    record_rules.forget(_schema(t), path)
    widgets = (t.get("ui") or {}).get("widgets") or {}
    for k in [k for k in widgets if k == path or k.startswith(path + ".")]:
        del widgets[k]
    if not parent:
        _forget_top_level(t, name)
    _tidy_ui(t)
    _prune_examples(t)
    return t


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
    record_rules.rename(_schema(t), path, new_key)
    _rename_in_examples(t, split(parent), old, new_key)
    return t


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


def set_label(t: dict, path: str, zh: str, en: str) -> dict:
    t = _copy(t)
    if not (zh or "").strip() and not (en or "").strip():
        raise BuilderError("a field needs a label", "label_zh")
    label = i18n(zh, en)
    _check_label(_container(t, parent_of(path)), key_of(path), label["zh"], label["en"])
    get_field(t, path)["label"] = label
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
