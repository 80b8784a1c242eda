"""待办 — what is waiting for one user in one organization. Every list is one bounded SQL query; the top-bar
count is SQL `count(*)`s (no record is loaded into Python to count it).

- act:      records whose next transition one of my roles may take (not the initial state: that is the author's);
- returned: records I made that were sent back to the initial state by someone (退回修改) and wait for rework;
- due:      overdue / due-within-warn-days items of the processes I work in (managers: all processes);
- findings: nonconformities raised by auditors that await the organization's answer (managers).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import String, and_, cast, exists, func, literal, or_
from sqlmodel import Session, select

from workbench import library
from workbench.audit.models import NC_GRADES, Finding
from workbench.models import Event, Organization, ProcessTemplate, Record
from workbench.schedules import DEFAULT_WARN_DAYS, add_months

WORKER_ROLES = {"member", "manager", "admin"}
LIMIT = 200


@dataclass
class DueRow:
    template: ProcessTemplate
    subject: str | None
    due: date
    overdue: bool
    last_record_id: int | None

    @property
    def days(self) -> int:  # negative: overdue by that many days
        return (self.due - date.today()).days


def _act_condition(templates: list[ProcessTemplate], roles: set[str]):
    """SQL condition: (template_key, state) pairs in which one of `roles` may take a transition."""
    parts = []
    for t in templates:
        wf = t.body["workflow"]
        states = {s for tr in wf["transitions"] if "admin" in roles or roles & set(tr["roles"])
                  for s in tr["from"] if s != wf["initial"]}
        if states:
            parts.append(and_(Record.template_key == t.key, Record.state.in_(sorted(states))))
    return or_(*parts) if parts else literal(False)


def _returned_condition(templates: list[ProcessTemplate], user_id: int):
    parts = [and_(Record.template_key == t.key, Record.state == t.body["workflow"]["initial"]) for t in templates]
    back = exists().where(Event.record_id == Record.id, Event.action.in_(("transition", "sign")),
                          Event.to_state == Record.state, Event.from_state.is_not(None))
    return and_(Record.created_by == user_id, or_(*parts) if parts else literal(False), back)


def act_query(db: Session, org: Organization, roles: set[str]):
    if not roles & WORKER_ROLES:
        return None
    return select(Record).where(Record.org_id == org.id, _act_condition(library.processes(db, org), roles))


def returned_query(db: Session, org: Organization, user_id: int, roles: set[str]):
    if not roles & WORKER_ROLES:
        return None
    return select(Record).where(Record.org_id == org.id, _returned_condition(library.processes(db, org), user_id))


def findings_query(org: Organization, roles: set[str]):
    if not roles & {"manager", "admin"}:
        return None
    return select(Finding).where(Finding.org_id == org.id, Finding.status == "open", Finding.grade.in_(NC_GRADES))


def _my_keys(db: Session, org: Organization, user_id: int, roles: set[str]) -> set[str] | None:
    """Processes I work in: managers all (None), members those they made records in."""
    if roles & {"manager", "admin"}:
        return None
    return set(db.exec(select(Record.template_key).where(Record.org_id == org.id, Record.created_by == user_id)
                       .group_by(Record.template_key)).all())


def due_rows(db: Session, org: Organization, user_id: int, roles: set[str], today: date | None = None) -> list[DueRow]:
    """Overdue and soon-due schedule items (the same rules as workbench.schedules), computed in SQL."""
    if not roles & WORKER_ROLES:
        return []
    today = today or date.today()
    keys = _my_keys(db, org, user_id, roles)
    out: list[DueRow] = []
    for t in library.processes(db, org):
        sched = t.body.get("schedule") or {}
        if not sched or (keys is not None and t.key not in keys):
            continue
        warn = sched.get("warn_days", DEFAULT_WARN_DAYS)
        if "every_months" in sched:
            finals = [s for s, spec in t.body["workflow"]["states"].items() if spec.get("final")]
            last = db.exec(select(Record.id, Record.record_date).where(
                Record.org_id == org.id, Record.template_key == t.key, Record.state.in_(finals),
                Record.record_date.is_not(None)).order_by(Record.record_date.desc(), Record.id.desc()).limit(1)).first()
            due = add_months(last[1], sched["every_months"]) if last else today
            if last is None or due <= today + timedelta(days=warn):
                out.append(DueRow(t, None, due, last is None or due < today, last[0] if last else None))
            continue
        key = func.coalesce(Record.subject, literal("#") + cast(Record.id, String))
        rank = func.row_number().over(partition_by=key, order_by=(func.coalesce(Record.record_date, Record.due_date).desc(),
                                                                  Record.id.desc())).label("rank")
        sub = select(Record.id, Record.subject, Record.due_date, rank).where(
            Record.org_id == org.id, Record.template_key == t.key, Record.due_date.is_not(None)).subquery()
        for rid, subject, due in db.exec(select(sub.c.id, sub.c.subject, sub.c.due_date).where(
                sub.c.rank == 1, sub.c.due_date <= today + timedelta(days=warn)).order_by(sub.c.due_date).limit(LIMIT)).all():
            out.append(DueRow(t, subject or f"#{rid}", due, due < today, rid))
    return sorted(out, key=lambda r: (r.due, r.template.key, r.subject or ""))


def _count(db: Session, q) -> int:
    return 0 if q is None else db.exec(select(func.count()).select_from(q.subquery())).one()


@dataclass
class Todo:
    act: list[Record]
    returned: list[Record]
    due: list[DueRow]
    findings: list[Finding]
    counts: dict[str, int]

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def for_user(db: Session, org: Organization, user, roles: set[str], limit: int = LIMIT) -> Todo:
    qs = {"act": act_query(db, org, roles), "returned": returned_query(db, org, user.id, roles),
          "findings": findings_query(org, roles)}
    counts = {k: _count(db, q) for k, q in qs.items()}
    due = due_rows(db, org, user.id, roles)
    counts["due"] = len(due)
    rows = {k: (list(db.exec(q.order_by(Record.updated_at.desc()).limit(limit)).all()) if q is not None and k != "findings" else [])
            for k, q in qs.items()}
    findings = list(db.exec(qs["findings"].order_by(Finding.id).limit(limit)).all()) if qs["findings"] is not None else []
    return Todo(rows["act"], rows["returned"], due, findings, counts)


def count(db: Session, org: Organization, user, roles: set[str]) -> int:
    """The number in the top bar."""
    n = _count(db, act_query(db, org, roles)) + _count(db, returned_query(db, org, user.id, roles))
    n += _count(db, findings_query(org, roles))
    return n + len(due_rows(db, org, user.id, roles))
