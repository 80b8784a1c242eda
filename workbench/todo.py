"""待办 — what is waiting for one user in one organization. Every list is one bounded SQL query; the top-bar
count is SQL `count(*)`s (no record is loaded into Python to count it).

- act:      records whose next transition one of my roles may take (not the initial state: that is the author's);
- returned: records I made that were sent back to the initial state by someone (退回修改) and wait for rework;
- due:      overdue / due-within-warn-days items of the processes I work in (managers: all processes);
- findings: nonconformities raised by auditors that await the organization's answer (managers).
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from functools import lru_cache
from datetime import date, timedelta

from sqlalchemy import bindparam, exists, func, literal, union_all
from sqlmodel import Session, select

from workbench import latest, library, schedules
from workbench.audit.models import NC_GRADES, Finding
from workbench.models import Event, Organization, ProcessTemplate, Record
from workbench.schedules import DEFAULT_WARN_DAYS, add_months

WORKER_ROLES = {"member", "manager", "admin"}
LIMIT = 200
CAP = 100  # the top bar counts up to this and shows it as "99+"


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


# The statements are built once per shape (processes grouped by states; organization and user are bound
# parameters, given by .params()): building a UNION ALL of subqueries per request costs more than running it.

@lru_cache(maxsize=512)
def _by_process(branches: tuple[tuple[tuple, tuple], ...], returned: bool = False):
    """SELECT records WHERE Record.id IN (UNION ALL of one indexed SELECT per group of processes sharing the same
    states: each is a few index seeks, ix_record_todo / ix_record_author), where one OR over every process lets
    the planner scan all the organization's records. `returned`: made by the user, sent back (an event
    re-entered the state)."""
    if not branches:
        return select(Record).where(literal(False))
    cond = []
    if returned:
        cond = [Record.created_by == bindparam("todo_user"),
                exists().where(Event.record_id == Record.id, Event.action.in_(("transition", "sign")),
                               Event.to_state == Record.state, Event.from_state.is_not(None))]
    return select(Record).where(Record.id.in_(union_all(*[
        select(Record.id).where(Record.org_id == bindparam("todo_org"), *cond, Record.template_key.in_(keys),
                                Record.state.in_(states)) for states, keys in branches])))


def _shape(groups: dict[tuple, list[str]]) -> tuple:
    return tuple(sorted((states, tuple(keys)) for states, keys in groups.items()))


def _act_groups(templates: list[ProcessTemplate], roles: set[str]) -> tuple:
    """(states, process keys) groups: the (template_key, state) pairs in which one of `roles` may take a transition."""
    groups: dict[tuple, list[str]] = {}
    for t in templates:
        wf = t.body["workflow"]
        states = {s for tr in wf["transitions"] if "admin" in roles or roles & set(tr["roles"])
                  for s in tr["from"] if s != wf["initial"]}
        if states:
            groups.setdefault(tuple(sorted(states)), []).append(t.key)
    return _shape(groups)


def _returned_groups(templates: list[ProcessTemplate]) -> tuple:
    groups: dict[tuple, list[str]] = {}
    for t in templates:
        groups.setdefault((t.body["workflow"]["initial"],), []).append(t.key)
    return _shape(groups)


def act_query(db: Session, org: Organization, roles: set[str], templates: list[ProcessTemplate] | None = None):
    if not roles & WORKER_ROLES:
        return None
    return _by_process(_act_groups(templates or library.processes(db, org), roles)).params(todo_org=org.id)


def returned_query(db: Session, org: Organization, user_id: int, roles: set[str],
                   templates: list[ProcessTemplate] | None = None):
    if not roles & WORKER_ROLES:
        return None
    return _by_process(_returned_groups(templates or library.processes(db, org)), True).params(
        todo_org=org.id, todo_user=user_id)


def findings_query(org: Organization, roles: set[str]):
    if not roles & {"manager", "admin"}:
        return None
    return select(Finding).where(Finding.org_id == org.id, Finding.status == "open", Finding.grade.in_(NC_GRADES))


def _my_keys(db: Session, org: Organization, user_id: int, roles: set[str], templates: list[ProcessTemplate]) -> set[str] | None:
    """Processes I work in: managers all (None), members those they made records in (one index probe per
    process, ix_record_author, in one statement: never a scan of everything they made)."""
    if roles & {"manager", "admin"}:
        return None
    keys = sorted({t.key for t in templates})
    if not keys:
        return set()
    made = [select(literal(k)).where(exists().where(Record.org_id == org.id, Record.created_by == user_id,
                                                    Record.template_key == k)) for k in keys]
    return set(db.exec(union_all(*made)).scalars().all())


def _due_parts(db: Session, org: Organization, user_id: int, roles: set[str], today: date,
               templates: list[ProcessTemplate]) -> tuple[list[DueRow], list[tuple[ProcessTemplate, date]]]:
    """(rows of the periodic processes, (subject process, due-until date) to read from workbench.latest)."""
    keys = _my_keys(db, org, user_id, roles, templates)
    mine = [t for t in templates if t.body.get("schedule") and (keys is None or t.key in keys)]
    done = schedules.last_done(db, org, [t.key for t in mine if "every_months" in t.body["schedule"]], templates)
    rows: list[DueRow] = []
    subjects: list[tuple[ProcessTemplate, date]] = []
    for t in mine:
        sched = t.body["schedule"]
        warn = sched.get("warn_days", DEFAULT_WARN_DAYS)
        if "every_months" in sched:
            last = done.get(t.key)
            due = add_months(last.record_date, sched["every_months"]) if last else today
            if last is None or due <= today + timedelta(days=warn):
                rows.append(DueRow(t, None, due, last is None or due < today, last.id if last else None))
        else:
            subjects.append((t, today + timedelta(days=warn)))
    return rows, subjects


def due_rows(db: Session, org: Organization, user_id: int, roles: set[str], today: date | None = None,
             templates: list[ProcessTemplate] | None = None) -> list[DueRow]:
    """Overdue and soon-due schedule items (the same rules as workbench.schedules), read by index: the latest
    completed record of every periodic process in one statement, each subject's latest record as maintained
    on write (workbench.latest)."""
    if not roles & WORKER_ROLES:
        return []
    today = today or date.today()
    out, subjects = _due_parts(db, org, user_id, roles, today, templates or library.processes(db, org))
    for t, until in subjects:
        for rec, row in latest.latest_records(db, org.id, t.key, until, LIMIT):
            out.append(DueRow(t, row.subject, row.due_date, row.due_date < today, rec.id))
    return sorted(out, key=lambda r: (r.due, r.template.key, r.subject or ""))


def due_count(db: Session, org: Organization, user_id: int, roles: set[str], today: date | None = None,
              templates: list[ProcessTemplate] | None = None) -> int:
    """len(due_rows(...)) without loading the subjects' records: one capped count per subject process, all in
    one statement (the top bar's share of the due items)."""
    if not roles & WORKER_ROLES:
        return 0
    today = today or date.today()
    rows, subjects = _due_parts(db, org, user_id, roles, today, templates or library.processes(db, org))
    if not subjects:
        return len(rows)
    return len(rows) + sum(db.exec(union_all(*[select(func.count()).select_from(
        latest.due_query(org.id, t.key, until).limit(LIMIT).subquery()) for t, until in subjects])).scalars().all())


def _count(db: Session, q, cap: int | None = None) -> int:
    """count(*) of the query's rows (up to `cap`: the database stops there)."""
    if q is None:
        return 0
    if cap is not None:
        q = q.with_only_columns(literal(1), maintain_column_froms=True).order_by(None).limit(cap)
    return db.exec(select(func.count()).select_from(q.subquery())).one()


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
    tpls = library.processes(db, org)
    qs = {"act": act_query(db, org, roles, tpls), "returned": returned_query(db, org, user.id, roles, tpls),
          "findings": findings_query(org, roles)}
    counts = {k: _count(db, q) for k, q in qs.items()}
    due = due_rows(db, org, user.id, roles, templates=tpls)
    counts["due"] = len(due)
    rows = {k: (list(db.exec(q.order_by(Record.updated_at.desc()).limit(limit)).all()) if q is not None and k != "findings" else [])
            for k, q in qs.items()}
    findings = list(db.exec(qs["findings"].order_by(Finding.id).limit(limit)).all()) if qs["findings"] is not None else []
    return Todo(rows["act"], rows["returned"], due, findings, counts)


def count(db: Session, org: Organization, user, roles: set[str], cap: int | None = None) -> int:
    """The number in the top bar; with `cap`, at most that (each part is counted up to it, so the cost does
    not grow with a backlog: the top bar shows CAP as "99+")."""
    tpls = library.processes(db, org)
    n = _count(db, act_query(db, org, roles, tpls), cap) + _count(db, returned_query(db, org, user.id, roles, tpls), cap)
    n += _count(db, findings_query(org, roles), cap)
    n += due_count(db, org, user.id, roles, templates=tpls)
    return n if cap is None else min(n, cap)


# --- the top bar's number, kept per (organization, user) until the organization's chain moves --------------------
# Every write that can change the number appends an event to the organization's chain (a record, an edit, a
# transition or signature, a finding raised, answered or closed, a membership), which moves the chain head kept on
# the organization's row. The head (one primary-key read, made before counting: a write committed while counting
# moves it, so a count is never kept under a head older than what it saw), the adopted versions, the user's roles
# and today's date are the entry's stamp: any of them changing recounts. TTL bounds what a write outside the
# chain (a hand edit of the database) could leave stale.
TTL = 60.0
CACHE_MAX = 10_000
_HEAD = select(Organization.head_seq, Organization.head_hash).where(Organization.id == bindparam("todo_org"))


def top_bar_count(db: Session, org: Organization, user, roles: set[str], cache: dict) -> int:
    """count(..., cap=CAP), answered from `cache` (a dict the caller keeps for the process, e.g. per app) while
    the organization's chain head, its adopted versions, the user's roles and the date are those it was counted
    at, for at most TTL seconds."""
    if not roles & WORKER_ROLES:
        return 0
    head = tuple(db.exec(_HEAD.params(todo_org=org.id)).one())
    tpls = library.processes(db, org)
    stamp = (head, frozenset(roles), tuple(t.id for t in tpls), date.today())
    now = time.monotonic()
    hit = cache.get((org.id, user.id))
    if hit is not None and hit[0] == stamp and now - hit[2] < TTL:
        return hit[1]
    n = count(db, org, user, roles, cap=CAP)
    if len(cache) >= CACHE_MAX:
        cache.clear()
    cache[(org.id, user.id)] = (stamp, n, now)
    return n
