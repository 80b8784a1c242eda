"""Template-level settings: key, title, description, clauses, record list, headings, schedule."""
from __future__ import annotations

from typing import Iterable

from workbench import clauses as clause_catalogue
from workbench.studio.common import BuilderError, TEMPLATE_KEY_RE, _copy, _tidy_ui, _ui, i18n, top_order

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
