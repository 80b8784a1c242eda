"""Record lists people can work with: search, filters on the template's fields, sorting, pagination, export.

`ListQuery.from_args(tpl, args, db)` reads the query string; `.select(org_id)` builds one SQL statement (field
values are compared in the side table record_value, workbench.record_values; text "contains" in the JSON with
the database's operators), so a list of 100k records is filtered, counted and paged by the database, never in
Python.

    q=<text>            title, subject or any top-level text value contains it (English case-insensitive, any
                        Chinese substring; #<n> or <n>: also record n) — workbench.search, an indexed column
    state=<s>           workflow state
    by=<user id>        made by that person
    from=, to=          record date range (YYYY-MM-DD)
    f.<field>=<v>       enum / boolean field equals v (person text fields: contains v)
    f.<field>.from/.to  date / date-time field range
    sort=<key>, dir=asc|desc   key: id, title, date, state, created, updated, or a field name

What is fast at 100k records in one process (bench/scale.py "list SQL" rows): the default date order (index
ix_record_list, the page stops after 50), search (the FTS5 / pg_trgm index of record.search_text), a sort by a
template field (the join with record_value walks ix_record_value in order and stops at the page, when every
version of the process declares the field — else the JSON is sorted, reading the process), enum / boolean /
date filters (their matches come from ix_record_value; on SQLite a page of a common value walks the list's
order checking each record by primary key), and the count, which stops at COUNT_CAP ("more than 10,000") and
counts a single field filter in ix_record_value alone. What still reads every record of the process: sorting
by title / state / updated, a "contains" filter on a text field, and deep pages (OFFSET walks the index up to
the page; no keyset pagination yet).

Exports stream (csv: UTF-8 with BOM; xlsx: openpyxl write-only into a temporary file) in batches, so memory
stays constant; repeating rows go to a second sheet keyed by record number. Any text cell starting with
= + - @ (or a tab / carriage return) gets a leading apostrophe, so a spreadsheet never runs it as a formula.
"""
from __future__ import annotations

import csv
import io
import tempfile
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterator

from sqlalchemy import func, or_
from sqlalchemy import text as sql_text
from sqlalchemy.orm import aliased
from sqlmodel import Session, select

from forms.widgets import display, text
from forms.values import kind_of
from workbench import record_values, search
from workbench.models import ProcessTemplate, Record, RecordValue, User

COLUMN_SORTS = {"date": Record.record_date, "created": Record.created_at, "updated": Record.updated_at,
                "state": Record.state, "title": Record.title, "id": Record.id}
DANGEROUS = ("=", "+", "-", "@", "\t", "\r")
BATCH = 500
COUNT_CAP = 10_000  # a list page counts up to this many matches, then says "more than"


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(DANGEROUS):
        return "'" + value
    return value


def _iso_date(raw: str) -> str | None:
    try:
        return date.fromisoformat(raw).isoformat() if raw else None
    except ValueError:
        return None


def filterable(tpl: ProcessTemplate) -> dict[str, str]:
    """Top-level fields a list can filter on: name -> 'choice' | 'boolean' | 'date' | 'text'."""
    out = {}
    for name, f in (tpl.body["schema"].get("properties") or {}).items():
        kind = kind_of(f)
        if kind in ("choice", "boolean"):
            out[name] = kind
        elif f.get("format") in ("date", "date-time"):
            out[name] = "date"
        elif kind == "string" and f.get("format") not in ("attachment", "record-link"):
            out[name] = "text"
    return out


@dataclass
class ListQuery:
    tpl: ProcessTemplate
    q: str = ""
    state: str = ""
    by: int | None = None
    date_from: str | None = None
    date_to: str | None = None
    fields: dict[str, str] = field(default_factory=dict)  # "f.<name>[.from|.to]" -> value
    sort: str = "date"
    desc: bool = True
    bad_dates: bool = False
    common: bool = False  # the search matches many records (workbench.search.is_common): plan from the list's index
    by_value: bool = False  # sort through record_value (every version of the process has the field: every record has its row)
    db: Session | None = field(default=None, repr=False, compare=False)  # SQLite: probes how often a filter matches
    probed: dict = field(default_factory=dict, repr=False, compare=False)  # filter -> common? (probed once)

    @classmethod
    def from_args(cls, tpl: ProcessTemplate, args, db: Session | None = None) -> "ListQuery":
        """`db`: look at the search index once to plan a search (SQLite; without it the plan suits rare words)."""
        kinds = filterable(tpl)
        lq = cls(tpl, q=(args.get("q") or "").strip()[:200], state=(args.get("state") or "")[:32],
                 by=args.get("by", type=int), sort=args.get("sort") or "date", desc=args.get("dir", "desc") != "asc")
        lq.common = db is not None and search.is_common(db, search.normalise(lq.q))
        lq.db = db if db is not None and db.get_bind().dialect.name == "sqlite" else None
        lq.date_from, lq.date_to = _iso_date(args.get("from", "")), _iso_date(args.get("to", ""))
        lq.bad_dates = bool((args.get("from") and not lq.date_from) or (args.get("to") and not lq.date_to))
        for key, value in args.items():
            if not key.startswith("f.") or not value:
                continue
            name, _, bound = key[2:].partition(".")
            if name not in kinds or bound not in ("", "from", "to") or (bound and kinds[name] != "date"):
                continue
            if kinds[name] == "date" and bound:
                if not _iso_date(value[:10]):
                    lq.bad_dates = True
                    continue
                value = value[:10]
            lq.fields[key] = value[:200]
        if lq.sort not in COLUMN_SORTS and lq.sort not in (tpl.body["schema"].get("properties") or {}):
            lq.sort = "date"
        lq.by_value = db is not None and lq.sort not in COLUMN_SORTS and _every_version_has(db, tpl, lq.sort)
        return lq

    def _matching(self, values, rv, name: str):
        """`record.id IN (the filter's matches)`: the database starts from the matches (the count always does:
        it stops at COUNT_CAP of them). On SQLite, for a page of a filter matching at least COMMON_VALUE records
        (one LIMITed look at ix_record_value decides), a correlated EXISTS instead: the list's own order is
        walked and each record checked by primary key until the page is full."""
        if self.db is not None:
            key = str(values.compile(compile_kwargs={"literal_binds": True}))
            if key not in self.probed:
                probe = select(func.count()).select_from(values.limit(COMMON_VALUE).subquery())
                self.probed[key] = self.db.exec(probe).one() >= COMMON_VALUE
            if self.probed[key]:
                return values.where(rv.record_id == Record.id, rv.field == name).correlate(Record).exists()
        return Record.id.in_(values)

    def args(self, **over) -> dict:
        """The query string for links (pager, sort headers, export) keeping the current filters."""
        out = {"q": self.q or None, "state": self.state or None, "by": self.by, "from": self.date_from,
               "to": self.date_to, "sort": self.sort, "dir": "desc" if self.desc else "asc", **self.fields}
        out.update(over)
        return {k: v for k, v in out.items() if v not in (None, "")}

    def select(self, org_id: int, counting: bool = False):
        """The list's statement, ordered; `counting`: the same records unordered, for `count` — without the join
        a field sort walks (every record has its row, so it changes no count), and for a single enum / boolean /
        date filter just the matching ids in ix_record_value (no record read)."""
        props = self.tpl.body["schema"].get("properties") or {}
        kinds = filterable(self.tpl)
        s = select(Record).where(Record.org_id == org_id, Record.template_key == self.tpl.key)
        needle = search.normalise(self.q)
        if needle:
            number = needle.lstrip("#")
            match = search.Contains(Record.search_text, needle, self.common)
            s = s.where(or_(Record.id == int(number), match) if number.isascii() and number.isdigit() and len(number) < 19 else match)
        if self.state:
            s = s.where(Record.state == self.state)
        if self.by:
            s = s.where(Record.created_by == self.by)
        if self.date_from:
            s = s.where(Record.record_date >= date.fromisoformat(self.date_from))
        if self.date_to:
            s = s.where(Record.record_date <= date.fromisoformat(self.date_to))
        ranges: dict[str, list] = {}  # a date field's from / to: one range of ix_record_value
        rv = aliased(RecordValue)  # not the table a field sort joins
        in_json = False
        for key, value in self.fields.items():
            name, _, bound = key[2:].partition(".")
            kind = kinds[name]
            # enum / boolean / date: the matching records from ix_record_value (no JSON is parsed)
            if kind == "boolean":
                on = value in ("1", "true", "yes")
                ranges[key] = [name, rv.vnum == (1.0 if on else 0.0), rv.vtext == ("true" if on else "false")]
            elif kind == "choice":
                ranges[key] = [name, rv.vnum.is_(None), rv.vtext == value[:record_values.TEXT_MAX]]
            elif kind == "date" and bound:  # for a 10-character bound, substr(v, 1, 10) >= b ⟺ v >= b
                cond = rv.vtext >= value if bound == "from" else func.substr(rv.vtext, 1, 10) <= value
                ranges.setdefault(name + ".", [name, rv.vnum.is_(None)]).append(cond)
            else:  # text (and a date's day typed as text): contains, in the JSON
                in_json = True
                s = s.where(Record.data[name].as_string().ilike(f"%{value}%"))
        for name, *conds in ranges.values():
            values = select(rv.record_id).where(rv.org_id == org_id, rv.template_key == self.tpl.key,
                                                rv.field == name, *conds)
            if counting and len(ranges) == 1 and not (needle or self.state or self.by or self.date_from or self.date_to
                                                      or in_json):
                return values  # counted in ix_record_value alone (a record has one row per field): no record is read
            s = s.where(Record.id.in_(values) if counting else self._matching(values, rv, name))
        if counting:
            return s
        order = (lambda c: c.desc()) if self.desc else (lambda c: c.asc())
        column = COLUMN_SORTS.get(self.sort)
        if column is None and self.by_value:  # walk ix_record_value in order and stop at the page
            s = s.join(RecordValue, (RecordValue.record_id == Record.id) & (RecordValue.field == self.sort)).where(
                RecordValue.org_id == org_id, RecordValue.template_key == self.tpl.key)
            return s.order_by(order(RecordValue.vnum), order(RecordValue.vtext), order(RecordValue.record_id))
        if column is None:
            column = Record.data[self.sort].as_string() if props.get(self.sort, {}).get("type") not in ("number", "integer") else Record.data[self.sort].as_float()
        return s.order_by(order(column), order(Record.id))


COMMON_VALUE = 20_000  # matches of a field filter from which SQLite walks the list's order and checks each record


def _every_version_has(db: Session, tpl: ProcessTemplate, name: str) -> bool:
    """Does every version of the process (any organization's: records may use a version made elsewhere)
    declare `name` a scalar property, so that every record has its row in record_value? Otherwise a sort by it
    reads the JSON, as records of a version without it have no row."""
    bodies = db.exec(select(ProcessTemplate.body).where(ProcessTemplate.key == tpl.key)).all()
    return all(name in record_values.scalar_properties(b) for b in bodies)


def count(db: Session, stmt, cap: int | None = None) -> int:
    """The number of rows `stmt` selects; with `cap`, at most cap + 1 (the database stops counting there, so a
    filter that only JSON can answer does not read the whole process to say "more than cap")."""
    stmt = stmt.order_by(None)
    if cap is not None:
        stmt = (stmt if len(stmt.selected_columns) == 1 else stmt.with_only_columns(Record.id)).limit(cap + 1)
    return db.exec(select(func.count()).select_from(stmt.subquery())).one()


def stream(engine, stmt) -> Iterator[Record]:
    """Rows in batches of BATCH, each batch in its own short session (memory stays constant; the generator
    may run after the request's session is gone, while a response streams)."""
    offset = 0
    while True:
        with Session(engine, expire_on_commit=False) as db:
            batch = db.exec(stmt.offset(offset).limit(BATCH)).all()
        yield from batch
        if len(batch) < BATCH:
            return
        offset += BATCH


# --- export --------------------------------------------------------------------------------------------

def _columns(tpl: ProcessTemplate) -> tuple[list[str], list[str]]:
    props = tpl.body["schema"].get("properties") or {}
    flat = [n for n, f in props.items() if kind_of(f) not in ("rows", "object")]
    rows = [n for n, f in props.items() if kind_of(f) == "rows"]
    return flat, rows


def _cell(fschema: dict, value: Any, lang: str) -> Any:
    if isinstance(value, bool) or value is None:
        return display(fschema, value, lang) if value is not None else ""
    if isinstance(value, (int, float)):
        return value
    return neutralise(display(fschema, value, lang))


def table(engine, tpl: ProcessTemplate, stmt, lang: str, state_label) -> tuple[list[str], Iterator[list], list[str], Iterator[list]]:
    """Header and rows of the main sheet, and of the repeating-rows sheet (generators)."""
    props = tpl.body["schema"].get("properties") or {}
    flat, rows = _columns(tpl)
    head = ["#", "状态" if lang == "zh" else "State", "日期" if lang == "zh" else "Date"] + [text(props[n].get("label"), lang, n) for n in flat]
    sub_fields = [(n, c, cs) for n in rows for c, cs in ((props[n].get("items") or {}).get("properties") or {}).items()]
    sub_head = ["#", "表格" if lang == "zh" else "Table", "行" if lang == "zh" else "Row"] + \
        list(dict.fromkeys(text(cs.get("label"), lang, c) for _, c, cs in sub_fields))

    def main():
        for r in stream(engine, stmt):
            yield [r.id, neutralise(state_label(r.state)), r.record_date.isoformat() if r.record_date else ""] + \
                  [_cell(props[n], r.data.get(n), lang) for n in flat]

    def sub():
        labels = sub_head[3:]
        for r in stream(engine, stmt):
            for n in rows:
                item_props = (props[n].get("items") or {}).get("properties") or {}
                for i, row in enumerate(r.data.get(n) or [], 1):
                    if not isinstance(row, dict):
                        continue
                    cells = {text(cs.get("label"), lang, c): _cell(cs, row.get(c), lang) for c, cs in item_props.items()}
                    yield [r.id, neutralise(text(props[n].get("label"), lang, n)), i] + [cells.get(lbl, "") for lbl in labels]

    return head, main(), sub_head, sub()


def csv_chunks(head: list[str], rows: Iterator[list]) -> Iterator[bytes]:
    buf = io.StringIO()
    w = csv.writer(buf)
    yield "\ufeff".encode()
    w.writerow(head)
    for i, row in enumerate(rows):
        w.writerow(row)
        if i % 200 == 199:
            yield buf.getvalue().encode()
            buf.seek(0)
            buf.truncate()
    yield buf.getvalue().encode()


def xlsx_file(head, rows, sub_head, sub_rows, title: str) -> tempfile.SpooledTemporaryFile:
    """A write-only workbook in a temporary file (rows are written as they come, never held)."""
    from openpyxl import Workbook

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title=(title or "records")[:31].replace("/", "-"))
    ws.append(head)
    for row in rows:
        ws.append(row)
    ws2 = wb.create_sheet(title="明细行 rows")
    ws2.append(sub_head)
    for row in sub_rows:
        ws2.append(row)
    out = tempfile.TemporaryFile()
    wb.save(out)
    out.seek(0)
    return out


PEOPLE_SQL = """
WITH RECURSIVE author(u) AS (
  SELECT min(created_by) FROM record WHERE org_id = :o AND created_by IS NOT NULL
  UNION ALL
  SELECT (SELECT min(created_by) FROM record WHERE org_id = :o AND created_by > author.u) FROM author
  WHERE author.u IS NOT NULL)
SELECT u FROM author WHERE u IS NOT NULL
"""


def people(db: Session, org_id: int) -> list[tuple[int, str]]:
    """Who made records in this organization (for the "made by" filter): the distinct authors by a skip scan
    of index ix_record_author (one seek per person, never a pass over the organization's records)."""
    ids = db.execute(sql_text(PEOPLE_SQL), {"o": org_id}).scalars().all()
    return [(u.id, u.name) for u in db.exec(select(User).where(User.id.in_(list(ids) or [0])).order_by(User.name)).all()]
