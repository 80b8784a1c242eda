"""Record values: each record's top-level scalar field values in a side table, `record_value`, so that a list
sorts by a template field and filters on its enum / date / boolean fields by walking one index
(ix_record_value: org_id, template_key, field, vnum, vtext, record_id) instead of parsing every record's JSON.

One row per (record, field) for every top-level key of the record's data holding a scalar, and for every
scalar property of its template version the data lacks (a NULL row, so a sort by that field still lists the
record, where NULLs sort: SQLite first ascending, PostgreSQL last). Encoding:
    string  -> vtext (its first TEXT_MAX characters; a btree entry must stay small), vnum NULL
    number  -> vnum, vtext NULL
    boolean -> vtext 'true' / 'false' and vnum 1 / 0
    null / missing -> both NULL
so ORDER BY vnum, vtext, record_id orders every kind as listing sorted the JSON value before (numbers as
numbers, strings as text in the database's collation, booleans false < true, ties by record number).

Written by the code paths that write records: records.create (one executemany INSERT) and records.edit
(DELETE + INSERT), bench/chain_data.py (bulk), archive restore and migration 0020 (`backfill`, set-based SQL
computing exactly what `rows_of` computes).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert
from sqlalchemy import text as sql_text

from workbench.models import RecordValue

TEXT_MAX = 200
FIELD_MAX = 200
SCALAR_TYPES = ("string", "number", "integer", "boolean")


def scalar_properties(body: dict) -> list[str]:
    """The template's top-level properties whose values are scalars (by their JSON Schema "type")."""
    props = (body.get("schema") or {}).get("properties") or {}
    return [n for n, f in props.items() if isinstance(f, dict) and f.get("type") in SCALAR_TYPES]


def encode(value: Any) -> tuple[str | None, float | None] | None:
    """(vtext, vnum) of a JSON value; None for objects and arrays (not stored)."""
    if isinstance(value, bool):
        return ("true", 1.0) if value else ("false", 0.0)
    if isinstance(value, (int, float)):
        return None, float(value)
    if isinstance(value, str):
        return value[:TEXT_MAX], None
    if value is None:
        return None, None
    return None


def rows_of(rec_id: int, org_id: int, template_key: str, body: dict, data: dict) -> list[dict]:
    out = []
    for name, value in data.items():
        enc = encode(value)
        if enc is not None and len(name) <= FIELD_MAX:
            out.append({"record_id": rec_id, "field": name, "org_id": org_id, "template_key": template_key,
                        "vtext": enc[0], "vnum": enc[1]})
    out += [{"record_id": rec_id, "field": name, "org_id": org_id, "template_key": template_key, "vtext": None,
             "vnum": None} for name in scalar_properties(body) if name not in data and len(name) <= FIELD_MAX]
    return out


def write(db, rec, body: dict, replace: bool = False) -> None:
    """Store the record's values (one executemany INSERT; `replace`: the record's old rows are deleted first)."""
    table = RecordValue.__table__  # Core statements on the session's connection: no ORM bulk-insert machinery
    conn = db.connection()
    if replace:
        conn.execute(delete(table).where(table.c.record_id == rec.id))
    rows = rows_of(rec.id, rec.org_id, rec.template_key, body, rec.data)
    if rows:
        conn.execute(insert(table), rows)


def backfill(conn, org_id: int | None = None) -> int:
    """Insert the values of every record (all, or one organization's: the caller knows they have none yet —
    migration 0020, an archive restore), in two INSERT … SELECT statements: the data's scalar values
    (json_each) and the NULL rows of the template's scalar properties the data lacks. Returns the rows inserted."""
    org = " AND r.org_id = :org" if org_id is not None else ""
    params: dict[str, Any] = {"org": org_id} if org_id is not None else {}
    if conn.dialect.name == "sqlite":
        stmts = [
            "INSERT INTO record_value (record_id, field, org_id, template_key, vtext, vnum) "
            "SELECT r.id, j.key, r.org_id, r.template_key, "
            f"CASE j.type WHEN 'text' THEN substr(j.value, 1, {TEXT_MAX}) WHEN 'true' THEN 'true' WHEN 'false' THEN 'false' END, "
            "CASE j.type WHEN 'integer' THEN CAST(j.value AS REAL) WHEN 'real' THEN j.value WHEN 'true' THEN 1.0 "
            "WHEN 'false' THEN 0.0 END "
            "FROM record r, json_each(r.data) j "
            f"WHERE j.type NOT IN ('object', 'array') AND length(j.key) <= {FIELD_MAX}" + org,
            "INSERT INTO record_value (record_id, field, org_id, template_key, vtext, vnum) "
            "SELECT r.id, p.key, r.org_id, r.template_key, NULL, NULL "
            "FROM record r JOIN process_template t ON t.id = r.template_id, json_each(t.body, '$.schema.properties') p "
            f"WHERE json_extract(p.value, '$.type') IN {SCALAR_TYPES} AND length(p.key) <= {FIELD_MAX} "
            "AND json_type(r.data, '$.\"' || replace(p.key, '\"', '\"\"') || '\"') IS NULL" + org,
        ]
    else:
        stmts = [
            "INSERT INTO record_value (record_id, field, org_id, template_key, vtext, vnum) "
            "SELECT r.id, j.key, r.org_id, r.template_key, "
            f"CASE json_typeof(j.value) WHEN 'string' THEN substr(j.value #>> '{{}}', 1, {TEXT_MAX}) "
            "WHEN 'boolean' THEN j.value::text END, "
            "CASE json_typeof(j.value) WHEN 'number' THEN (j.value::text)::double precision "
            "WHEN 'boolean' THEN CASE WHEN j.value::text = 'true' THEN 1.0 ELSE 0.0 END END "
            "FROM record r, json_each(r.data::json) j "
            f"WHERE json_typeof(j.value) NOT IN ('object', 'array') AND length(j.key) <= {FIELD_MAX}" + org,
            "INSERT INTO record_value (record_id, field, org_id, template_key, vtext, vnum) "
            "SELECT r.id, p.key, r.org_id, r.template_key, NULL, NULL "
            "FROM record r JOIN process_template t ON t.id = r.template_id, "
            "json_each(t.body::json -> 'schema' -> 'properties') p "
            f"WHERE (p.value ->> 'type') IN {SCALAR_TYPES} AND length(p.key) <= {FIELD_MAX} "
            "AND (r.data::json -> p.key) IS NULL" + org,
        ]
    return sum(conn.execute(sql_text(stmt), params).rowcount for stmt in stmts)
