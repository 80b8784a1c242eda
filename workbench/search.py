"""Record search: one derived column, `record.search_text`, and a substring index over it.

`search_text` holds the record's title, subject and every top-level string value of its data (text fields,
numbers such as NCR-2026-001, choice values, dates), joined by U+001F and lower-cased in ASCII only, so the
same bytes come out of Python (records.derived_fields, at every save), of SQLite's lower() and of PostgreSQL's
translate() (migration 0019 and `backfill`). A query is lower-cased the same way, so English is
case-insensitive and Chinese matches any substring.

The index (migration 0019):
- SQLite: an FTS5 table `record_search` with the trigram tokenizer, external content (the column is stored
  once, in `record`), kept in step by triggers on insert / update / delete of `record`, so every writer
  (the form, the API, the importer, the archive restore, bench/chain_data.py) is covered;
- PostgreSQL: a pg_trgm GIN index on search_text, which serves LIKE '%…%'.
Trigrams need three characters: a query of one or two characters (一个字 or 两个字) compares with LIKE over the
process's rows instead (no index; the column is short, so it is still a plain scan of one column, not JSON).
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import text as sql_text
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import ColumnElement
from sqlalchemy.types import Boolean

SEP = "\x1f"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_CONTROL = {i: None for i in range(32)} | {127: None}
MIN_INDEXED = 3  # characters a trigram index can look up


def text_of(title: str, subject: str | None, data: dict) -> str:
    """The search_text of a record (backfill() computes exactly this in SQL)."""
    strings = "".join(SEP + v for v in data.values() if isinstance(v, str))
    return (str(title or "") + SEP + str(subject or "") + strings).translate(_ASCII_LOWER)


def normalise(q: str) -> str:
    """The query as it is compared: control characters removed, ASCII lower-cased, outer spaces trimmed."""
    return (q or "").translate(_CONTROL).strip().translate(_ASCII_LOWER)


class Contains(ColumnElement):
    """`record.search_text` contains the (normalised) query: FTS5 MATCH on SQLite, LIKE on other databases
    (a pg_trgm index serves it on PostgreSQL). Compiled per dialect, so listing.ListQuery stays one statement."""
    type = Boolean()
    inherit_cache = False
    _is_implicitly_boolean = True  # a predicate: never rendered as "(…) = 1"

    def __init__(self, column, query: str, common: bool = False):
        self.column, self.query, self.common = column, query, common


@compiles(Contains)
def _contains_like(element: Contains, compiler, **kw) -> str:
    # one bound pattern (not '%' || :q || '%'), so PostgreSQL's planner sees it whole for the trigram index
    pattern = "%" + element.query.replace("/", "//").replace("%", "/%").replace("_", "/_") + "%"
    return compiler.process(element.column.like(pattern, escape="/"), **kw)


@compiles(Contains, "sqlite")
def _contains_fts(element: Contains, compiler, **kw) -> str:
    if len(element.query) < MIN_INDEXED:
        return _contains_like(element, compiler, **kw)
    from sqlalchemy import bindparam

    match = compiler.process(bindparam("search_phrase", phrase(element.query), unique=True), **kw)
    rid = compiler.process(element.column.table.c.id, **kw)
    # common (see `is_common`): "+" keeps SQLite from driving the query by the matches (thousands of row reads,
    # then a sort); it walks the list index in order and stops at the page / the count's cap instead
    return f"{'+' if element.common else ''}{rid} IN (SELECT rowid FROM record_search WHERE record_search MATCH {match})"


COMMON = 2000  # matches over the whole instance from which a query counts as common


def phrase(query: str) -> str:
    return '"' + query.replace('"', '""') + '"'


def is_common(db, query: str) -> bool:
    """SQLite: does the query match at least COMMON records (of any organization)? One cheap look at the FTS
    index (it stops at COMMON). Rare: the query starts from the few matches; common: from the list's index."""
    if db.get_bind().dialect.name != "sqlite" or len(query) < MIN_INDEXED:
        return False
    probe = sql_text("SELECT count(*) FROM (SELECT 1 FROM record_search WHERE record_search MATCH :p LIMIT :n)")
    return db.execute(probe, {"p": phrase(query), "n": COMMON}).scalar_one() >= COMMON


def backfill(conn, org_id: int | None = None) -> int:
    """Set search_text for records that lack it (all, or one organization's), in one UPDATE computing exactly
    what text_of computes (SQLite: json_each + lower, which folds ASCII only; PostgreSQL: json_each with
    ordinality + translate). Returns the number of rows updated."""
    where = "search_text IS NULL" + (" AND org_id = :org" if org_id is not None else "")
    if conn.dialect.name == "sqlite":
        stmt = ("UPDATE record SET search_text = lower(coalesce(title, '') || char(31) || coalesce(subject, '') || "
                "coalesce((SELECT group_concat(char(31) || j.value, '') FROM json_each(record.data) j "
                "WHERE j.type = 'text'), '')) WHERE " + where)
    else:
        stmt = ("UPDATE record SET search_text = translate(coalesce(title, '') || chr(31) || coalesce(subject, '') || "
                "coalesce((SELECT string_agg(chr(31) || (j.v #>> '{}'), '' ORDER BY j.n) "
                "FROM json_each(record.data::json) WITH ORDINALITY AS j(k, v, n) WHERE json_typeof(j.v) = 'string'), ''), "
                "'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz') WHERE " + where)
    params: dict[str, Any] = {"org": org_id} if org_id is not None else {}
    return conn.execute(sql_text(stmt), params).rowcount
