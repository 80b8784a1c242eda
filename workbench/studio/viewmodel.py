"""The builder page's view-model: `describe(t)` (plain dicts and lists, strings as the form shows them) and
`to_form(t)`, the values the page posts when nothing was touched.
"""
from __future__ import annotations

import json
import re
from typing import Any, Iterable

from werkzeug.datastructures import MultiDict

from workbench import clauses as clause_catalogue
from workbench.studio.common import (
    ADVANCED, BuilderError, CONTAINERS, _object_of, _options_of, field_type, key_of, top_order,
)
from workbench.studio.conditions import condition_of, is_required

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
            "locked": [_s(x) for x in wf.get("locked") or [] if isinstance(x, str)],
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
        out += [("s:locked", name) for name in wf["locked"]]
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
