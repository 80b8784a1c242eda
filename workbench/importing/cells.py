"""Spreadsheet cells -> the strings the record form posts (`forms.parse` reads them): dates as Chinese
spreadsheets write them, enum values by label (zh / en) or value, 是/否 / yes / no. Formula-looking text is
text: nothing is ever evaluated (xlsx formula cells give their cached value, or nothing)."""
from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from flask_babel import gettext as _

from forms.values import kind_of

_DATE = re.compile(r"^\s*(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?\s*$")
_EXCEL_EPOCH = date(1899, 12, 30)
TRUE = {"是", "yes", "y", "true", "1", "✓", "√", "对"}
FALSE = {"否", "no", "n", "false", "0", "✗", "×", "不"}
_SPLIT = re.compile(r"\s*[,，、;；]\s*")


class CellError(ValueError):
    pass


def to_date(v: Any) -> date:
    """2026-03-05, 2026/3/5, 2026.03.05, 2026年3月5日, an Excel serial date (number), or a date cell."""
    if isinstance(v, datetime):
        return v.date()
    if isinstance(v, date):
        return v
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if 1 <= v < 2958466:  # 1900-01-01 .. 9999-12-31
            return _EXCEL_EPOCH + timedelta(days=int(v))
        raise CellError(_("not a date"))
    s = str(v).strip()
    if re.fullmatch(r"\d{1,7}(\.\d+)?", s):  # a serial date read from csv
        return to_date(float(s))
    m = _DATE.match(s.replace("T00:00:00", "").split(" ")[0] if " " in s and "年" not in s else s)
    if m:
        try:
            return date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        except ValueError:
            pass
    raise CellError(_("not a date: write it as 2026-03-05"))


def _text(v: Any) -> str:
    if isinstance(v, float) and v.is_integer():
        return str(int(v))
    if isinstance(v, datetime):
        return v.isoformat(sep=" ")
    return str(v).strip()


def _choice(field: dict, labels: dict, v: Any) -> str:
    s = _text(v)
    for option in field.get("enum") or []:
        names = {str(option)} | {str(x) for x in (labels.get(str(option)) or {}).values()}
        if s.casefold() in {n.strip().casefold() for n in names}:
            return "true" if option is True else "false" if option is False else str(option)
    raise CellError(_("“%(value)s” is not one of the choices", value=s[:60]))


def convert(field: dict, v: Any) -> list[str]:
    """The posted value(s) for one cell; [] for an empty cell. :raise CellError: with a message."""
    if v is None or (isinstance(v, str) and v.strip() == ""):
        return []
    kind = kind_of(field)
    fmt = field.get("format")
    if kind == "multichoice":
        items = field.get("items") or {}
        labels = field.get("enumLabels") or items.get("enumLabels") or {}
        return [_choice(items, labels, part) for part in _SPLIT.split(_text(v)) if part]
    if kind == "choice":
        return [_choice(field, field.get("enumLabels") or {}, v)]
    if kind == "boolean":
        if isinstance(v, bool):
            return ["true" if v else "false"]
        s = _text(v).casefold()
        if s in TRUE:
            return ["true"]
        if s in FALSE:
            return ["false"]
        raise CellError(_("write 是 or 否 (yes or no)"))
    if fmt == "date":
        return [to_date(v).isoformat()]
    if fmt == "date-time":
        if isinstance(v, datetime):
            return [v.strftime("%Y-%m-%dT%H:%M")]
        s = _text(v)
        head, _sep, rest = s.partition(" ")
        if rest and _DATE.match(head):
            return [f"{to_date(head).isoformat()}T{rest.strip()}"]
        return [s]
    if kind == "rows" and field.get("type") == "array":  # a list of plain values in one cell
        return [p for p in _SPLIT.split(_text(v)) if p]
    return [_text(v)]
