"""Preview and commit of an import: every data row of the first sheet is one record, its repeating rows come
from the sheets named like its repeating-rows fields (keyed by record number). Each row goes through the record
service's own checks (`services.records.check`: parse, links, JSON Schema…); `preview` stores nothing and keeps
only the errors and the first PREVIEW_ROWS rows, `commit` re-streams the file and creates every record in the
caller's transaction, or raises `ImportInvalid` (the caller rolls back: all or nothing).

A record number used twice in the first sheet is an error at its second row (it would leave that record without its
repeating rows). Memory: every sheet streams; the repeating rows and the record numbers seen go to a temporary
on-disk index (`importing.index`), and the preview keeps at most MAX_ERRORS errors and PREVIEW_ROWS sample rows,
so the Python heap does not grow with the rows (what openpyxl itself keeps per row: docs/import.md)."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, time, timezone

from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.datastructures import MultiDict

from forms.values import ROW
from workbench import records
from workbench.errors import UserError
from workbench.importing import cells, index, mapping, reader
from workbench.importing.files import Stored
from workbench.models import Organization, ProcessTemplate
from workbench.services import records as service

PREVIEW_ROWS = 20
MAX_ERRORS = 500


@dataclass
class Problem:
    sheet: str
    row: int
    column: str
    message: str


@dataclass
class Preview:
    sha256: str
    filename: str
    records: int = 0
    error_count: int = 0
    errors: list[Problem] = field(default_factory=list)
    sample: list[dict] = field(default_factory=list)  # {"row", "title", "date"} of the first rows
    created: list[int] = field(default_factory=list)  # record ids (commit), at most PREVIEW_ROWS of them

    @property
    def ok(self) -> bool:
        return self.error_count == 0 and self.records > 0

    def add(self, sheet: str, row: int, column: str, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(Problem(sheet, row, column, message))


class ImportInvalid(UserError):
    status = 422

    def __init__(self, preview: Preview):
        super().__init__(_("The file has errors; nothing was imported."))
        self.preview = preview


def _blank(values: list) -> bool:
    return all(v is None or str(v).strip() == "" for v in values)


def _where(col: mapping.Column) -> str:
    return f"{mapping.letter(col.index)} {col.header}"


def _repeating(book: list[reader.Sheet], tpl: ProcessTemplate, out: Preview, idx: index.Index) -> None:
    """Stream the repeating-rows sheets into the index: (record no, array path, sheet, row, {sub: (column, values)})."""
    wanted = mapping.row_fields(tpl.body["schema"])
    for sheet in book[1:]:
        target = wanted.get(mapping.norm(sheet.title)[:31])
        if target is None:
            continue
        path, items = target
        known = mapping.fields(items)
        cols: list[mapping.Column] = []
        for n, row in sheet.rows():
            if n == 1:
                cols, unknown = mapping.header(row, known)
                for i, h in unknown:
                    out.add(sheet.title, 1, f"{mapping.letter(i)} {h}", _("This column names no field of the rows."))
                if not any(c.field is None for c in cols):
                    out.add(sheet.title, 1, "", _("The sheet needs a “%(name)s” column.", name=mapping.RECORD_NO["zh"]))
                    break
                continue
            if _blank(row):
                continue
            key, vals = "", {}
            for c in cols:
                v = row[c.index] if c.index < len(row) else None
                if c.field is None:
                    key = cells._text(v) if v is not None else ""
                    continue
                try:
                    vals[c.path] = (_where(c), cells.convert(c.field, v))
                except cells.CellError as e:
                    out.add(sheet.title, n, _where(c), str(e))
            idx.add_row(key, path, sheet.title, n, vals)


def _at(tpl: ProcessTemplate, org: Organization, data: dict) -> datetime | None:
    """The record's activity time: noon (organization's zone) of the day its date field says."""
    day = records.derived_fields(tpl.body, data)["record_date"]
    if day is None:
        return None
    return datetime.combine(day, time(12), tzinfo=records.zone(org)).astimezone(timezone.utc)


def run(db: Session, org: Organization, tpl: ProcessTemplate, user, stored: Stored, *, commit: bool,
        lang: str = "zh") -> Preview:
    """Check (and with commit=True store) every row. :raise ImportInvalid: commit with any error."""
    out = Preview(stored.sha256, stored.filename)
    tz = records.zone(org)
    try:
        with reader.open_book(stored.path, stored.kind) as book, index.temporary() as idx:
            if not book:
                raise reader.Unreadable("the workbook has no sheet")
            _repeating(book, tpl, out, idx)
            main = book[0]
            known = mapping.fields(tpl.body["schema"])
            cols: list[mapping.Column] = []
            for n, row in main.rows():
                if n == 1:
                    cols, unknown = mapping.header(row, known)
                    for i, h in unknown:
                        out.add(main.title, 1, f"{mapping.letter(i)} {h}", _("This column names no field of the process."))
                    continue
                if _blank(row):
                    continue
                out.records += 1
                _one(db, org, tpl, user, stored, main.title, n, row, cols, idx, out, commit, lang, tz)
            for key, sheet, n in idx.unclaimed():
                out.add(sheet, n, mapping.RECORD_NO[lang if lang in ("zh", "en") else "zh"],
                        _("No record in the first sheet has the record number “%(no)s”.", no=key[:40]))
    except reader.Unreadable as e:
        out.add("", 0, "", _("The file cannot be read: %(why)s", why=str(e)))
    if out.records == 0 and out.error_count == 0:
        out.add(getattr(locals().get("main"), "title", ""), 2, "", _("The file has no records."))
    if commit and out.error_count:
        raise ImportInvalid(out)
    return out


def _one(db, org, tpl, user, stored, sheet, n, row, cols, idx: index.Index, out: Preview, commit, lang, tz) -> None:
    values = MultiDict()
    where: dict[str, tuple[str, int, str]] = {}
    bad: set[str] = set()  # paths whose cell could not be read (their validation errors would repeat it)
    key, numbered = str(n - 1), None  # without a record number, the row's position is its key
    for c in cols:
        v = row[c.index] if c.index < len(row) else None
        if c.field is None:
            if v is not None and str(v).strip():
                key, numbered = cells._text(v), c
            continue
        where[c.path] = (sheet, n, _where(c))
        try:
            for s in cells.convert(c.field, v):
                values.add(c.path, s)
        except cells.CellError as e:
            out.add(sheet, n, _where(c), str(e))
            bad.add(c.path)
    first = idx.claim(key, n)
    twice = first is not None and numbered is not None  # the same record number again: refused, never stored
    if twice:
        out.add(sheet, n, _where(numbered), _("The record number “%(no)s” is already used on row %(row)s.",
                                             no=key[:40], row=first))
    counters: dict[str, int] = {}  # (a second number's row is still checked with the number's rows: no extra noise)
    for path, rsheet, rn, vals in (idx.rows_of(key) if first is None or twice else ()):
        i = counters.get(path, 0)
        counters[path] = i + 1
        values.add(f"{path}.{ROW}", str(i))
        where[path] = (rsheet, rn, "")
        for sub, (col, strs) in vals.items():
            where[f"{path}.{i}.{sub}"] = (rsheet, rn, col)
            for s in strs:
                values.add(f"{path}.{i}.{sub}", s)
    origin = {"source": "import", "file": stored.filename, "sha256": stored.sha256, "row": n}
    sub = service.Submission(values=values, origin=origin)
    ctx = service.check(db, org, tpl, sub, user, lang=lang, tz=tz)
    if ctx.errors or bad or twice:
        for path, msgs in ctx.errors.items():
            if path in bad:
                continue
            loc = where.get(path) or next((w for p, w in where.items() if p.startswith(path + ".")), None)
            if loc is None:
                parent = path.rsplit(".", 1)[0] if "." in path else ""
                loc = where.get(parent) or (sheet, n, path)
            for m in msgs:
                out.add(loc[0], loc[1], loc[2] or path, m)
        return
    sub.at = _at(tpl, org, ctx.data)
    if len(out.sample) < PREVIEW_ROWS:
        derived = records.derived_fields(tpl.body, ctx.data)
        out.sample.append({"row": n, "title": derived["title"], "date": derived["record_date"]})
    if commit and not out.error_count:
        saved = service.store(ctx)
        if len(out.created) < PREVIEW_ROWS:
            out.created.append(saved.record.id)
