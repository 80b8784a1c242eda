"""Reading Excel workbooks that users upload, without letting one small file take the server down.

Before openpyxl sees the bytes, the zip archive is checked: at most MAX_ENTRIES members, their declared
uncompressed sizes together at most MAX_UNCOMPRESSED (Python's zip reader never returns more than the
declared size), and no XML member may carry a DTD (`<!DOCTYPE` / `<!ENTITY`: entity expansion). openpyxl
then reads in read-only (streaming) mode with defusedxml, and `rows` reads at most `max_rows` × `max_cols`
cells whatever dimension the sheet declares (a 5 KB file declaring A1:XFD1048576 stays 5 KB of work).
Every failure is `Unreadable` with a message for the user.
"""
from __future__ import annotations

import io
import zipfile
from typing import Any

MAX_UNCOMPRESSED = 20 * 1024 * 1024
MAX_ENTRIES = 200
MAX_ROWS = 1000
MAX_COLS = 50
_DTD_MARKS = [m.encode(enc) for m in ("<!DOCTYPE", "<!doctype", "<!ENTITY", "<!entity")
              for enc in ("utf-8", "utf-16-le", "utf-16-be")]


class Unreadable(ValueError):
    pass


def _source(data):
    """bytes, or a path / open binary file (read from disk: large imports stay out of memory)."""
    return io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data


def _has_dtd(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> bool:
    """Stream the member in chunks (with an overlap for a mark split across two chunks)."""
    tail = b""
    with zf.open(info) as f:
        while chunk := f.read(1 << 16):
            buf = tail + chunk
            if any(mark in buf for mark in _DTD_MARKS):
                return True
            tail = buf[-32:]
    return False


def check_archive(data) -> None:
    try:
        zf = zipfile.ZipFile(_source(data))
    except (zipfile.BadZipFile, ValueError, OSError) as e:
        raise Unreadable(f"not an Excel workbook (.xlsx): {e.__class__.__name__}") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ENTRIES:
            raise Unreadable(f"the workbook has more than {MAX_ENTRIES} parts")
        total = sum(i.file_size for i in infos)
        if total > MAX_UNCOMPRESSED:
            raise Unreadable(f"the workbook unpacks to more than {MAX_UNCOMPRESSED // (1024 * 1024)} MB")
        for info in infos:
            if not info.filename.lower().endswith((".xml", ".rels", ".vml")):
                continue
            try:
                dtd = _has_dtd(zf, info)
            except Exception as e:  # noqa: BLE001 - corrupt member: refuse the file
                raise Unreadable(f"the workbook is damaged ({info.filename}: {e.__class__.__name__})") from None
            if dtd:
                raise Unreadable(f"the workbook contains a document type declaration ({info.filename}); not accepted")


def open_workbook(data):
    """A read-only openpyxl workbook of checked bytes or of a checked file path (close it after use)."""
    from openpyxl import load_workbook

    check_archive(data)
    try:
        return load_workbook(_source(data), read_only=True, data_only=True)
    except Exception as e:  # noqa: BLE001 - any unreadable file is the user's to fix
        raise Unreadable(f"not an Excel workbook (.xlsx): {e.__class__.__name__}") from None


def rows(sheet, max_rows: int = MAX_ROWS, max_cols: int = MAX_COLS) -> list[list[Any]]:
    """The sheet's values, at most max_rows rows of max_cols columns; trailing empty rows dropped.
    More rows with content than max_rows: Unreadable."""
    out: list[list[Any]] = []
    try:
        for row in sheet.iter_rows(min_row=1, max_row=max_rows + 1, max_col=max_cols, values_only=True):
            out.append(list(row))
    except Unreadable:
        raise
    except Exception as e:  # noqa: BLE001 - parser errors inside the sheet
        raise Unreadable(f"the sheet '{getattr(sheet, 'title', '?')}' cannot be read: {e.__class__.__name__}") from None
    while out and all(v is None or str(v).strip() == "" for v in out[-1]):
        out.pop()
    if len(out) > max_rows:
        raise Unreadable(f"the sheet '{sheet.title}' has more than {max_rows} rows")
    return out
