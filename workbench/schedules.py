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
from functools import lru_cache
from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import bindparam, func, literal, union_all
from sqlmodel import Session, select

from workbench import latest, library
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
    return versions_of_ids(db, {r.template_id for r in recs})


def versions_of_ids(db: Session, ids: set[int]) -> dict[int, dict]:
    if not ids:
        return {}
    return {t.id: t.body for t in library.versions(db, ids)}


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


def last_done(db: Session, org: Organization, keys: list[str], known: list[ProcessTemplate] = ()) -> dict[str, Record]:
    """For each process key: its latest record in a final state of the version it was made with. One index
    seek per (process, final state) (ix_record_todo: organization, process, state, date), all in one
    statement, then the winning records in one more: never the processes' histories. `known`: versions
    already loaded (the adopted ones), whose bodies are not read again."""
    if not keys:
        return {}
    bodies = {t.id: t.body for t in known}
    versions = db.exec(select(ProcessTemplate.id, ProcessTemplate.key).where(
        ProcessTemplate.key.in_(keys), (ProcessTemplate.org_id == org.id) | ProcessTemplate.org_id.is_(None))).all()
    if any(vid not in bodies for vid, _k in versions):
        bodies.update(versions_of_ids(db, {vid for vid, _k in versions if vid not in bodies}))
    finals: dict[tuple[str, str], list[int]] = {}
    for vid, key in versions:
        for s in bodies[vid]["workflow"]["states"]:
            if is_final(bodies[vid], s):
                finals.setdefault((key, s), []).append(vid)
    if not finals:
        return {}
    best: dict[str, tuple] = {}
    shape = tuple((key, s, tuple(ids)) for (key, s), ids in sorted(finals.items()))
    for key, rid, day in db.exec(_newest_done(shape), params={"org": org.id}).all():
        best[key] = max(best.get(key, (day, rid)), (day, rid))
    if not best:
        return {}
    recs = {r.id: r for r in db.exec(select(Record).where(Record.id.in_([rid for _d, rid in best.values()]))).all()}
    return {key: recs[rid] for key, (_d, rid) in best.items()}


def _latest_per_subject(db: Session, org: Organization, key: str) -> list[Record]:
    """Each subject's latest record, as maintained on write (workbench.latest: one indexed read)."""
    return [r for r, _row in latest.latest_records(db, org.id, key)]


def due_items(db: Session, org: Organization, today: date | None = None) -> list[DueItem]:
    """The schedule items of the organization: reads one record per periodic process and one per subject
    (SQL picks them), never the whole history."""
    today = today or date.today()
    items: list[DueItem] = []
    scheduled = [t for t in library.processes(db, org) if t.body.get("schedule")]
    done = last_done(db, org, [t.key for t in scheduled if "every_months" in t.body["schedule"]], scheduled)
    bodies = {t.id: t.body for t in scheduled}
    bodies.update(versions_of_ids(db, {r.template_id for r in done.values()} - set(bodies)))
    for tpl in scheduled:
        if "every_months" in tpl.body["schedule"]:
            items.append(periodic_item(tpl, [done[tpl.key]] if tpl.key in done else [], today, bodies))
        else:
            items.extend(subject_items(tpl, _latest_per_subject(db, org, tpl.key), today))
    return sorted(items, key=lambda i: (i.due, i.template.key, i.subject or ""))


@dataclass
class DueColumn:
    count: int  # all items of the status
    items: list[DueItem]  # the first `shown`, in due_items' order


def due_board(db: Session, org: Organization, today: date | None = None, shown: int = 8) -> dict[str, DueColumn]:
    """The dashboard's columns: summary(due_items(...)) counted, and its first `shown` items per status, without
    loading every subject's record. Subjects are counted per status in `subject_latest` (one statement over its
    due-date index for all processes), the first `shown` per (process, status) read in a second, and only the
    records shown are loaded (a third)."""
    today = today or date.today()
    scheduled = [t for t in library.processes(db, org) if t.body.get("schedule")]
    periodic = [t for t in scheduled if "every_months" in t.body["schedule"]]
    done = last_done(db, org, [t.key for t in periodic], scheduled)
    bodies = {t.id: t.body for t in scheduled}
    bodies.update(versions_of_ids(db, {r.template_id for r in done.values()} - set(bodies)))
    cols = summary([periodic_item(t, [done[t.key]] if t.key in done else [], today, bodies) for t in periodic])
    counts = {s: len(v) for s, v in cols.items()}
    by_key = {t.key: t for t in scheduled if "every_months" not in t.body["schedule"]}
    if by_key:
        shape = (db.get_bind().dialect.name, tuple(sorted(by_key)), shown)
        params = {"org": org.id, "today": today}
        for i, k in enumerate(shape[1]):
            params[f"soon{i}"] = today + timedelta(days=by_key[k].body["schedule"].get("warn_days", DEFAULT_WARN_DAYS))
        for status, n in db.exec(_bucket_counts(shape), params=params).all():
            counts[status] += n or 0
        rows = db.exec(_bucket_firsts(shape), params=params).all()
        recs = {r.id: r for r in db.exec(select(Record).where(Record.id.in_([r[3] for r in rows]))).all()} if rows else {}
        for status, key, _subject, rid in rows:
            r = recs[rid]
            cols[status].append(DueItem(by_key[key], r.subject or f"#{r.id}", r.due_date, status, r))
    order = lambda i: (i.due, i.template.key, i.subject or "")  # noqa: E731
    return {s: DueColumn(counts[s], sorted(items, key=order)[:shown]) for s, items in cols.items()}


def _buckets(shape: tuple):
    """(status, condition) per process of `shape`, on subject_latest's due date."""
    t = latest.SubjectLatest.__table__
    out = []
    for i, k in enumerate(shape[1]):
        mine = (t.c.org_id == bindparam("org")) & (t.c.template_key == k)
        soon = bindparam(f"soon{i}")
        out += [("overdue", k, mine & (t.c.due_date < bindparam("today"))),
                ("due_soon", k, mine & (t.c.due_date >= bindparam("today")) & (t.c.due_date <= soon)),
                ("done", k, mine & (t.c.due_date > soon))]
    return t, out


@lru_cache(maxsize=64)
def _bucket_counts(shape: tuple):
    """(status, number of subjects) per process and status: ranges of ix_subject_latest_due."""
    t, buckets = _buckets(shape)
    return union_all(*[select(literal(s).label("s"), select(func.count()).select_from(t).where(cond)
                              .scalar_subquery().label("n")) for s, _k, cond in buckets])


@lru_cache(maxsize=64)
def _bucket_firsts(shape: tuple):
    """(status, process, subject, record id) of the first `shown` subjects per process and status, in the
    order due_items sorts them (due date, then subject in code-point order: "C" collation on PostgreSQL)."""
    t, buckets = _buckets(shape)
    subject = t.c.subject.collate("C") if shape[0] == "postgresql" else t.c.subject
    firsts = [select(literal(s).label("s"), literal(k).label("k"), t.c.subject, t.c.record_id).where(cond)
              .order_by(t.c.due_date, subject).limit(shape[2]).subquery() for s, k, cond in buckets]
    return union_all(*[select(q.c.s, q.c.k, q.c.subject, q.c.record_id) for q in firsts])


def process_stats(db: Session, org: Organization, keys: list[str]) -> dict[str, tuple[int, date | None]]:
    """Process key -> (number of records, latest record date): the maintained tally (workbench.latest) and one
    index seek per process for the date (ix_record_list), in one statement."""
    if not keys:
        return {}
    counts = latest.tallies(db, org.id)
    last = dict(db.exec(_newest_dates(tuple(sorted(set(keys)))), params={"org": org.id}).all())
    return {k: (counts[k], last.get(k)) for k in counts}


# The UNION ALL statements are built once per shape (the organization is a bound parameter): building dozens of
# subqueries per request costs more than running them.

@lru_cache(maxsize=256)
def _newest_done(shape: tuple):
    """(key, id, date) of the newest record per (process, final state, versions) in `shape`."""
    newest = [select(Record.template_key, Record.id, Record.record_date).where(
        Record.org_id == bindparam("org"), Record.template_key == key, Record.state == s, Record.template_id.in_(ids),
        Record.record_date.is_not(None)).order_by(Record.record_date.desc(), Record.id.desc()).limit(1).subquery()
        for key, s, ids in shape]
    return union_all(*[select(q.c.template_key, q.c.id, q.c.record_date) for q in newest])


@lru_cache(maxsize=256)
def _newest_dates(keys: tuple):
    """(key, latest record date) per process: one index seek each (ix_record_list)."""
    return union_all(*[select(literal(k).label("k"), select(Record.record_date).where(
        Record.org_id == bindparam("org"), Record.template_key == k, Record.record_date.is_not(None))
        .order_by(Record.record_date.desc()).limit(1).scalar_subquery().label("d")) for k in keys])


def summary(items: list[DueItem]) -> dict[str, list[DueItem]]:
    out: dict[str, list[DueItem]] = {"overdue": [], "due_soon": [], "done": []}
    for i in items:
        out[i.status].append(i)
    return out
