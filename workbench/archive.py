"""Organization backup and restore: one zip archive per organization (format: docs/org-archive.md).

Which tables belong to an organization is derived from the schema: every table with a foreign key to
`organization.id` ("org tables"), and every table with a foreign key to a row of one of those ("child tables"),
to a fixpoint. Users and shipped template versions are shared rows: users are written by reference (linked by
e-mail on import, never overwritten), shipped templates by (key, version). `EXCLUDED` names the tables that are
deliberately not archived; tests/test_org_backup.py fails on any org table that is neither planned nor excluded.

Ids: every archived row keeps its original primary key on import (so ids inside JSON — record-link fields,
event details, sample/finding digests — stay true); only the organization's id, user ids (linked by e-mail)
and shipped template ids are remapped. An event whose hashed org_id / actor_id changed stores the original
values in `event.origin`, which `trail.event_payload` uses, so the chain verifies with the same head hash.
An id already taken in the target instance is refused (located message); the import is one transaction.
"""
from __future__ import annotations

import base64
import hashlib
import io
import json
import platform
import zipfile
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection
from sqlmodel import SQLModel

from workbench import record_values, search
from workbench.errors import UserError

FORMAT = "processbench-org-archive"
FORMAT_VERSION = 1
SHARED = {"organization", "user"}  # shared rows, archived by reference (shipped templates: by key and version)
# tables with an organization key that are not part of an organization's archive, and why
EXCLUDED: dict[str, str] = {
    "outbox": "transient delivery queue (messages are re-generated, not restored)",
    "record_link": "derived from the records' data: rebuilt on restore (workbench.links.rebuild)",
    "subject_latest": "derived from the records: rebuilt on restore (workbench.latest.rebuild)",
    "process_tally": "derived from the records: rebuilt on restore (workbench.latest.rebuild)",
    "record_day_tally": "derived from the records: kept by triggers on record (workbench.tallies)",
    "record_value": "derived from record.data (list sorting and filters); rebuilt on restore",
}


class ArchiveError(UserError):
    """The archive is damaged, does not match its manifest, or cannot be restored here."""


def _tables() -> dict[str, sa.Table]:
    import workbench.models  # noqa: F401  (registers every table)

    return dict(SQLModel.metadata.tables)


def _refs(t: sa.Table) -> list[tuple[str, str]]:
    return [(fk.parent.name, fk.column.table.name) for fk in t.foreign_keys]


def org_tables() -> list[str]:
    """Every table with a foreign key to organization (org_id, client_org_id, cb_org_id…)."""
    return sorted(n for n, t in _tables().items() if n != "organization"
                  and any(target == "organization" for _, target in _refs(t)))


def plan() -> list[str]:
    """The archived tables in insertion order (parents first), shared tables excluded."""
    tables = _tables()
    scope = {n for n in org_tables() if n not in EXCLUDED and n not in SHARED}
    grew = True
    while grew:
        grew = False
        for n, t in tables.items():
            if n in scope or n in SHARED or n in EXCLUDED:
                continue
            if any(target in scope for _, target in _refs(t)):
                scope.add(n)
                grew = True
    order = [t.name for t in SQLModel.metadata.sorted_tables if t.name in scope]
    return order


def _row_filter(name: str, org_id: int, memo: dict) -> sa.ColumnElement:
    """The WHERE clause selecting the organization's rows of table `name`."""
    if name in memo:
        return memo[name]
    t = _tables()[name]
    conds = []
    for col, target in _refs(t):
        if target == "organization":
            conds.append(t.c[col] == org_id)
    if not conds:
        for col, target in _refs(t):
            if target in SHARED or target == name:
                continue
            pt = _tables()[target]
            conds.append(t.c[col].in_(sa.select(pt.c.id).where(_row_filter(target, org_id, memo))))
    memo[name] = sa.or_(*conds)
    return memo[name]


# --- values ------------------------------------------------------------------------------------------

def _dump(v: Any) -> Any:
    if isinstance(v, datetime):
        if v.tzinfo is None:
            v = v.replace(tzinfo=timezone.utc)
        return v.isoformat()
    if isinstance(v, date):
        return v.isoformat()
    if isinstance(v, (bytes, bytearray, memoryview)):
        return base64.b64encode(bytes(v)).decode()
    return v


def _load(col: sa.Column, v: Any) -> Any:
    if v is None:
        return None
    typ = getattr(col.type, "impl_instance", col.type)  # a TypeDecorator (UTC datetimes): its underlying type
    if isinstance(typ, sa.DateTime):
        return datetime.fromisoformat(v)
    if isinstance(typ, sa.Date):
        return date.fromisoformat(v)
    if isinstance(typ, sa.LargeBinary):
        return base64.b64decode(v)
    return v


# --- export ------------------------------------------------------------------------------------------

@dataclass
class ExportResult:
    path: Path
    counts: dict[str, int]
    head_seq: int
    head_hash: str


class _Member:
    """A zip member written in pieces while its SHA-256 is computed."""

    def __init__(self, zf: zipfile.ZipFile, name: str, digests: dict) -> None:
        self.f = zf.open(name, "w", force_zip64=True)
        self.h = hashlib.sha256()
        self.name, self.digests = name, digests

    def write(self, b: bytes) -> None:
        self.h.update(b)
        self.f.write(b)

    def close(self) -> None:
        self.f.close()
        self.digests[self.name] = self.h.hexdigest()


def _line(row: dict) -> bytes:
    # key order kept: derived columns depend on the order of keys in record data
    return (json.dumps(row, ensure_ascii=False, default=str) + "\n").encode("utf-8")


def export_org(conn: Connection, slug: str, path: Path, batch: int = 500) -> ExportResult:
    """Write organization `slug` to the zip at `path`, streaming rows per table (`yield_per`)."""
    from workbench import __name__ as app_name
    from workbench.trail import GENESIS

    tables = _tables()
    org_t, user_t, tpl_t = tables["organization"], tables["user"], tables["process_template"]
    org = conn.execute(sa.select(org_t).where(org_t.c.slug == slug)).mappings().first()
    if org is None:
        raise ArchiveError(f"no organization with slug {slug!r}")
    org_id = org["id"]
    memo: dict = {}
    digests: dict[str, str] = {}
    counts: dict[str, int] = {}
    users: set[int] = set()
    templates: set[int] = set()
    attachments: dict[str, int] = {}  # sha256 → one attachment id with these bytes
    others: set[int] = set()  # other organizations a row refers to (a certification body, its clients)
    order = plan()
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED, allowZip64=True) as zf:
        m = _Member(zf, "tables/organization.jsonl", digests)
        m.write(_line({k: _dump(v) for k, v in org.items()}))
        m.close()
        counts["organization"] = 1
        for name in order:
            t = tables[name]
            user_cols = [c for c, target in _refs(t) if target == "user"]
            tpl_cols = [c for c, target in _refs(t) if target == "process_template"]
            org_cols = [c for c, target in _refs(t) if target == "organization"]
            m = _Member(zf, f"tables/{name}.jsonl", digests)
            n = 0
            result = conn.execution_options(yield_per=batch).execute(
                sa.select(t).where(_row_filter(name, org_id, memo)).order_by(*t.primary_key.columns))
            for row in result.mappings():
                d = {}
                for k, v in row.items():
                    if name == "attachment" and k == "content":  # the bytes go to their own member, below
                        sha = hashlib.sha256(v).hexdigest()
                        attachments.setdefault(sha, row["id"])
                        d[k] = {"file": f"attachments/{sha}"}
                    else:
                        d[k] = _dump(v)
                users.update(row[c] for c in user_cols if row[c] is not None)
                others.update(row[c] for c in org_cols if row[c] not in (None, org_id))
                templates.update(row[c] for c in tpl_cols if row[c] is not None)
                m.write(_line(d))
                n += 1
            m.close()
            counts[name] = n
            if name == "attachment":  # one member per distinct file (a zip has one writing handle at a time)
                att = tables["attachment"]
                ids = sorted(attachments.values())
                for i in range(0, len(ids), batch):
                    for row in conn.execution_options(yield_per=50).execute(
                            sa.select(att.c.content).where(att.c.id.in_(ids[i:i + batch]))):
                        sha = hashlib.sha256(row.content).hexdigest()
                        if f"attachments/{sha}" not in digests:
                            a = _Member(zf, f"attachments/{sha}", digests)
                            a.write(bytes(row.content))
                            a.close()
        # shared rows the organization's rows refer to
        tpl_rows = conn.execute(sa.select(tpl_t).where(tpl_t.c.org_id.is_(None), tpl_t.c.id.in_(templates))
                                .order_by(tpl_t.c.id)).mappings().all()
        m = _Member(zf, "tables/shipped_template.jsonl", digests)
        for r in tpl_rows:
            m.write(_line({k: _dump(v) for k, v in r.items()}))
        m.close()
        counts["shipped_template"] = len(tpl_rows)
        members_of = sa.select(tables["membership"].c.user_id).where(tables["membership"].c.org_id == org_id)
        user_rows = conn.execute(sa.select(user_t.c.id, user_t.c.email, user_t.c.name, user_t.c.password_hash,
                                           user_t.c.locale)
                                 .where(sa.or_(user_t.c.id.in_(users), user_t.c.id.in_(members_of)))
                                 .order_by(user_t.c.id)).mappings().all()
        m = _Member(zf, "tables/user.jsonl", digests)
        for r in user_rows:
            m.write(_line(dict(r)))
        m.close()
        counts["user"] = len(user_rows)
        ev = tables["event"]
        head = conn.execute(sa.select(ev.c.seq, ev.c.hash).where(ev.c.org_id == org_id)
                            .order_by(ev.c.seq.desc()).limit(1)).first()
        related = {r.id: r.slug for r in
                   conn.execute(sa.select(org_t.c.id, org_t.c.slug).where(org_t.c.id.in_(others)))}
        manifest = {
            "format": FORMAT, "format_version": FORMAT_VERSION,
            "source": {"app": app_name, "dialect": conn.dialect.name, "python": platform.python_version(),
                       "host": platform.node(), "exported_at": datetime.now(timezone.utc).isoformat()},
            "organization": {"id": org_id, "slug": org["slug"], "name": org["name"]},
            "related_organizations": {str(k): v for k, v in sorted(related.items())},
            "tables": ["organization", "shipped_template", "user", *order],
            "counts": counts, "attachments": len(attachments),
            "chain_head": {"seq": head.seq if head else 0, "hash": head.hash if head else GENESIS},
            "sha256": dict(sorted(digests.items())),
        }
        zf.writestr("manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1, sort_keys=True))
    return ExportResult(path, counts, manifest["chain_head"]["seq"], manifest["chain_head"]["hash"])


# --- import ------------------------------------------------------------------------------------------

@dataclass
class ImportResult:
    org_id: int
    slug: str
    counts: dict[str, int]
    linked_users: list[str] = field(default_factory=list)
    dropped: dict[str, int] = field(default_factory=dict)  # rows naming an organization absent here
    present: dict[str, int] = field(default_factory=dict)  # shared rows already restored with the other organization


def read_manifest(zf: zipfile.ZipFile, name: str = "archive") -> dict:
    """The manifest, after checking every member against its SHA-256 (ArchiveError, located, on any mismatch)."""
    try:
        manifest = json.loads(zf.read("manifest.json"))
    except KeyError:
        raise ArchiveError(f"{name}: manifest.json is missing") from None
    except ValueError as e:
        raise ArchiveError(f"{name}: manifest.json is not JSON ({e})") from None
    if manifest.get("format") != FORMAT or manifest.get("format_version") != FORMAT_VERSION:
        raise ArchiveError(f"{name}: manifest.json: not a {FORMAT} version {FORMAT_VERSION}")
    expected = manifest.get("sha256") or {}
    present = {i.filename for i in zf.infolist()} - {"manifest.json"}
    for extra in sorted(present - set(expected)):
        raise ArchiveError(f"{name}: {extra}: not listed in manifest.json")
    for member, want in sorted(expected.items()):
        if member not in present:
            raise ArchiveError(f"{name}: {member}: missing (listed in manifest.json)")
        h = hashlib.sha256()
        with zf.open(member) as f:
            for chunk in iter(lambda: f.read(1 << 16), b""):
                h.update(chunk)
        if h.hexdigest() != want:
            raise ArchiveError(f"{name}: {member}: SHA-256 {h.hexdigest()} does not match manifest.json ({want})")
    return manifest


def _rows(zf: zipfile.ZipFile, table: str) -> Iterator[dict]:
    name = f"tables/{table}.jsonl"
    try:
        f = zf.open(name)
    except KeyError:
        raise ArchiveError(f"{name}: missing") from None
    with f:
        for n, line in enumerate(io.TextIOWrapper(f, encoding="utf-8", errors="strict"), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as e:
                raise ArchiveError(f"{name}: line {n}: not JSON ({e})") from None
            if not isinstance(row, dict):
                raise ArchiveError(f"{name}: line {n}: not a JSON object")
            yield row


def delete_org(conn: Connection, org_id: int) -> None:
    """Remove every archived row of the organization (children first), then the organization."""
    tables = _tables()
    memo: dict = {}
    filters = {n: _row_filter(n, org_id, memo) for n in plan()}
    for name in EXCLUDED:  # first: derived rows (record_link) refer to the records deleted below
        if name in tables:
            t = tables[name]
            conds = [t.c[c] == org_id for c, target in _refs(t) if target == "organization"]
            conn.execute(sa.delete(t).where(sa.or_(*conds)))
    for name in reversed(plan()):
        t = tables[name]
        ids = [r[0] for r in conn.execute(sa.select(*t.primary_key.columns).where(filters[name]))]
        pk = list(t.primary_key.columns)
        if len(pk) == 1:
            for i in range(0, len(ids), 500):
                conn.execute(sa.delete(t).where(pk[0].in_(ids[i:i + 500])))
        else:
            conn.execute(sa.delete(t).where(filters[name]))
    org_t = tables["organization"]
    conn.execute(sa.delete(org_t).where(org_t.c.id == org_id))


def import_org(conn: Connection, path: Path, *, replace: bool = False, slug: str | None = None) -> ImportResult:
    """Restore the archive at `path` inside the caller's transaction on `conn` (the caller commits or rolls back)."""
    try:
        zf = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile) as e:
        raise ArchiveError(f"{path}: not a zip archive ({e})") from None
    with zf:
        try:
            return _import(conn, zf, path, replace, slug)
        except (KeyError, ValueError, TypeError, UnicodeDecodeError) as e:  # a consistent but malformed archive
            raise ArchiveError(f"{path}: malformed archive: {type(e).__name__}: {e}") from None


def _import(conn: Connection, zf: zipfile.ZipFile, path: Path, replace: bool, slug: str | None) -> ImportResult:
    tables = _tables()
    org_t, user_t, tpl_t = tables["organization"], tables["user"], tables["process_template"]
    manifest = read_manifest(zf, str(path))
    (org_row,) = list(_rows(zf, "organization"))
    new_slug = slug or org_row["slug"]
    old = conn.execute(sa.select(org_t.c.id).where(org_t.c.slug == new_slug)).first()
    if old is not None:
        if not replace:
            raise ArchiveError(f"{path}: an organization with slug {new_slug!r} exists here; "
                               "use --replace to remove it first, or --slug NEW")
        delete_org(conn, old.id)
    src_org = org_row["id"]
    org_row["slug"] = new_slug
    if conn.execute(sa.select(org_t.c.slug).where(org_t.c.id == src_org)).first() is not None:
        raise ArchiveError(f"{path}: tables/organization.jsonl: id {src_org} is already used in this instance "
                           "(ids are kept on restore: restore into an instance without it, or --replace it)")
    values = {c.name: _load(c, org_row.get(c.name)) for c in org_t.columns if c.name in org_row}
    new_org = conn.execute(sa.insert(org_t).values(**values).returning(org_t.c.id)).scalar_one()
    # other organizations rows refer to: kept where this instance has the same id under the same slug
    org_map = {src_org: new_org}
    for oid, oslug in (manifest.get("related_organizations") or {}).items():
        if conn.execute(sa.select(org_t.c.id).where(org_t.c.id == int(oid), org_t.c.slug == oslug)).first():
            org_map[int(oid)] = int(oid)
    result = ImportResult(new_org, new_slug, {"organization": 1})
    # users: linked by e-mail, never overwritten; new ones keep their id where free
    user_map: dict[int, int] = {}
    for u in _rows(zf, "user"):
        ex = conn.execute(sa.select(user_t.c.id).where(sa.func.lower(user_t.c.email) == u["email"].lower())).first()
        if ex is not None:
            user_map[u["id"]] = ex.id
            result.linked_users.append(u["email"])
            continue
        vals = {"email": u["email"], "name": u["name"], "password_hash": u["password_hash"],
                "locale": u.get("locale"), "is_admin": False, "failed_logins": 0,
                "created_at": datetime.now(timezone.utc)}
        if conn.execute(sa.select(user_t.c.id).where(user_t.c.id == u["id"])).first() is None:
            vals["id"] = u["id"]
        user_map[u["id"]] = conn.execute(sa.insert(user_t).values(**vals).returning(user_t.c.id)).scalar_one()
    result.counts["user"] = len(user_map)
    # shipped template versions: by (key, version); added when this instance lacks them
    tpl_map: dict[int, int] = {}
    for tpl in _rows(zf, "shipped_template"):
        ex = conn.execute(sa.select(tpl_t.c.id).where(tpl_t.c.org_id.is_(None), tpl_t.c.key == tpl["key"],
                                                      tpl_t.c.version == tpl["version"])).first()
        if ex is None:
            vals = {c.name: _load(c, tpl.get(c.name)) for c in tpl_t.columns if c.name not in ("id", "created_by")}
            ex = conn.execute(sa.insert(tpl_t).values(**vals).returning(tpl_t.c.id)).first()
        tpl_map[tpl["id"]] = ex[0]
    result.counts["shipped_template"] = len(tpl_map)
    for name in manifest["tables"][3:]:
        if name not in tables:
            raise ArchiveError(f"{path}: table {name!r} is unknown to this instance (newer archive?)")
        try:
            _import_table(conn, zf, tables[name], src_org, org_map, user_map, tpl_map, result, str(path))
        except sa.exc.StatementError as e:  # refused by the database, or a row lacking a column
            raise ArchiveError(f"{path}: tables/{name}.jsonl: refused by the database: {e.orig or e}") from None
    _fix_sequences(conn, ["organization", "user", "process_template", *manifest["tables"][3:]])
    search.backfill(conn, new_org)  # archives written before migration 0019 carry no record.search_text
    from workbench import latest, links
    from workbench.trail import set_heads

    set_heads(conn, new_org)  # the chain head is the restored chain's, whatever the archive's row said
    links.rebuild(conn, new_org)  # derived rows, not archived: from the restored records
    latest.rebuild(conn, new_org)
    record_values.backfill(conn, new_org)
    for name, n in manifest["counts"].items():
        restored = result.counts.get(name, 0) + result.dropped.get(name, 0) + result.present.get(name, 0)
        if name not in ("user", "shipped_template") and restored != n:
            raise ArchiveError(f"{path}: tables/{name}.jsonl: {result.counts.get(name, 0)} rows, manifest says {n}")
    return result


def _import_table(conn, zf, t: sa.Table, src_org, org_map, user_map, tpl_map, result, where) -> None:
    """Insert the table's archived rows with their original ids, foreign keys to organizations, users and shipped
    templates mapped. A row shared with another organization present here (a certificate: client and body) that
    was already restored with that organization's archive is kept as it is, not doubled."""
    refs = _refs(t)
    pk = list(t.primary_key.columns)
    n = 0
    batch: list[tuple[dict, bool]] = []

    def flush():
        nonlocal n
        if not batch:
            return
        rows = [vals for vals, _ in batch]
        if len(pk) == 1:
            ids = [vals[pk[0].name] for vals in rows]
            taken = {r[0] for r in conn.execute(sa.select(pk[0]).where(pk[0].in_(ids)))}
            rows = []
            for vals, shared in batch:
                if vals[pk[0].name] not in taken:
                    rows.append(vals)
                elif shared:  # restored with the other organization: fill in its (then unknown) link to this one
                    result.present[t.name] = result.present.get(t.name, 0) + 1
                    for col, target in refs:
                        if target == "organization" and vals.get(col) == org_map[src_org]:
                            conn.execute(sa.update(t).where(pk[0] == vals[pk[0].name], t.c[col].is_(None))
                                         .values({col: vals[col]}))
                else:
                    raise ArchiveError(f"{where}: tables/{t.name}.jsonl: id {vals[pk[0].name]} is already used in "
                                       "this instance (ids are kept on restore: restore into an instance without "
                                       "these rows, or --replace the same organization)")
        if rows:
            conn.execute(sa.insert(t), rows)
        n += len(rows)
        batch.clear()

    for row in _rows(zf, t.name):
        drop = False
        shared = any(row.get(col) not in (None, src_org) and row.get(col) in org_map
                     for col, target in refs if target == "organization")
        if t.name == "event":
            prior = row.get("origin") or {}
            hashed = {k: prior[k] if k in prior else row.get(k) for k in ("org_id", "actor_id")}
        for col, target in refs:
            v = row.get(col)
            if v is None:
                continue
            if target == "organization":
                if v in org_map:
                    row[col] = org_map[v]
                elif t.c[col].nullable:
                    row[col] = None  # another organization (e.g. a certification body) is not in the archive
                else:
                    drop = True
            elif target == "user":
                row[col] = user_map.get(v)
            elif target == "process_template" and v in tpl_map:
                row[col] = tpl_map[v]
        if drop:
            result.dropped[t.name] = result.dropped.get(t.name, 0) + 1
            continue
        if t.name == "event":  # the hash covers the archived ids (or those an earlier restore kept in origin)
            row["origin"] = {k: v for k, v in hashed.items() if v != row.get(k)} or None
        vals = {}
        for c in t.columns:
            if c.name not in row:
                continue
            v = row[c.name]
            if isinstance(v, dict) and t.name == "attachment" and c.name == "content":
                vals[c.name] = zf.read(v["file"])
            else:
                vals[c.name] = _load(c, v)
        batch.append((vals, shared))
        if len(batch) >= 200:
            flush()
    flush()
    result.counts[t.name] = n


def _fix_sequences(conn: Connection, names: list[str]) -> None:
    """PostgreSQL: explicit ids were inserted, so move each id sequence past the largest id."""
    if conn.dialect.name != "postgresql":
        return
    tables = _tables()
    for name in names:
        if "id" not in tables[name].c or not tables[name].c.id.autoincrement:
            continue
        conn.exec_driver_sql(
            f"SELECT setval(pg_get_serial_sequence('\"{name}\"', 'id'), "
            f"GREATEST((SELECT COALESCE(MAX(id), 0) FROM \"{name}\"), 1))")
