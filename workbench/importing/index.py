"""The per-run state of an import, on disk instead of in memory: the record numbers the first sheet has used
(to refuse a number used twice) and the repeating rows keyed by record number (read once from their sheets,
looked up per record). A temporary SQLite file (the standard library's sqlite3, not the application's
database, so it is the same on SQLite and PostgreSQL deployments) with a capped page cache: the Python heap
stays flat whatever the number of rows, and the file is deleted when the run ends."""
from __future__ import annotations

import json
import os
import sqlite3
import tempfile
from contextlib import contextmanager
from typing import Iterator

CACHE_KIB = 1024  # SQLite's page cache for the index (its own memory, outside the Python heap)

_SCHEMA = """
CREATE TABLE used (key TEXT PRIMARY KEY, rowno INTEGER NOT NULL);
CREATE TABLE rows (id INTEGER PRIMARY KEY, key TEXT NOT NULL, path TEXT NOT NULL, sheet TEXT NOT NULL,
                   rowno INTEGER NOT NULL, vals TEXT NOT NULL);
CREATE INDEX rows_key ON rows (key, id);
"""


class Index:
    def __init__(self, conn: sqlite3.Connection):
        self._db = conn

    def add_row(self, key: str, path: str, sheet: str, rowno: int, vals: dict[str, tuple[str, list[str]]]) -> None:
        """One repeating row: its record number, array field, place, and {sub-path: (column, [posted values])}."""
        self._db.execute("INSERT INTO rows (key, path, sheet, rowno, vals) VALUES (?, ?, ?, ?, ?)",
                         (key, path, sheet, rowno, json.dumps(vals, ensure_ascii=False)))

    def rows_of(self, key: str) -> Iterator[tuple[str, str, int, dict[str, tuple[str, list[str]]]]]:
        """The repeating rows of record number `key`, in file order."""
        for path, sheet, rowno, vals in self._db.execute(
                "SELECT path, sheet, rowno, vals FROM rows WHERE key = ? ORDER BY id", (key,)):
            yield path, sheet, rowno, json.loads(vals)

    def claim(self, key: str, rowno: int) -> int | None:
        """Record number `key` for the first sheet's row `rowno`: None, or the row that already has it."""
        try:
            self._db.execute("INSERT INTO used (key, rowno) VALUES (?, ?)", (key, rowno))
            return None
        except sqlite3.IntegrityError:
            return self._db.execute("SELECT rowno FROM used WHERE key = ?", (key,)).fetchone()[0]

    def unclaimed(self) -> Iterator[tuple[str, str, int]]:
        """(record number, sheet, row) of the repeating rows whose number no record of the first sheet has."""
        yield from self._db.execute("SELECT key, sheet, rowno FROM rows WHERE key NOT IN (SELECT key FROM used) "
                                    "ORDER BY id")


@contextmanager
def temporary() -> Iterator[Index]:
    fd, path = tempfile.mkstemp(prefix="workbench-import-", suffix=".sqlite")
    os.close(fd)
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        conn.executescript(_SCHEMA)
        yield Index(conn)
    finally:
        conn.close()
        os.unlink(path)
