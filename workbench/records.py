"""Records: create and edit (never overwrite: every edit is a new revision), with their events."""
from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlmodel import Session, select

from workbench import trail
from workbench.models import Organization, ProcessTemplate, Record, Revision, utcnow


def _to_date(value: Any) -> date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def derived_fields(template: dict, data: dict) -> dict:
    """Columns computed from the data: title, record_date, subject, due_date."""
    ui = template.get("ui") or {}
    props = template["schema"].get("properties") or {}
    sched = template.get("schedule") or {}
    title_field = ui.get("title_field")
    title = data.get(title_field) if title_field else None
    if title is None:
        title = next((data[k] for k, s in props.items() if s.get("type") == "string" and isinstance(data.get(k), str)
                      and s.get("format") not in ("attachment", "record-link")), "")
    date_field = sched.get("date_field") or (title_field if (props.get(title_field or "") or {}).get("format") == "date" else None)
    subject = sched.get("subject_field")
    due = sched.get("due_field")
    if not date_field:  # the first date the record carries that is not its due / expiry date
        date_field = next((k for k, s in props.items()
                           if s.get("format") in ("date", "date-time") and k in data and k != due), None)
    return {
        "title": str(title)[:300],
        "record_date": _to_date(data.get(date_field)) if date_field else None,
        "subject": str(data[subject])[:200] if subject and data.get(subject) is not None else None,
        "due_date": _to_date(data.get(due)) if due else None,
    }


def local_date(at: datetime, org: Organization) -> date:
    """The calendar day of `at` in the organization's time zone."""
    from zoneinfo import ZoneInfo

    try:
        return at.astimezone(ZoneInfo(org.timezone)).date()
    except Exception:  # noqa: BLE001 - unknown zone name: China Standard Time
        return at.astimezone(ZoneInfo("Asia/Shanghai")).date()


def create(db: Session, org: Organization, tpl: ProcessTemplate, data: dict, user, at: datetime | None = None) -> Record:
    """A new record in the template's initial state, its first revision and its `create` event.

    `at` backdates the record (demo data and imports of paper records); the chain order is unaffected.
    """
    body = tpl.body
    now = at or utcnow()
    derived = derived_fields(body, data)
    derived["record_date"] = derived["record_date"] or local_date(now, org)
    rec = Record(org_id=org.id, template_id=tpl.id, template_key=tpl.key, state=body["workflow"]["initial"],
                 revision=1, data=data, created_at=now, updated_at=now,
                 created_by=getattr(user, "id", None), updated_by=getattr(user, "id", None), **derived)
    db.add(rec)
    db.flush()
    dig = trail.digest(data)
    db.add(Revision(record_id=rec.id, number=1, data=data, digest=dig, created_at=now, created_by=rec.created_by))
    trail.append(db, org.id, "create", record_id=rec.id, actor=user, to_state=rec.state, data_digest=dig,
                 detail={"revision": 1, "template": tpl.key, "version": tpl.version}, at=now)
    return rec


def edit(db: Session, rec: Record, tpl: ProcessTemplate, data: dict, user, comment: str = "") -> Revision | None:
    """Store `data` as the record's next revision; returns None when nothing changed."""
    if trail.canonical(data) == trail.canonical(rec.data):
        return None
    number = rec.revision + 1
    dig = trail.digest(data)
    now = utcnow()
    changes = [c[0] for c in diff(rec.data, data)]
    rev = Revision(record_id=rec.id, number=number, data=data, digest=dig, created_at=now, created_by=getattr(user, "id", None))
    db.add(rev)
    rec.data, rec.revision, rec.updated_at, rec.updated_by = data, number, now, getattr(user, "id", None)
    for k, v in derived_fields(tpl.body, data).items():
        if k != "record_date" or v is not None:  # a record without a date field keeps the day it was made
            setattr(rec, k, v)
    db.add(rec)
    trail.append(db, rec.org_id, "edit", record_id=rec.id, actor=user, comment=comment, data_digest=dig,
                 detail={"revision": number, "changed": changes[:50]})
    return rev


def linked(db: Session, rec: Record, tpl: ProcessTemplate) -> list[tuple[str, Record]]:
    """("to", r): records this one's link fields point at; ("from", r): records whose link fields point here
    (e.g. the corrective action answering a nonconformity). Each record's own template version decides
    which of its fields are links, so answers made with older versions are found too."""
    out: list[tuple[str, Record]] = []
    for name, field in tpl.body["schema"]["properties"].items():
        if field.get("format") == "record-link" and str(rec.data.get(name, "")).isdigit():
            target = db.get(Record, int(rec.data[name]))
            if target and target.org_id == rec.org_id:
                out.append(("to", target))
    versions = db.exec(select(ProcessTemplate).where(
        (ProcessTemplate.org_id == rec.org_id) | ProcessTemplate.org_id.is_(None))).all()
    fields = {t.id: [n for n, f in t.body["schema"]["properties"].items()
                     if f.get("format") == "record-link" and rec.template_key in (f.get("linkTemplates") or [])]
              for t in versions}
    fields = {tid: names for tid, names in fields.items() if names}
    if fields:
        for r in db.exec(select(Record).where(Record.org_id == rec.org_id, Record.template_id.in_(list(fields)))).all():
            if any(str(r.data.get(n)) == str(rec.id) for n in fields[r.template_id]):
                out.append(("from", r))
    return out


def revisions(db: Session, rec: Record) -> list[Revision]:
    return list(db.exec(select(Revision).where(Revision.record_id == rec.id).order_by(Revision.number)).all())


def diff(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Field-by-field differences as (dotted path, old value, new value); missing values are None."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in list(old) + [k for k in new if k not in old]:
            out += diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(x, dict) for x in old + new):
        out = []
        for i in range(max(len(old), len(new))):
            out += diff(old[i] if i < len(old) else None, new[i] if i < len(new) else None, f"{path}.{i}")
        return out
    return [] if old == new else [(path, old, new)]

