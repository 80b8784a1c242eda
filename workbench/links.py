"""Record links in an indexed table (issue #11): `record_link` holds one row per record-link field of a record
that points at a record of the same organization, so a record page finds the records linking to it (the
corrective action answering a nonconformity, the calibrations of an instrument) by index, never by reading
the records of the linking templates.

The rows are derived from the record's data and its own template version, exactly like the derived columns
(records.derived_fields): written by the same code path that writes records (`records.create` / `records.edit`
call `write`), rebuilt set-based for a whole organization (`rebuild`: the org archive restore) and by
migration 0016 for existing databases, and recomputed by `trail verify` (`problems`), so a row inserted,
removed or re-pointed by hand is reported.
"""
from __future__ import annotations

from typing import Optional

from sqlalchemy import Index, delete, insert, text
from sqlmodel import Field, Session, SQLModel, select


class RecordLink(SQLModel, table=True):
    """from_record's record-link field `field` points at to_record (both of organization org_id)."""
    __tablename__ = "record_link"
    __table_args__ = (Index("ix_record_link_to", "org_id", "to_record_id"),)
    from_record_id: Optional[int] = Field(default=None, foreign_key="record.id", primary_key=True)
    field: str = Field(max_length=200, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    to_record_id: int = Field(foreign_key="record.id")


def link_fields(body: dict) -> list[str]:
    """The template version's top-level record-link fields, in schema order."""
    return [n for n, f in (body["schema"].get("properties") or {}).items() if f.get("format") == "record-link"]


def _target(value) -> int | None:
    raw = str(value) if value is not None else ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 and int(raw) > 0 else None


def targets(body: dict, data: dict) -> dict[str, int]:
    """field -> record id named by the data's record-link fields (well-formed ids only; not yet checked)."""
    out = {}
    for name in link_fields(body):
        rid = _target((data or {}).get(name))
        if rid is not None:
            out[name] = rid
    return out


def expected_rows(db: Session, org_id: int, from_id: int, wanted: dict[str, int]) -> list[dict]:
    """The rows `wanted` gives: only targets that are records of the organization."""
    from workbench.models import Record

    ids = set(wanted.values())
    found = set(db.exec(select(Record.id).where(Record.id.in_(ids), Record.org_id == org_id)).all()) if ids else set()
    return [{"from_record_id": from_id, "field": f, "org_id": org_id, "to_record_id": t}
            for f, t in wanted.items() if t in found]


def write(db: Session, rec, body: dict, old_data: dict | None = None) -> None:
    """Store the record's links (a new record: old_data None; an edit: its rows are replaced when the links
    changed). Runs in the caller's transaction, after the record row was flushed."""
    wanted = targets(body, rec.data)
    if old_data is not None:
        if targets(body, old_data) == wanted:
            return
        db.execute(delete(RecordLink.__table__).where(RecordLink.__table__.c.from_record_id == rec.id))
    rows = expected_rows(db, rec.org_id, rec.id, wanted)
    if rows:
        db.execute(insert(RecordLink.__table__), rows)


def to_and_from(db: Session, rec, body: dict) -> list[tuple[str, object]]:
    """("to", r): records this one's link fields point at (in field order); ("from", r): records whose link
    fields point at this one (by id). Two indexed queries."""
    from workbench.models import Record

    t = RecordLink.__table__
    out: list[tuple[str, object]] = []
    to = db.exec(select(Record, t.c.field).join(t, t.c.to_record_id == Record.id)
                 .where(t.c.from_record_id == rec.id, Record.org_id == rec.org_id)).all()
    order = {n: i for i, n in enumerate(link_fields(body))}
    out += [("to", r) for r, _f in sorted(to, key=lambda x: order.get(x[1], len(order)))]
    back = select(t.c.from_record_id).where(t.c.org_id == rec.org_id, t.c.to_record_id == rec.id)
    out += [("from", r) for r in db.exec(select(Record).where(Record.id.in_(back), Record.org_id == rec.org_id)
                                         .order_by(Record.id)).all()]
    return out


# --- set-based (re)building: migration 0016 and the org archive restore ------------------------------------

_SQLITE = """
INSERT INTO record_link (from_record_id, field, org_id, to_record_id)
SELECT r.id, lf.field, r.org_id, t.id
FROM (SELECT pt.id AS template_id, p.key AS field
      FROM process_template pt, json_each(pt.body, '$.schema.properties') p
      WHERE json_extract(p.value, '$.format') = 'record-link') lf
CROSS JOIN record r
JOIN record t ON t.id = CAST(json_extract(r.data, '$."' || lf.field || '"') AS INTEGER) AND t.org_id = r.org_id
WHERE r.template_id = lf.template_id {where}
  AND CAST(json_extract(r.data, '$."' || lf.field || '"') AS TEXT) GLOB '[0-9]*'
  AND NOT CAST(json_extract(r.data, '$."' || lf.field || '"') AS TEXT) GLOB '*[^0-9]*'
  AND length(CAST(json_extract(r.data, '$."' || lf.field || '"') AS TEXT)) < 19
"""

_POSTGRES = """
INSERT INTO record_link (from_record_id, field, org_id, to_record_id)
SELECT r.id, lf.field, r.org_id, t.id
FROM (SELECT pt.id AS template_id, p.key AS field
      FROM process_template pt, json_each(pt.body -> 'schema' -> 'properties') p
      WHERE p.value ->> 'format' = 'record-link') lf
JOIN record r ON r.template_id = lf.template_id {where}
JOIN record t ON t.id = CASE WHEN (r.data ->> lf.field) ~ '^[0-9]{{1,18}}$' THEN CAST(r.data ->> lf.field AS BIGINT) END
     AND t.org_id = r.org_id
"""


def rebuild_sql(dialect: str, org_id: int | None = None) -> tuple[str, dict]:
    """INSERT … SELECT of every link row (of one organization, or all), for SQLite or PostgreSQL."""
    where = "AND r.org_id = :org" if org_id is not None else ""
    sql = (_POSTGRES if dialect == "postgresql" else _SQLITE).format(where=where)
    return sql, ({"org": org_id} if org_id is not None else {})


def rebuild(conn, org_id: int) -> int:
    """Replace the organization's link rows by those its records' data gives (conn: a Connection or Session)."""
    conn.execute(delete(RecordLink.__table__).where(RecordLink.__table__.c.org_id == org_id))
    sql, params = rebuild_sql(conn.get_bind().dialect.name if hasattr(conn, "get_bind") else conn.dialect.name, org_id)
    return conn.execute(text(sql), params).rowcount


# --- verification (`trail verify`, workbench.integrity): the rows are what the records' data gives ------------

def problems(db: Session, org_id: int, records, templates: dict) -> list:
    """Link rows of a batch of records (plain rows) against their data and template versions: one query for
    the stored rows, one for the targets. `templates`: the verifier's cache, template id -> ProcessTemplate."""
    from workbench.models import ProcessTemplate, Record
    from workbench.trail import Problem

    t = RecordLink.__table__
    wanted: dict[int, dict[str, int]] = {}
    for r in records:
        if r.template_id not in templates:
            templates[r.template_id] = db.get(ProcessTemplate, r.template_id)
        tpl = templates[r.template_id]
        wanted[r.id] = targets(tpl.body, r.data) if tpl is not None and link_fields(tpl.body) else {}  # data read if needed
    ids = {x for w in wanted.values() for x in w.values()}
    found = set(db.connection().execute(select(Record.__table__.c.id).where(
        Record.__table__.c.id.in_(ids), Record.__table__.c.org_id == org_id)).scalars()) if ids else set()
    stored: dict[int, set] = {}
    for row in db.connection().execute(select(t).where(t.c.from_record_id.in_(list(wanted)))).all():
        stored.setdefault(row.from_record_id, set()).add((row.field, row.org_id, row.to_record_id))
    out = []
    for rid, w in wanted.items():
        expect = {(f, org_id, x) for f, x in w.items() if x in found}
        if stored.get(rid, set()) != expect:
            out.append(Problem(f"record {rid}", "its record links (record_link) differ from its data"))
    return out


def stray(db: Session, org_id: int) -> list:
    """Link rows of the organization whose linking record is not one of its records."""
    from workbench.models import Record
    from workbench.trail import Problem

    t = RecordLink.__table__
    q = select(t.c.from_record_id).where(t.c.org_id == org_id, ~t.c.from_record_id.in_(
        select(Record.__table__.c.id).where(Record.__table__.c.org_id == org_id))).distinct()
    return [Problem(f"record link from {rid}", "names a record that is not this organization's (inserted)")
            for rid in db.connection().execute(q).scalars()]
