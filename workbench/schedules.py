"""What is due or overdue, from each adopted template's `schedule` and the organization's records.

- `every_months` (internal audit, management review, drills): the next one is due N months after the
  latest *completed* record (in a final workflow state), dated by `date_field`. Never done: due now.
- `due_field` (+ `subject_field`): each subject (instrument, licence, vessel…) is due on the date in the
  due field of its latest record; a newer record for the same subject clears the old due date.

Items are `overdue` (due date passed), `due_soon` (within `warn_days`, default 30) or `done`.

"Completed" is judged by each record's own template version (`versions_of`, `is_done`): adopting a version
that adds or renames final states never turns records that were done into not done.
"""
from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import String, and_, cast, literal, or_
from sqlmodel import Session, func, select

from workbench import library
from workbench.models import Organization, ProcessTemplate, Record
from workbench.workflow import is_final

DEFAULT_WARN_DAYS = 30


def add_months(d: date, months: int) -> date:
    """Calendar months, clamped to the month's last day (Jan 31 + 1 month = Feb 28/29)."""
    y, m = divmod(d.month - 1 + months, 12)
    year, month = d.year + y, m + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))


@dataclass
class DueItem:
    template: ProcessTemplate
    subject: str | None  # None for a periodic process
    due: date
    status: str  # overdue | due_soon | done
    last_record: Record | None


def status_of(due: date, today: date, warn_days: int = DEFAULT_WARN_DAYS) -> str:
    if due < today:
        return "overdue"
    if due <= today + timedelta(days=warn_days):
        return "due_soon"
    return "done"


def versions_of(db: Session, recs: list[Record]) -> dict[int, dict]:
    """Template version id -> body, for the versions the records were made with."""
    ids = {r.template_id for r in recs}
    if not ids:
        return {}
    return {t.id: t.body for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.id.in_(ids))).all()}


def is_done(rec: Record, bodies: dict[int, dict], fallback: dict | None = None) -> bool:
    """Is the record in a final state of the template version it was made with?"""
    body = bodies.get(rec.template_id) or fallback
    return bool(body) and is_final(body, rec.state)


def periodic_item(tpl: ProcessTemplate, recs: list[Record], today: date, bodies: dict[int, dict] | None = None) -> DueItem:
    body = tpl.body
    months = body["schedule"]["every_months"]
    bodies = bodies if bodies is not None else {tpl.id: body}
    completed = [r for r in recs if is_done(r, bodies, body) and r.record_date]
    last = max(completed, key=lambda r: (r.record_date, r.id), default=None)
    due = add_months(last.record_date, months) if last else today
    status = "overdue" if last is None else status_of(due, today)
    return DueItem(tpl, None, due, status, last)


def subject_items(tpl: ProcessTemplate, recs: list[Record], today: date) -> list[DueItem]:
    sched = tpl.body["schedule"]
    warn = sched.get("warn_days", DEFAULT_WARN_DAYS)
    latest: dict[str, Record] = {}
    for r in recs:
        if r.due_date is None and not r.subject:
            continue
        key = r.subject or f"#{r.id}"
        cur = latest.get(key)
        if cur is None or (r.record_date or r.due_date or date.min, r.id) > (cur.record_date or cur.due_date or date.min, cur.id):
            latest[key] = r
    # a subject whose latest record has no due date (a licence now 长期有效, a scrapped gauge) is not due
    return [DueItem(tpl, key, r.due_date, status_of(r.due_date, today, warn), r) for key, r in sorted(latest.items())
            if r.due_date is not None]


def _last_done(db: Session, org: Organization, key: str) -> list[Record]:
    """The latest record of `key` in a final state of the version it was made with (one row, by index)."""
    versions = db.exec(select(ProcessTemplate).where(ProcessTemplate.key == key, (ProcessTemplate.org_id == org.id)
                                                     | ProcessTemplate.org_id.is_(None))).all()
    done = [and_(Record.template_id == v.id, Record.state.in_([s for s in v.body["workflow"]["states"] if is_final(v.body, s)]))
            for v in versions]
    if not done:
        return []
    return list(db.exec(select(Record).where(Record.org_id == org.id, Record.template_key == key, Record.record_date.is_not(None),
                                             or_(*done)).order_by(Record.record_date.desc(), Record.id.desc()).limit(1)).all())


def _latest_per_subject(db: Session, org: Organization, key: str) -> list[Record]:
    """Each subject's latest record (a record without a subject is its own subject), ranked in SQL."""
    subject = func.coalesce(Record.subject, literal("#") + cast(Record.id, String))
    rank = func.row_number().over(partition_by=subject, order_by=(
        func.coalesce(Record.record_date, Record.due_date).desc(), Record.id.desc())).label("rank")
    sub = select(Record.id, rank).where(Record.org_id == org.id, Record.template_key == key,
                                        or_(Record.due_date.is_not(None), Record.subject.is_not(None))).subquery()
    latest = select(sub.c.id).where(sub.c.rank == 1)
    return list(db.exec(select(Record).where(Record.id.in_(latest), Record.due_date.is_not(None))).all())


def due_items(db: Session, org: Organization, today: date | None = None) -> list[DueItem]:
    """The schedule items of the organization: reads one record per periodic process and one per subject
    (SQL picks them), never the whole history."""
    today = today or date.today()
    items: list[DueItem] = []
    for tpl in library.processes(db, org):
        if not tpl.body.get("schedule"):
            continue
        if "every_months" in tpl.body["schedule"]:
            last = _last_done(db, org, tpl.key)
            items.append(periodic_item(tpl, last, today, versions_of(db, last)))
        else:
            items.extend(subject_items(tpl, _latest_per_subject(db, org, tpl.key), today))
    return sorted(items, key=lambda i: (i.due, i.template.key, i.subject or ""))


def summary(items: list[DueItem]) -> dict[str, list[DueItem]]:
    out: dict[str, list[DueItem]] = {"overdue": [], "due_soon": [], "done": []}
    for i in items:
        out[i.status].append(i)
    return out
