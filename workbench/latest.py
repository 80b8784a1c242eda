"""Figures maintained on write (issue #11), so pages read them by key instead of going over an organization's
records per request: each subject's latest record (due items) and each process's number of records (the
dashboard).

A due-date process (`schedule.due_field` + `subject_field`: instruments, licences, vessels) is due per subject
on the due date of the subject's latest record. `subject_latest` holds, per (organization, process, subject),
that latest record: ranked by (record_date, else due_date; then id), a record without a subject being its own
subject ("#<id>"); only records carrying a subject or a due date take part (records.derived_fields). A newer
record without a due date clears the subject (a licence now 长期有效): its row stays, with due_date NULL.

Kept by the code that writes records (`note` from records.create / records.edit), rebuilt set-based for an
organization (`rebuild`: migration 0016's backfill, the org archive restore, the bulk generator of the
benchmarks). An edit that moves a record's subject or dates re-ranks the subjects concerned with one query
each (over the process's records of that subject).

`process_tally` counts each process's records: kept by triggers on `record` (migration 0021, workbench.tallies),
so creating a record runs no statement of its own for it.
"""
from __future__ import annotations

from datetime import date
from typing import Optional

from sqlalchemy import Index, and_, delete, func, or_, text
from sqlmodel import Field, Session, SQLModel, select


class SubjectLatest(SQLModel, table=True):
    __tablename__ = "subject_latest"
    __table_args__ = (Index("ix_subject_latest_due", "org_id", "template_key", "due_date"),)
    org_id: Optional[int] = Field(default=None, foreign_key="organization.id", primary_key=True)
    template_key: str = Field(max_length=64, primary_key=True)
    subject: str = Field(max_length=220, primary_key=True)  # the record's subject, or "#<record id>"
    record_id: int = Field(foreign_key="record.id")
    rank_date: Optional[date] = None  # record_date, else due_date
    due_date: Optional[date] = None


class ProcessTally(SQLModel, table=True):
    __tablename__ = "process_tally"
    org_id: Optional[int] = Field(default=None, foreign_key="organization.id", primary_key=True)
    template_key: str = Field(max_length=64, primary_key=True)
    records: int = 0


def _upsert(db: Session, table, values: dict, keys: list[str], set_: dict, where=None) -> None:
    """INSERT … ON CONFLICT (keys) DO UPDATE (SQLite and PostgreSQL): one atomic statement, so concurrent
    writers never both insert the same row."""
    if db.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    stmt = dialect_insert(table).values(**values)
    db.execute(stmt.on_conflict_do_update(index_elements=keys, set_={k: v(stmt.excluded) for k, v in set_.items()},
                                          where=where(stmt.excluded) if where is not None else None))


def tallies(db: Session, org_id: int) -> dict[str, int]:
    """Process key -> number of records (one row per process)."""
    t = ProcessTally.__table__
    return dict(db.execute(select(t.c.template_key, t.c.records).where(t.c.org_id == org_id)).all())


def _key(rec) -> str:
    return rec.subject if rec.subject is not None else f"#{rec.id}"


def _takes_part(rec) -> bool:
    return rec.subject is not None or rec.due_date is not None


def _put(db: Session, rec, only_if_newer: bool = False) -> None:
    """Make `rec` its subject's row (only_if_newer: unless the row holds a later record — decided by the
    database, in the same statement)."""
    t = SubjectLatest.__table__

    def newer(new):
        return or_(new.rank_date > t.c.rank_date, and_(new.rank_date == t.c.rank_date, new.record_id > t.c.record_id),
                   and_(t.c.rank_date.is_(None), or_(new.rank_date.is_not(None), new.record_id > t.c.record_id)))
    _upsert(db, t, {"org_id": rec.org_id, "template_key": rec.template_key, "subject": _key(rec), "record_id": rec.id,
                    "rank_date": rec.record_date or rec.due_date, "due_date": rec.due_date},
            ["org_id", "template_key", "subject"],
            {c: (lambda new, c=c: new[c]) for c in ("record_id", "rank_date", "due_date")},
            where=newer if only_if_newer else None)


def note(db: Session, rec, before: tuple | None = None) -> None:
    """Keep the table right after `rec` was created (before None) or edited (before: its (subject,
    record_date, due_date) before the edit)."""
    if before is None:
        if _takes_part(rec):
            _put(db, rec, only_if_newer=True)
        return
    if before == (rec.subject, rec.record_date, rec.due_date):
        return
    for key in {_key(rec), before[0] if before[0] is not None else f"#{rec.id}"}:
        rerank(db, rec.org_id, rec.template_key, key)


def rerank(db: Session, org_id: int, template_key: str, key: str) -> None:
    """Recompute one subject's row from its records (the subject "#<id>": that record, if it has no subject)."""
    from workbench.models import Record

    same = Record.subject == key
    if key.startswith("#") and key[1:].isascii() and key[1:].isdigit():
        same = or_(same, and_(Record.subject.is_(None), Record.id == int(key[1:])))
    rank = func.coalesce(Record.record_date, Record.due_date)
    best = db.exec(select(Record).where(Record.org_id == org_id, Record.template_key == template_key, same,
                                        or_(Record.subject.is_not(None), Record.due_date.is_not(None)))
                   .order_by(rank.is_(None), rank.desc(), Record.id.desc()).limit(1)).first()
    if best is not None:
        _put(db, best)
        return
    t = SubjectLatest.__table__
    db.execute(delete(t).where(t.c.org_id == org_id, t.c.template_key == template_key, t.c.subject == key))


# --- set-based: migration 0016, the org archive restore, the bulk generator ------------------------------------

_REBUILD = """
INSERT INTO subject_latest (org_id, template_key, subject, record_id, rank_date, due_date)
SELECT org_id, template_key, k, id, rd, due_date FROM (
  SELECT id, org_id, template_key, due_date, COALESCE(record_date, due_date) AS rd,
         COALESCE(subject, '#' || CAST(id AS VARCHAR(20))) AS k,
         row_number() OVER (PARTITION BY org_id, template_key, COALESCE(subject, '#' || CAST(id AS VARCHAR(20)))
                            ORDER BY CASE WHEN COALESCE(record_date, due_date) IS NULL THEN 0 ELSE 1 END DESC,
                                     COALESCE(record_date, due_date) DESC, id DESC) AS n
  FROM record WHERE (due_date IS NOT NULL OR subject IS NOT NULL) {where}) ranked
WHERE n = 1
"""

_TALLY = """
INSERT INTO process_tally (org_id, template_key, records)
SELECT org_id, template_key, count(*) FROM record WHERE 1 = 1 {where} GROUP BY org_id, template_key
"""


def rebuild_sql(org_id: int | None = None, template_key: str | None = None) -> list[tuple[str, dict]]:
    """The INSERT … SELECT statements filling both tables (of one organization / process, or all)."""
    where, params = "", {}
    if org_id is not None:
        where, params["org"] = "AND org_id = :org", org_id
    if template_key is not None:
        where, params["key"] = where + " AND template_key = :key", template_key
    return [(_REBUILD.format(where=where), params), (_TALLY.format(where=where), params)]


def rebuild(conn, org_id: int, template_key: str | None = None) -> None:
    """Replace the organization's rows (of one process, or all) by what its records give."""
    if isinstance(conn, Session):  # rows of the tables the session holds would be stale
        for obj in [o for o in conn.identity_map.values() if isinstance(o, (SubjectLatest, ProcessTally))]:
            conn.expunge(obj)
    for t in (SubjectLatest.__table__, ProcessTally.__table__):
        cond = [t.c.org_id == org_id] + ([t.c.template_key == template_key] if template_key is not None else [])
        conn.execute(delete(t).where(*cond))
    for sql, params in rebuild_sql(org_id, template_key):
        conn.execute(text(sql), params)


def due_query(org_id: int, key: str, due_until: date | None = None):
    """SELECT of the record ids of process `key` whose subject's latest record has a due date (up to
    `due_until`): what latest_records reads, for counting."""
    from workbench.models import Record

    q = select(SubjectLatest.record_id).join(Record, SubjectLatest.record_id == Record.id).where(
        SubjectLatest.org_id == org_id, SubjectLatest.template_key == key, SubjectLatest.due_date.is_not(None))
    return q.where(SubjectLatest.due_date <= due_until) if due_until is not None else q


def latest_records(db: Session, org_id: int, key: str, due_until: date | None = None, limit: int | None = None):
    """(record, row) of each subject of process `key` whose latest record has a due date (up to `due_until`),
    soonest first."""
    from workbench.models import Record

    q = select(Record, SubjectLatest).join(SubjectLatest, SubjectLatest.record_id == Record.id).where(
        SubjectLatest.org_id == org_id, SubjectLatest.template_key == key, SubjectLatest.due_date.is_not(None))
    if due_until is not None:
        q = q.where(SubjectLatest.due_date <= due_until)
    q = q.order_by(SubjectLatest.due_date, SubjectLatest.subject).execution_options(populate_existing=True)
    return db.exec(q.limit(limit) if limit else q).all()

