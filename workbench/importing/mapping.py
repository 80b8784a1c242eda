"""Which column is which field: a header names a field by its key, its zh label or its en label (an object's
sub-field as `对象.字段` / `object.field`); a repeating-rows field (array of objects) is a sheet of its own named
like the field, whose rows carry the record number of their record."""
from __future__ import annotations

import re
from dataclasses import dataclass

from forms.values import kind_of

RECORD_NO = {"zh": "记录号", "en": "Record no."}
_RECORD_NAMES = {"记录号", "recordno.", "recordno", "_record", "#", "序号"}


def norm(s) -> str:
    return re.sub(r"\s+", "", str(s or "")).casefold()


def _names(key: str, f: dict) -> list[str]:
    label = f.get("label") or {}
    return [key] + [label[k] for k in ("zh", "en") if label.get(k)]


@dataclass
class Column:
    index: int
    header: str
    path: str  # dotted, relative to the sheet's record (or row) object
    field: dict | None  # None: the record-number column


def fields(schema: dict) -> dict[str, tuple[str, dict]]:
    """Matchable names -> (dotted path, field) for a record (or row) object: scalars, choices, objects' fields."""
    out: dict[str, tuple[str, dict]] = {}
    for key, f in (schema.get("properties") or {}).items():
        kind = kind_of(f)
        if f.get("format") == "attachment" or (kind == "rows" and (f.get("items") or {}).get("type") == "object"):
            continue
        if kind == "object":
            for sub, sf in (f.get("properties") or {}).items():
                if sf.get("format") == "attachment" or kind_of(sf) in ("object", "rows"):
                    continue
                for a in _names(key, f):
                    for b in _names(sub, sf):
                        out.setdefault(norm(f"{a}.{b}"), (f"{key}.{sub}", sf))
                        out.setdefault(norm(f"{a}/{b}"), (f"{key}.{sub}", sf))
            continue
        for n in _names(key, f):
            out.setdefault(norm(n), (key, f))
    return out


def row_fields(schema: dict) -> dict[str, tuple[str, dict]]:
    """Matchable sheet names -> (path, items schema) of the repeating-rows fields."""
    out = {}
    for key, f in (schema.get("properties") or {}).items():
        if kind_of(f) == "rows" and (f.get("items") or {}).get("type") == "object":
            for n in _names(key, f):
                out.setdefault(norm(n)[:31], (key, f["items"]))
    return out


def header(cells: list, known: dict[str, tuple[str, dict]]) -> tuple[list[Column], list[tuple[int, str]]]:
    """Columns of a header row, and (index, header) of the columns that name no field."""
    cols, unknown, seen = [], [], set()
    for i, h in enumerate(cells):
        n = norm(h)
        if not n:
            continue
        if n in _RECORD_NAMES:
            cols.append(Column(i, str(h), "", None))
        elif n in known and known[n][0] not in seen:
            seen.add(known[n][0])
            cols.append(Column(i, str(h), known[n][0], known[n][1]))
        else:
            unknown.append((i, str(h)))
    return cols, unknown


def letter(index: int) -> str:
    s, n = "", index + 1
    while n:
        n, r = divmod(n - 1, 26)
        s = chr(65 + r) + s
    return s
