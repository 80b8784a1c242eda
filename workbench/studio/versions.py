"""Publishing drafts as immutable template versions, and the differences between two versions.

A published version is a `ProcessTemplate` row (status "published") that is never changed again. Its
version number is one more than the highest version of the same key the organization can see (its own
versions and the shipped library's), so a customised shipped template continues the shipped numbering.
Publishing does not switch the organization over: a manager adopts the new version when ready
(`workbench.library.adopt`), optionally in the same step when the publisher is a manager.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass, field as dc_field
from typing import Any

from sqlalchemy import func, or_
from sqlmodel import Session, select

from workbench import library
from workbench.models import Organization, ProcessTemplate
from workbench.studio import builder
from workbench.studio.models import StudioDraft
from workbench.templates import InvalidTemplate, TemplateError, validate_template


def next_version(db: Session, org_id: int, key: str) -> int:
    top = db.exec(select(func.max(ProcessTemplate.version)).where(
        ProcessTemplate.key == key, or_(ProcessTemplate.org_id == org_id, ProcessTemplate.org_id.is_(None)))).one()
    return int(top or 0) + 1


def prepare(db: Session, org: Organization, body: dict) -> tuple[dict, list[TemplateError]]:
    """The body as it would be published (next version number) and its validation errors."""
    body = copy.deepcopy(body)
    if isinstance(body, dict) and isinstance(body.get("key"), str):
        body["version"] = next_version(db, org.id, body["key"])
    return body, validate_template(body)


def publish(db: Session, org: Organization, body: dict, user=None, *, draft: StudioDraft | None = None,
            adopt: bool = False) -> ProcessTemplate:
    """Store `body` as the organization's next version of its key. Raises InvalidTemplate (nothing stored).

    The draft it came from is removed (published versions are edited through a new draft). The caller
    commits."""
    body, errors = prepare(db, org, body)
    if errors:
        raise InvalidTemplate(errors)
    row = ProcessTemplate(org_id=org.id, key=body["key"], version=body["version"], status="published", body=body,
                          created_by=getattr(user, "id", None))
    db.add(row)
    db.flush()
    if draft is not None:
        db.delete(draft)
    if adopt:
        library.adopt(db, org, row)
    return row


# --- diff --------------------------------------------------------------------------------------------------


@dataclass
class FieldChange:
    path: str
    label: str
    kind: str  # added | removed | changed
    changes: list[tuple[str, str, str]] = dc_field(default_factory=list)  # (what, before, after)


@dataclass
class Diff:
    fields: list[FieldChange]
    template: list[tuple[str, str, str]]  # (what, before, after) of the template itself

    @property
    def added(self) -> list[FieldChange]:
        return [f for f in self.fields if f.kind == "added"]

    @property
    def removed(self) -> list[FieldChange]:
        return [f for f in self.fields if f.kind == "removed"]

    @property
    def changed(self) -> list[FieldChange]:
        return [f for f in self.fields if f.kind == "changed"]

    @property
    def empty(self) -> bool:
        return not self.fields and not self.template


def _summary(t: dict, lang: str) -> dict[str, dict[str, Any]]:
    d = builder.describe(t, lang)
    headings = d["headings"]
    out = {}
    for f in builder._walk(d["fields"]):
        try:
            raw = builder.get_field(t, f["path"])
        except builder.BuilderError:
            raw = {}
        out[f["path"]] = {
            "title": f["title"],
            "type": f["type"],
            "label": f"{f['label_zh']} / {f['label_en']}",
            "help": f"{f['help_zh']} / {f['help_en']}" if f["help_zh"] or f["help_en"] else "",
            "required": "yes" if f["required"] else "no",
            "options": "; ".join(f"{v} = {zh} / {en}" for v, zh, en in f["options"]),
            "min": f["min"], "max": f["max"], "maxlen": f["maxlen"],
            "condition": f["cond_text"],
            "heading": " / ".join(headings[int(f["heading"])]) if f["heading"] else "",
            "_raw": raw,
        }
    return out


def _i18n(v: Any) -> str:
    return f"{v.get('zh', '')} / {v.get('en', '')}" if isinstance(v, dict) else ""


def diff(a: dict, b: dict, lang: str = "zh") -> Diff:
    """Fields added, removed and changed (attribute by attribute) from version a to version b."""
    sa, sb = _summary(a, lang), _summary(b, lang)
    fields: list[FieldChange] = []
    for path in sb:
        if path not in sa:
            fields.append(FieldChange(path, sb[path]["title"], "added"))
    for path in sa:
        if path not in sb:
            fields.append(FieldChange(path, sa[path]["title"], "removed"))
    for path in sb:
        if path in sa:
            before, after = sa[path], sb[path]
            changes = [(k, before[k], after[k]) for k in before if not k.startswith("_") and k != "title"
                       and before[k] != after[k]]
            if not changes and before["_raw"] != after["_raw"]:
                changes.append(("details", "", ""))
            if changes:
                fields.append(FieldChange(path, after["title"], "changed", changes))
    order_a = [p for p in sa if p in sb]
    order_b = [p for p in sb if p in sa]
    template: list[tuple[str, str, str]] = []
    if order_a != order_b:
        template.append(("order", ", ".join(order_a), ", ".join(order_b)))
    for key in ("title", "description"):
        if a.get(key) != b.get(key):
            template.append((key, _i18n(a.get(key)), _i18n(b.get(key))))
    ca = [f"{c.get('standard')} {c.get('clause')}" for c in a.get("clauses") or []]
    cb = [f"{c.get('standard')} {c.get('clause')}" for c in b.get("clauses") or []]
    if ca != cb:
        template.append(("clauses", ", ".join(ca), ", ".join(cb)))
    wa, wb = a.get("workflow") or {}, b.get("workflow") or {}
    sta, stb = wa.get("states") or {}, wb.get("states") or {}
    if list(sta) != list(stb) or sta != stb:
        template.append(("states", ", ".join(f"{n} ({_i18n(s.get('label'))})" for n, s in sta.items()),
                         ", ".join(f"{n} ({_i18n(s.get('label'))})" for n, s in stb.items())))
    ta = {t.get("name"): t for t in wa.get("transitions") or []}
    tb = {t.get("name"): t for t in wb.get("transitions") or []}
    for name in tb:
        if name not in ta:
            template.append(("step", "", _step(tb[name])))
        elif ta[name] != tb[name]:
            template.append(("step", _step(ta[name]), _step(tb[name])))
    for name in ta:
        if name not in tb:
            template.append(("step", _step(ta[name]), ""))
    if a.get("schedule") != b.get("schedule"):
        template.append(("schedule", _sched(a.get("schedule")), _sched(b.get("schedule"))))
    rest_a = {k: v for k, v in (a.get("schema") or {}).items() if k not in ("properties", "required", "allOf")}
    rest_b = {k: v for k, v in (b.get("schema") or {}).items() if k not in ("properties", "required", "allOf")}
    if rest_a != rest_b:
        template.append(("rules", ", ".join(sorted(rest_a)), ", ".join(sorted(rest_b))))
    return Diff(fields, template)


def _step(tr: dict) -> str:
    out = f"{tr.get('name')}: {', '.join(tr.get('from') or [])} → {tr.get('to')} ({', '.join(tr.get('roles') or [])})"
    if tr.get("signature"):
        out += " ✍"
    if tr.get("requires"):
        out += f" [{', '.join(tr['requires'])}]"
    return out


def _sched(s: dict | None) -> str:
    if not s:
        return ""
    if "every_months" in s:
        return f"every {s['every_months']} months from {s.get('date_field')}"
    return f"due on {s.get('due_field')}" + (f" per {s['subject_field']}" if s.get("subject_field") else "")


def draft_for(db: Session, org_id: int, key: str) -> StudioDraft | None:
    return db.exec(select(StudioDraft).where(StudioDraft.org_id == org_id, StudioDraft.key == key)).first()
