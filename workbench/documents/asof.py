""""As of" a date: a record, a procedure and a template as they stood at the end of that day (UTC+org zone
is not needed at day granularity for auditors; the period's end date is what they use).

- record: the revision current then, its workflow state then, the signatures in force then (given by then
  and not yet voided by an edit or undone by a return: workbench.signatures.replay of the events up to then);
- procedure: the version in force then (approved by then and not yet superseded);
- template: the version the organization used then (adoption history; before any history, the version
  of the latest record made by then, else the version adopted now).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timezone

from sqlmodel import Session, select

from workbench.actions import Action
from workbench.documents.models import PROCEDURE, AdoptionHistory, ControlledDocument
from workbench.models import Event, Organization, ProcessTemplate, Record, Revision


def day_end(d: date) -> datetime:
    return datetime.combine(d, time.max, tzinfo=timezone.utc)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


@dataclass
class RecordAsOf:
    record: Record
    exists: bool
    revision: Revision | None
    state: str | None
    signatures: list = field(default_factory=list)  # workbench.signatures.Signature in force at the date
    later_changes: int = 0  # events after the date


def record_as_of(db: Session, rec: Record, at: date) -> RecordAsOf:
    end = day_end(at)
    events = db.exec(select(Event).where(Event.org_id == rec.org_id, Event.record_id == rec.id).order_by(Event.seq)).all()
    before = [e for e in events if _aware(e.at) <= end]
    if not before:
        return RecordAsOf(rec, False, None, None)
    state = None
    rev_no = None
    for e in before:
        if e.to_state:
            state = e.to_state
        if e.action in (Action.CREATE, Action.EDIT) and (e.detail or {}).get("revision"):
            rev_no = int(e.detail["revision"])
    rev = db.exec(select(Revision).where(Revision.record_id == rec.id, Revision.number == (rev_no or 1))).first()
    from workbench.signatures import replay

    return RecordAsOf(rec, True, rev, state, replay(before).in_force, len(events) - len(before))


def procedure_as_of(db: Session, org: Organization, key: str, at: date) -> ControlledDocument | None:
    end = day_end(at)
    best = None
    for d in db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id,
                                                      ControlledDocument.kind == PROCEDURE,
                                                      ControlledDocument.key == key)).all():
        if d.approved_at is None or _aware(d.approved_at) > end:
            continue
        if d.superseded_at is not None and _aware(d.superseded_at) <= end:
            continue
        if best is None or d.version > best.version:
            best = d
    return best


def template_as_of(db: Session, org: Organization, key: str, at: date) -> ProcessTemplate | None:
    end = day_end(at)
    hist = [h for h in db.exec(select(AdoptionHistory).where(AdoptionHistory.org_id == org.id, AdoptionHistory.key == key)
                               .order_by(AdoptionHistory.at, AdoptionHistory.id)).all()]
    before = [h for h in hist if _aware(h.at) <= end]
    if before:
        return db.get(ProcessTemplate, before[-1].template_id)
    rec = db.exec(select(Record).where(Record.org_id == org.id, Record.template_key == key, Record.created_at <= end)
                  .order_by(Record.created_at.desc(), Record.id.desc()).limit(1)).first()
    if rec is not None:
        return db.get(ProcessTemplate, rec.template_id)
    if hist:  # adopted only after the date: it was not in use yet
        return None
    from workbench import library

    return library.adopted(db, org, key)
