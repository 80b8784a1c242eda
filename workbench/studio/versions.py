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

from flask_babel import gettext as _
from sqlalchemy import func, or_
from sqlmodel import Session, select

from workbench import library
from workbench.models import Organization, ProcessTemplate
from workbench.studio import builder
from workbench.models import Record
from workbench.studio.models import StudioDraft, TemplateRelease
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
            adopt: bool = False, note: str = "", impact: list[str] | None = None) -> ProcessTemplate:
    """Store `body` as the organization's next version of its key. Raises InvalidTemplate (nothing stored).

    The draft it came from is removed (published versions are edited through a new draft). A release note
    (and the impact the publisher was shown) is stored with the version. The caller commits."""
    body, errors = prepare(db, org, body)
    if errors:
        raise InvalidTemplate(errors)
    row = ProcessTemplate(org_id=org.id, key=body["key"], version=body["version"], status="published", body=body,
                          created_by=getattr(user, "id", None))
    db.add(row)
    db.flush()
    if note.strip() or impact:
        db.add(TemplateRelease(template_id=row.id, note=note.strip()[:5000], impact=list(impact or []),
                               created_by=getattr(user, "id", None)))
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
class TemplateChange:
    what: str  # title | description | clauses | order | states | step | schedule | rules | locked
    before: str
    after: str

    @property
    def kind(self) -> str:
        return "added" if not self.before and self.after else "removed" if self.before and not self.after else "changed"

    def __iter__(self):  # (what, before, after), as before
        return iter((self.what, self.before, self.after))


@dataclass
class Diff:
    fields: list[FieldChange]
    template: list[TemplateChange]  # changes of the template itself (workflow, schedule, settings)
    warnings: list[str] = dc_field(default_factory=list)  # what existing records will notice (issue #9.6)

    @property
    def added(self) -> list[FieldChange]:
        return [f for f in self.fields if f.kind == "added"]

    @property
    def removed(self) -> list[FieldChange]:
        return [f for f in self.fields if f.kind == "removed"]

    @property
    def changed(self) -> list[FieldChange]:
        return [f for f in self.fields if f.kind == "changed"]

    def count(self, kind: str) -> int:
        """Rows of that kind in both lists: the counters above the lists count exactly what they show."""
        return sum(1 for f in self.fields if f.kind == kind) + sum(1 for c in self.template if c.kind == kind)

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


def _t(v: Any, lang: str, default: str = "") -> str:
    if isinstance(v, dict):
        s = v.get(lang) or v.get("zh") or v.get("en")
        if isinstance(s, str) and s:
            return s
    return default


def finals(t: dict) -> set[str]:
    states = ((t.get("workflow") or {}).get("states") or {})
    return {n for n, s in states.items() if isinstance(s, dict) and s.get("final")}


def required_top(t: dict) -> set[str]:
    """Top-level fields required always (a condition's required fields only count when shown)."""
    return set(((t.get("schema") or {}).get("required") or []))


def diff(a: dict, b: dict, lang: str = "zh") -> Diff:
    """Fields added, removed and changed (attribute by attribute) from version a to version b; the template's
    own changes (workflow, schedule, settings) in the UI language; warnings for existing records."""
    sa, sb = _summary(a, lang), _summary(b, lang)
    fields: list[FieldChange] = []
    for path in sb:
        if path not in sa:
            new = sb[path]
            shown = [("type", "", new["type"]), ("required", "", new["required"])]
            if new["condition"]:
                shown.append(("condition", "", new["condition"]))
            if new["options"]:
                shown.append(("options", "", new["options"]))
            fields.append(FieldChange(path, new["title"], "added", shown))
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
    template: list[TemplateChange] = []
    if order_a != order_b:
        template.append(TemplateChange("order", ", ".join(sa[p]["title"] for p in order_a),
                                       ", ".join(sb[p]["title"] for p in order_b)))
    for key in ("title", "description"):
        if a.get(key) != b.get(key):
            template.append(TemplateChange(key, _i18n(a.get(key)), _i18n(b.get(key))))
    ca = [f"{c.get('standard')} {c.get('clause')}" for c in a.get("clauses") or []]
    cb = [f"{c.get('standard')} {c.get('clause')}" for c in b.get("clauses") or []]
    if ca != cb:
        template.append(TemplateChange("clauses", ", ".join(ca), ", ".join(cb)))
    wa, wb = a.get("workflow") or {}, b.get("workflow") or {}
    sta, stb = wa.get("states") or {}, wb.get("states") or {}
    if list(sta) != list(stb) or sta != stb:
        template.append(TemplateChange("states", _states_text(wa, lang), _states_text(wb, lang)))
    if (wa.get("locked") or []) != (wb.get("locked") or []):
        template.append(TemplateChange("locked", _names(wa, wa.get("locked") or [], lang),
                                       _names(wb, wb.get("locked") or [], lang)))
    ta = {t.get("name"): t for t in wa.get("transitions") or []}
    tb = {t.get("name"): t for t in wb.get("transitions") or []}
    for name in tb:
        if name not in ta:
            template.append(TemplateChange("step", "", step_text(b, tb[name], lang)))
        elif ta[name] != tb[name]:
            template.append(TemplateChange("step", step_text(a, ta[name], lang), step_text(b, tb[name], lang)))
    for name in ta:
        if name not in tb:
            template.append(TemplateChange("step", step_text(a, ta[name], lang), ""))
    if a.get("schedule") != b.get("schedule"):
        template.append(TemplateChange("schedule", schedule_text(a, lang), schedule_text(b, lang)))
    rest_a = {k: v for k, v in (a.get("schema") or {}).items() if k not in ("properties", "required", "allOf")}
    rest_b = {k: v for k, v in (b.get("schema") or {}).items() if k not in ("properties", "required", "allOf")}
    if rest_a != rest_b:
        template.append(TemplateChange("rules", ", ".join(sorted(rest_a)), ", ".join(sorted(rest_b))))
    return Diff(fields, template, warnings(a, b, lang))


def warnings(a: dict, b: dict, lang: str = "zh") -> list[str]:
    """What records made with version a will notice under version b: final states, required fields, schedule."""
    out = []
    wa, wb = a.get("workflow") or {}, b.get("workflow") or {}
    fa, fb = finals(a), finals(b)
    if fa != fb:
        out.append(_("Final states change: %(before)s → %(after)s. Records made with the earlier version keep "
                     "its meaning of “done”.", before=_names(wa, sorted(fa), lang) or "—",
                     after=_names(wb, sorted(fb), lang) or "—"))
    props = ((b.get("schema") or {}).get("properties") or {})
    new_req = [n for n in (b.get("schema") or {}).get("required") or [] if n not in required_top(a)]
    if new_req:
        out.append(_("Newly required fields: %(f)s. Existing records without them stay as they are; whoever "
                     "edits one under the new version must fill them.",
                     f="、".join(_t((props.get(n) or {}).get("label"), lang, n) for n in new_req)))
    if a.get("schedule") != b.get("schedule"):
        out.append(_("The schedule changes (%(before)s → %(after)s): due and overdue dates are counted anew once "
                     "the version is adopted.", before=schedule_text(a, lang) or _("none"),
                     after=schedule_text(b, lang) or _("none")))
    if (wa.get("locked") or []) != (wb.get("locked") or []):
        out.append(_("Locked states change: records in %(s)s can no longer be edited (or can again).",
                     s=_names(wb, sorted(set(wa.get("locked") or []) ^ set(wb.get("locked") or [])), lang)))
    return out


def _names(wf: dict, names, lang: str) -> str:
    states = wf.get("states") or {}
    return "、".join(_t((states.get(n) or {}).get("label"), lang, n) for n in names)


def _states_text(wf: dict, lang: str) -> str:
    states = wf.get("states") or {}
    out = []
    for n, s in states.items():
        text = _t((s or {}).get("label"), lang, n)
        if (s or {}).get("final"):
            text += " ■"
        out.append(text)
    return "、".join(out)


def role_label(role: str) -> str:
    return {"member": _("member"), "manager": _("manager"), "consultant": _("consultant"),
            "admin": _("admin")}.get(role, role)


def step_text(t: dict, tr: dict, lang: str) -> str:
    """A step in words: "签署判定：待判定 → 已判定（管理者）✍ 签名：…；须填：…"."""
    wf = t.get("workflow") or {}
    props = ((t.get("schema") or {}).get("properties") or {})
    text = _("%(step)s: %(from)s → %(to)s (%(roles)s)", step=_t(tr.get("label"), lang, str(tr.get("name"))),
             **{"from": _names(wf, tr.get("from") or [], lang)}, to=_names(wf, [tr.get("to")], lang),
             roles="、".join(role_label(r) for r in tr.get("roles") or []))
    sig = tr.get("signature")
    if sig:
        text += " · ✍ " + _("e-signature: %(m)s", m=_t((sig or {}).get("meaning"), lang, "—"))
    if tr.get("requires"):
        text += " · " + _("needs %(f)s", f="、".join(_t((props.get(f) or {}).get("label"), lang, f)
                                                   for f in tr["requires"]))
    return text


def schedule_text(t: dict, lang: str) -> str:
    s = t.get("schedule")
    if not isinstance(s, dict) or not s:
        return ""
    props = ((t.get("schema") or {}).get("properties") or {})
    label = lambda name: _t((props.get(name) or {}).get("label"), lang, name)  # noqa: E731
    if "every_months" in s:
        return _("one record every %(n)s months, counted from “%(f)s”", n=s["every_months"], f=label(s.get("date_field")))
    text = _("due on the date in “%(f)s”", f=label(s.get("due_field")))
    if s.get("subject_field"):
        text += " · " + _("one per “%(f)s”", f=label(s["subject_field"]))
    return text


def release_notes(db: Session, template_ids: list[int]) -> dict[int, TemplateRelease]:
    if not template_ids:
        return {}
    rows = db.exec(select(TemplateRelease).where(TemplateRelease.template_id.in_(template_ids))).all()
    return {r.template_id: r for r in rows}


def impact(db: Session, org: Organization, before: dict | None, after: dict, lang: str = "zh") -> list[str]:
    """What publishing `after` means for the organization's existing records of the process, in numbers."""
    key = after.get("key")
    rows = db.exec(select(Record.state, Record.data, Record.template_id).where(
        Record.org_id == org.id, Record.template_key == key)).all() if isinstance(key, str) else []
    if not rows:
        return [_("No records of this process exist yet: nothing existing is affected.")]
    out = [_("%(n)s existing record(s) keep the version they were made with; new records use the new version "
             "once a manager adopts it.", n=len(rows))]
    if before is None:
        return out
    fa, fb = finals(before), finals(after)
    if fa != fb:
        done_before = sum(1 for s, _d, _t in rows if s in fa)
        no_longer = sum(1 for s, _d, _t in rows if s in fa and s not in fb)
        out.append(_("Final states change: %(n)s record(s) are done today; %(m)s of them are in a state that is not "
                     "final in the new version (they stay done under their own version).", n=done_before, m=no_longer))
    new_req = [n for n in (after.get("schema") or {}).get("required") or [] if n not in required_top(before)]
    if new_req:
        missing = sum(1 for _s, data, _t in rows if any((data or {}).get(n) in (None, "", []) for n in new_req))
        out.append(_("Required fields added: %(n)s existing record(s) do not have them; they stay valid under their "
                     "own version.", n=missing))
    if before.get("schedule") != after.get("schedule"):
        out.append(_("Schedule changed: the process's due and overdue dates follow the new schedule once the "
                     "version is adopted (%(s)s).", s=schedule_text(after, lang) or _("no schedule")))
    return out


def draft_for(db: Session, org_id: int, key: str) -> StudioDraft | None:
    return db.exec(select(StudioDraft).where(StudioDraft.org_id == org_id, StudioDraft.key == key)).first()
