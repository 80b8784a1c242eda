"""Record counts kept by the database itself (issue #11): `record_day_tally` — records per organization, template
version and day (the coverage matrix reads it instead of grouping the period's records) — and `process_tally` —
records per process (the dashboard; workbench.latest).

Triggers on `record` keep both (migration 0021, SQLite and PostgreSQL): AFTER INSERT counts the new row, AFTER
DELETE uncounts the old one (org archive purge / --replace, the benchmark's floor rows), AFTER UPDATE OF org_id,
template_id, template_key, record_date moves the count when one of them changed (an edit that changes the date).
So every write path — records.create, records.edit, the bulk generator, the archive restore, an import, raw SQL —
keeps them right without a statement of its own. Counts are upserts (INSERT … ON CONFLICT DO UPDATE), so two
writers at once never both insert a row; a row whose count falls to 0 is deleted. A record without a
record_date is not counted by day (coverage skips it). The process row is taken before the day row, so a
transaction adding many records of one process (an import) and a single creation of the same process queue on
the process row holding nothing the other needs.

`trail verify` compares both tables with a GROUP BY over the records (`problems`): a tally edited by hand shows.
"""
from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from sqlalchemy import func, text
from sqlmodel import Field, Session, SQLModel, select

if TYPE_CHECKING:
    from workbench.trail import Problem


class RecordDayTally(SQLModel, table=True):
    __tablename__ = "record_day_tally"
    __table_args__ = ({"sqlite_with_rowid": False},)  # SQLite: the primary key holds the row
    # coverage reads one organization's period: (org, day) first, then the template versions of that day
    org_id: int = Field(foreign_key="organization.id", primary_key=True)
    record_date: date = Field(primary_key=True)
    template_id: int = Field(primary_key=True)  # no foreign key: derived rows, removed with their org's records
    records: int = 0


# --- the triggers (migration 0021) ------------------------------------------------------------------------------
# {r}: NEW or OLD; SQLite and PostgreSQL share the statements, each dialect wraps them its own way
_PROCESS_IN = ("INSERT INTO process_tally (org_id, template_key, records) VALUES ({r}.org_id, {r}.template_key, 1) "
               "ON CONFLICT (org_id, template_key) DO UPDATE SET records = process_tally.records + 1")
_DAY_IN = ("INSERT INTO record_day_tally (org_id, record_date, template_id, records) "
           "SELECT {r}.org_id, {r}.record_date, {r}.template_id, 1 WHERE {r}.record_date IS NOT NULL "
           "ON CONFLICT (org_id, record_date, template_id) DO UPDATE SET records = record_day_tally.records + 1")
_PROCESS_KEY = "org_id = {r}.org_id AND template_key = {r}.template_key"
_DAY_KEY = "org_id = {r}.org_id AND record_date = {r}.record_date AND template_id = {r}.template_id"


def _out(table: str, key: str) -> list[str]:
    return [f"UPDATE {table} SET records = records - 1 WHERE {key}", f"DELETE FROM {table} WHERE {key} AND records <= 0"]


PROCESS_OUT, DAY_OUT = _out("process_tally", _PROCESS_KEY), _out("record_day_tally", _DAY_KEY)
PROCESS_COLS, DAY_COLS = ("org_id", "template_key"), ("org_id", "template_id", "record_date")


def _sqlite_trigger(name: str, event: str, stmts: list[str], r: str, cols: tuple[str, ...] = ()) -> str:
    when = " OR ".join(f"old.{c} IS NOT new.{c}" for c in cols)
    return (f"CREATE TRIGGER {name} AFTER {event} ON record " + (f"WHEN {when} " if when else "") + "BEGIN "
            + " ".join(s.format(r=r) + ";" for s in stmts) + " END")


SQLITE_UP = [
    _sqlite_trigger("record_tally_ai", "INSERT", [_PROCESS_IN, _DAY_IN], "new"),
    _sqlite_trigger("record_tally_ad", "DELETE", PROCESS_OUT + DAY_OUT, "old"),
    # an update that moves the record: the new count first (a row never falls to 0 and back on the way)
    _sqlite_trigger("record_tally_au_process", "UPDATE OF org_id, template_key",
                    [_PROCESS_IN.format(r="new")] + [s.format(r="old") for s in PROCESS_OUT], "new", PROCESS_COLS),
    _sqlite_trigger("record_tally_au_day", "UPDATE OF org_id, template_id, record_date",
                    [_DAY_IN.format(r="new")] + [s.format(r="old") for s in DAY_OUT], "new", DAY_COLS),
]
SQLITE_DOWN = [f"DROP TRIGGER IF EXISTS {n}" for n in
               ("record_tally_ai", "record_tally_ad", "record_tally_au_process", "record_tally_au_day")]


def _pg_if(cond: str, stmts: list[str], r: str) -> str:
    return f"IF {cond} THEN " + " ".join(s.format(r=r) + ";" for s in stmts) + " END IF;"


def _moved(cols: tuple[str, ...]) -> str:
    return f"({', '.join('OLD.' + c for c in cols)}) IS DISTINCT FROM ({', '.join('NEW.' + c for c in cols)})"


POSTGRESQL_UP = [
    ("CREATE OR REPLACE FUNCTION record_tally() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "DECLARE by_process boolean := TG_OP <> 'UPDATE'; by_day boolean := TG_OP <> 'UPDATE';\nBEGIN\n"
    f"IF TG_OP = 'UPDATE' THEN by_process := {_moved(PROCESS_COLS)}; by_day := {_moved(DAY_COLS)}; END IF;\n"
    "IF TG_OP <> 'DELETE' THEN " + _pg_if("by_process", [_PROCESS_IN], "NEW") + " "
    + _pg_if("by_day AND NEW.record_date IS NOT NULL", [_DAY_IN], "NEW") + " END IF;\n"
    "IF TG_OP <> 'INSERT' THEN " + _pg_if("by_process", PROCESS_OUT, "OLD") + " "
    + _pg_if("by_day AND OLD.record_date IS NOT NULL", DAY_OUT, "OLD") + " END IF;\n"
    "RETURN NULL;\nEND $$"),
    ("CREATE TRIGGER record_tally AFTER INSERT OR DELETE OR UPDATE OF org_id, template_id, template_key, record_date "
     "ON record FOR EACH ROW EXECUTE FUNCTION record_tally()"),
]
POSTGRESQL_DOWN = ["DROP TRIGGER IF EXISTS record_tally ON record", "DROP FUNCTION IF EXISTS record_tally()"]


def create_triggers(conn) -> None:
    for stmt in POSTGRESQL_UP if conn.dialect.name == "postgresql" else SQLITE_UP:
        conn.exec_driver_sql(stmt)


def drop_triggers(conn) -> None:
    for stmt in POSTGRESQL_DOWN if conn.dialect.name == "postgresql" else SQLITE_DOWN:
        conn.exec_driver_sql(stmt)


# --- set-based ---------------------------------------------------------------------------------------------------

def backfill(conn, org_id: int | None = None) -> None:
    """Count the records of every organization (or one) by day: one INSERT … SELECT … GROUP BY (read from
    ix_record_frame), for an empty table (migration 0021) or after the organization's rows were removed."""
    where = "AND org_id = :org" if org_id is not None else ""
    conn.execute(text("INSERT INTO record_day_tally (org_id, record_date, template_id, records) "
                      "SELECT org_id, record_date, template_id, count(*) FROM record "
                      f"WHERE record_date IS NOT NULL {where} GROUP BY org_id, record_date, template_id"),
                 {"org": org_id} if org_id is not None else {})


def month_counts(db: Session, org_id: int, start: date, end: date, keys: list[str] | None = None) -> list[tuple]:
    """(template id, first day of the month, records) of the organization's records dated in [start, end] (of
    processes `keys`): the period's day rows summed by month in SQL (months × versions rows come back)."""
    from workbench.models import ProcessTemplate

    t = RecordDayTally.__table__
    if db.get_bind().dialect.name == "postgresql":
        month = func.date_trunc("month", t.c.record_date)
    else:
        month = func.strftime("%Y-%m-01", t.c.record_date)
    q = select(t.c.template_id, month, func.sum(t.c.records)).where(
        t.c.org_id == org_id, t.c.record_date >= start, t.c.record_date <= end)
    if keys:
        q = q.where(t.c.template_id.in_(select(ProcessTemplate.id).where(ProcessTemplate.key.in_(keys))))
    out = []
    for tid, m, n in db.connection().execute(q.group_by(t.c.template_id, month)):
        out.append((tid, date.fromisoformat(m) if isinstance(m, str) else date(m.year, m.month, 1), int(n)))
    return out


# one pass over the organization's records (an index alone) against the table; only disagreeing keys come back
_COMPARE = """
SELECT {key}, sum(kept), sum(counted) FROM (
  SELECT {key}, records AS kept, 0 AS counted FROM {table} WHERE org_id = :org
  UNION ALL
  SELECT {key}, 0, 1 FROM record WHERE org_id = :org {only}
) both_sides GROUP BY {key} HAVING sum(kept) <> sum(counted) ORDER BY {key} LIMIT {limit}
"""
SHOWN = 20


def problems(db: Session, org_id: int) -> list[Problem]:
    """The organization's rows of record_day_tally and process_tally that disagree with its records (a tally
    edited by hand, or written with the triggers off), in bounded memory (at most SHOWN of each)."""
    from workbench.trail import Problem

    out = []
    for table, key, only, what in (
            ("record_day_tally", "record_date, template_id", "AND record_date IS NOT NULL", "records of template version {1} on {0}"),
            ("process_tally", "template_key", "", "records of process {0}")):
        sql = _COMPARE.format(key=key, table=table, only=only, limit=SHOWN)
        for *k, kept, counted in db.connection().execute(text(sql), {"org": org_id}):
            out.append(Problem(f"{table} " + what.format(*k), f"counts {kept}, the records are {counted} (tally edited)"))
    return out
