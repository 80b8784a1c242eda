"""Form values <-> typed JSON data, driven by the record's JSON Schema.

Form field names are dotted data paths: ``result``, ``supplier.name``, ``items.0.value``. Repeating rows
declare which row indices exist with hidden inputs named ``<path>.__row`` (one per row), so an empty row
survives a round trip through the server even without JavaScript.

- ``flatten(schema, data)`` turns stored data into form values (a MultiDict) for rendering.
- ``parse(schema, form)`` turns posted form values into typed data plus per-field type errors.
- ``apply_row_action(schema, form, action)`` adds or removes a repeating row ("add:items", "remove:items.2").
"""
from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from werkzeug.datastructures import MultiDict

from forms.messages import message

ROW = "__row"
MISSING = object()
_INT = re.compile(r"^[+-]?\d+$")
SAFE_INT = 2**53 - 1  # integers beyond this have no exact JSON / RFC 8785 form (the event chain hashes RFC 8785)


def _safe_int(raw: str) -> int | None:
    digits = raw.lstrip("+-").lstrip("0")
    if not raw.isascii() or len(digits) > 16:
        return None
    n = int(raw)
    return n if abs(n) <= SAFE_INT else None
_ROW_INDEX = re.compile(r"[0-9]{1,6}")  # ASCII only: str.isdigit() accepts '¹', which int() refuses
_LOCAL_DT = re.compile(r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2})(:\d{2})?$")

DEFAULT_TZ = timezone(timedelta(hours=8), "Asia/Shanghai")


def kind_of(field: dict) -> str:
    """The form-level kind of a field schema."""
    t = field.get("type")
    if t == "object":
        return "object"
    if t == "array":
        items = field.get("items") or {}
        if items.get("enum") is not None:
            return "multichoice"
        return "rows"
    if field.get("enum") is not None:
        return "choice"
    if t == "boolean":
        return "boolean"
    if t in ("integer", "number"):
        return t
    return "string"


def row_index(raw: object) -> int | None:
    return int(raw) if isinstance(raw, str) and _ROW_INDEX.fullmatch(raw) else None


def row_indices(form: MultiDict, path: str) -> list[int]:
    out: list[int] = []
    for raw in form.getlist(f"{path}.{ROW}"):
        i = row_index(raw)
        if i is not None and i not in out:
            out.append(i)
    return out


# --- data -> form ----------------------------------------------------------------------------


def flatten(schema: dict, data: dict | None, tz: tzinfo = DEFAULT_TZ) -> MultiDict:
    form: MultiDict = MultiDict()
    _flatten_object(schema, data or {}, "", form, tz)
    return form


def _flatten_object(schema: dict, data: dict, prefix: str, form: MultiDict, tz: tzinfo) -> None:
    for name, field in (schema.get("properties") or {}).items():
        if name in data:
            _flatten_value(field, data[name], prefix + name, form, tz)


def _flatten_value(field: dict, value: Any, path: str, form: MultiDict, tz: tzinfo) -> None:
    kind = kind_of(field)
    if kind == "object" and isinstance(value, dict):
        _flatten_object(field, value, path + ".", form, tz)
    elif kind == "multichoice" and isinstance(value, list):
        for v in value:
            form.add(path, _scalar_to_text(v))
    elif kind == "rows" and isinstance(value, list):
        items = field.get("items") or {}
        for i, v in enumerate(value):
            form.add(f"{path}.{ROW}", str(i))
            _flatten_value(items, v, f"{path}.{i}", form, tz)
    elif kind == "boolean":
        form.add(path, "true" if value is True else "false" if value is False else str(value))
    elif field.get("format") == "date-time" and isinstance(value, str):
        form.add(path, datetime_to_local(value, tz))
    else:
        form.add(path, _scalar_to_text(value))


def _scalar_to_text(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float) and v.is_integer() and abs(v) < 1e15:
        return str(int(v)) + ".0"
    return "" if v is None else str(v)


def datetime_to_local(value: str, tz: tzinfo = DEFAULT_TZ) -> str:
    """RFC 3339 -> 'YYYY-MM-DDTHH:MM' in the organization's time zone (for datetime-local inputs)."""
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return value
    if dt.tzinfo is not None:
        dt = dt.astimezone(tz)
    return dt.strftime("%Y-%m-%dT%H:%M")


# --- form -> data ----------------------------------------------------------------------------


def parse(schema: dict, form: MultiDict, lang: str = "zh", tz: tzinfo = DEFAULT_TZ,
          keep_empty_rows: bool = False) -> tuple[dict, dict[str, list[str]]]:
    """Posted values -> (typed data, {path: [type error messages]}). Blank inputs are omitted."""
    errors: dict[str, list[str]] = {}
    ctx = _Ctx(form, lang, tz, keep_empty_rows, errors)
    data = ctx.object(schema, "")
    return (data if data is not MISSING else {}), errors


class _Ctx:
    def __init__(self, form, lang, tz, keep_empty_rows, errors):
        self.form, self.lang, self.tz, self.keep, self.errors = form, lang, tz, keep_empty_rows, errors

    def fail(self, path: str, key: str, **kw) -> object:
        self.errors.setdefault(path, []).append(message(key, self.lang, **kw))
        return MISSING

    def object(self, schema: dict, prefix: str) -> Any:
        out: dict = {}
        for name, field in (schema.get("properties") or {}).items():
            v = self.value(field, prefix + name)
            if v is not MISSING:
                out[name] = v
        return out if out else MISSING

    def value(self, field: dict, path: str) -> Any:
        kind = kind_of(field)
        if kind == "object":
            return self.object(field, path + ".")
        if kind == "multichoice":
            items = field.get("items") or {}
            vals = [self.choice(items, v, path) for v in self.form.getlist(path) if str(v).strip() != ""]
            vals = [v for v in vals if v is not MISSING]
            return vals if vals else MISSING
        if kind == "rows":
            items = field.get("items") or {}
            rows = []
            for i in row_indices(self.form, path):
                v = self.value(items, f"{path}.{i}")
                if v is MISSING:
                    if not self.keep:
                        continue
                    v = {} if items.get("type") == "object" else ""
                rows.append(v)
            return rows if rows else MISSING
        raw = self.form.get(path)
        if raw is None:
            return MISSING
        raw = str(raw).replace("\r\n", "\n").strip()
        if raw == "":
            return MISSING
        if kind == "choice":
            return self.choice(field, raw, path)
        if kind == "boolean":
            low = raw.lower()
            if low in ("true", "on", "1", "yes"):
                return True
            if low in ("false", "0", "no"):
                return False
            return self.fail(path, "boolean")
        if kind == "integer":
            if not _INT.match(raw) or _safe_int(raw) is None:
                return self.fail(path, "integer")
            return int(raw)
        if kind == "number":
            try:
                num = _safe_int(raw) if _INT.match(raw) else float(raw)
            except ValueError:
                return self.fail(path, "number")
            if num is None:
                return self.fail(path, "number")
            if isinstance(num, float) and not math.isfinite(num):
                return self.fail(path, "number")
            return num
        if field.get("format") == "date-time":
            return self.datetime(raw, path)
        return raw

    def choice(self, field: dict, raw: str, path: str) -> Any:
        for option in field.get("enum") or []:
            if _scalar_to_text(option) == raw or str(option) == raw:
                return option
        return self.fail(path, "enum")

    def datetime(self, raw: str, path: str) -> Any:
        m = _LOCAL_DT.match(raw)
        if m:  # a datetime-local value: interpret in the organization's time zone
            try:
                dt = datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{m.group(3) or ':00'}")
            except ValueError:
                return self.fail(path, "date-time")
            return dt.replace(tzinfo=self.tz).isoformat()
        return raw  # already RFC 3339 (or invalid: the format check reports it)


# --- repeating rows --------------------------------------------------------------------------


def apply_row_action(form: MultiDict, action: str) -> MultiDict:
    """'add:<path>' appends an empty row; 'remove:<path>.<i>' drops row i. Returns a new MultiDict."""
    out = MultiDict(form)
    verb, _, target = action.partition(":")
    if verb == "add" and target:
        current = row_indices(out, target)
        out.add(f"{target}.{ROW}", str(max(current) + 1 if current else 0))
    elif verb == "remove" and "." in target:
        path, _, idx = target.rpartition(".")
        if row_index(idx) is not None:
            keep = [str(i) for i in row_indices(out, path) if i != row_index(idx)]
            out.setlist(f"{path}.{ROW}", keep)
            prefix = f"{path}.{idx}"
            for key in [k for k in out.keys() if k == prefix or k.startswith(prefix + ".")]:
                out.poplist(key)
    return out
