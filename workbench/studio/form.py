"""Form binding: applying what the builder page posted (`apply_form`), its buttons (`apply_action`), and
mapping template validation errors back to builder fields and tabs.

Only values that differ from `to_form(t)` change anything, so `apply_form(t, to_form(t)) == t` for every
template, including what the builder cannot show (it is kept as it is, and edited in the JSON tab).
"""
from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.datastructures import MultiDict

from workbench.studio.common import BuilderError, _container, _copy, get_field, has_field, i18n, parent_of, split
from workbench.studio.conditions import set_condition, set_required
from workbench.studio.workflow import _transition, _wf, add_state, remove_state, rename_state, set_locked, set_workflow
from workbench.studio.fields import (
    add_field, free_key, remove_field, rename_field, set_help, set_label, set_limits,
    set_options, set_type, set_widget,
)
from workbench.studio.order import move_field, move_field_to
from workbench.studio.settings import (
    set_clauses, set_field_heading, set_headings, set_list_columns, set_meta, set_schedule, set_title_field,
)
from workbench.studio.viewmodel import _walk, describe

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


STEP_INPUTS = ("name", "from", "to", "roles", "comment")


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
        if f["depth"] == 0 and got("heading", f["heading"]) != f["heading"] and got("heading").isascii() and got("heading").isdigit():
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
    lockeds = set(form.getlist("s:locked"))
    rows = list(zip(form.getlist("s:orig"), form.getlist("s:name"), form.getlist("s:zh"), form.getlist("s:en")))
    renames = []
    locked: list[str] = []  # as posted, with the names the states will have
    for i, (orig, name, zh, en) in enumerate(rows):
        name, zh, en = name.strip(), zh.strip(), en.strip()
        where = f"s:name:{i}"
        if orig and orig in before:
            st = before[orig]
            if not name:
                t = _try(errors, where, remove_state, t, orig) or t
                continue
            if orig in lockeds:
                locked.append(name)
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
                renames.append((i, orig, name))
        elif name:
            added = _try(errors, where, add_state, t, name, zh, en, "" in finals or name in finals)
            if added is not None:
                t = added
                if "" in lockeds or name in lockeds:
                    locked.append(name)
    for i, orig, name in renames:
        t = _try(errors, f"s:name:{i}", rename_state, t, orig, name) or t
    renamed = {orig: name for _, orig, name in renames}
    initial = form.get("w:initial", d["initial"])
    initial = renamed.get(initial, initial)
    if initial != _wf(t).get("initial") and initial != d["initial"]:
        t = _try(errors, "w:initial", set_workflow, t, initial=initial) or t
    if "s:name" in form:
        known = [n for n in locked if n in _wf(t)["states"]]
        if set(known) != {renamed.get(n, n) for n in d["locked"] if renamed.get(n, n) in _wf(t)["states"]}:
            t = set_locked(t, known)
    t = _apply_transitions(t, form, d, renamed, errors)
    return t


def _apply_transitions(t: dict, form: MultiDict, d: dict, renames: dict, errors: dict) -> dict:
    count = int(form.get("x:count", "0") or 0) if (form.get("x:count") or "0").isascii() and (form.get("x:count") or "0").isdigit() else 0
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
                errors[f"x{i}:{e.field if e.field in STEP_INPUTS else 'name'}"] = str(e)
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
                errors[f"x{i}:{e.field if e.field in STEP_INPUTS else 'name'}"] = str(e)
    if count:
        # steps that were not on the page (another tab added them meanwhile) are kept
        new_list += [tr for name, tr in current.items() if name not in seen_orig and name not in before]
        if new_list != wf["transitions"]:
            t = _copy(t)
            _wf(t)["transitions"] = new_list
    return t


# --- actions (the buttons of the builder page) ---------------------------------------------------------


def apply_action(t: dict, action: str, form: MultiDict, renamed: dict[str, str] | None = None) -> tuple[dict, str]:
    """Apply one button: "up:<path>", "down:<path>", "moveto:<path>@<index>" (drag and drop), "remove:<path>",
    "add:<parent>" (reads new:<parent>:*).

    Returns (template, path to focus). Raises BuilderError."""
    verb, _, path = action.partition(":")
    path = (renamed or {}).get(path, path)
    if verb in ("up", "down"):
        return move_field(t, path, verb), path
    if verb == "moveto":  # drag and drop: "moveto:<path>@<index>"
        path, _sep, index = path.rpartition("@")
        path = (renamed or {}).get(path, path)
        if not (index.isascii() and index.isdigit()):
            raise BuilderError("unknown position", "order")
        return move_field_to(t, path, int(index)), path
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


# --- mapping validation errors to builder fields -------------------------------------------------------

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
