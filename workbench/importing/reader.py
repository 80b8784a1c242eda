"""Sheets of an import file as streams of rows: xlsx in openpyxl's read-only mode after workbench.xlsxsafe's
archive checks, csv with the csv module (UTF-8 with or without BOM, else GB18030). Rows come one at a time
(`(row number, [values])`), at most MAX_ROWS data rows of MAX_COLS columns; every failure is `Unreadable`."""
from __future__ import annotations

import codecs
import csv
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from workbench import xlsxsafe
from workbench.xlsxsafe import Unreadable

MAX_ROWS = 10_000
MAX_COLS = 60

Rows = Iterator[tuple[int, list[Any]]]


@dataclass
class Sheet:
    title: str
    rows: Callable[[], Rows]  # a fresh stream each call


def _xlsx_rows(ws) -> Rows:
    try:
        for n, row in enumerate(ws.iter_rows(max_row=MAX_ROWS + 2, max_col=MAX_COLS, values_only=True), 1):
            if n > MAX_ROWS + 1:
                raise Unreadable(f"the sheet '{ws.title}' has more than {MAX_ROWS} rows")
            yield n, list(row)
    except Unreadable:
        raise
    except Exception as e:  # noqa: BLE001 - parser errors inside the sheet
        raise Unreadable(f"the sheet '{ws.title}' cannot be read: {e.__class__.__name__}") from None


def encoding_of(path: Path) -> str:
    """utf-8-sig when the whole file decodes as UTF-8 (streamed), else gb18030."""
    dec = codecs.getincrementaldecoder("utf-8")()
    try:
        with open(path, "rb") as f:
            while chunk := f.read(1 << 16):
                dec.decode(chunk)
            dec.decode(b"", final=True)
        return "utf-8-sig"
    except UnicodeDecodeError:
        return "gb18030"


def _csv_rows(path: Path) -> Rows:
    enc = encoding_of(path)
    try:
        with open(path, encoding=enc, errors="strict", newline="") as f:
            for n, row in enumerate(csv.reader(f), 1):
                if n > MAX_ROWS + 1:
                    raise Unreadable(f"the file has more than {MAX_ROWS} rows")
                yield n, row[:MAX_COLS]
    except (csv.Error, UnicodeDecodeError) as e:
        raise Unreadable(f"not a readable CSV file: {e.__class__.__name__}") from None


@contextmanager
def open_book(path: Path, kind: str) -> Iterator[list[Sheet]]:
    if kind == "csv":
        with open(path, "rb") as f:
            if b"\x00" in f.read(4096):
                raise Unreadable("not a CSV or Excel (.xlsx) file")
        yield [Sheet("CSV", lambda: _csv_rows(path))]
        return
    with open(path, "rb") as f:  # a file object: openpyxl wants an .xlsx name for a path
        wb = xlsxsafe.open_workbook(f)
        try:
            yield [Sheet(ws.title, (lambda ws=ws: _xlsx_rows(ws))) for ws in wb.worksheets]
        finally:
            wb.close()
