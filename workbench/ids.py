"""Numbers users send: ids in paths, query strings and form fields never overflow the database.

SQLite and PostgreSQL keep ids in signed 64-bit integers; Python's `int()` refuses more than 4,300 digits.
So every id a request carries is a plain ASCII number of at most 18 digits (anything else: no such id,
which the views answer with 404 or a form message):

- `IdConverter` replaces Flask's `int` URL converter (`/r/99999999999999999999999` is a 404);
- `Request` makes `request.args/form.get(name, type=int)` return the default for such values;
- `parse_id(raw)` for ids read by hand.
"""
from __future__ import annotations

from flask import Flask
from flask.wrappers import Request as FlaskRequest
from werkzeug.datastructures import ImmutableMultiDict
from werkzeug.routing import IntegerConverter

MAX_ID = 2**63 - 1
MAX_DIGITS = 18


def parse_id(raw: object) -> int | None:
    """A positive-or-zero id from user input, or None (never an overflow)."""
    if isinstance(raw, int) and not isinstance(raw, bool):
        return raw if 0 <= raw <= MAX_ID else None
    s = str(raw if raw is not None else "").strip()
    return int(s) if s.isascii() and s.isdigit() and len(s) <= MAX_DIGITS else None


def bounded_int(raw: str) -> int:
    """`type=` for MultiDict.get: a signed whole number of at most 18 digits, else ValueError (-> default)."""
    s = str(raw).strip()
    digits = s[1:] if s[:1] in "+-" else s
    if not (digits.isascii() and digits.isdigit() and len(digits) <= MAX_DIGITS):
        raise ValueError("not a bounded integer")
    return int(s)


class IdConverter(IntegerConverter):
    """`<int:...>` in every route: at most 18 digits, so the database never sees an out-of-range id."""

    def __init__(self, map, fixed_digits: int = 0, min: int | None = None, max: int | None = None, signed: bool = False):
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=MAX_ID if max is None else max, signed=signed)
        self.regex = r"\d{1,18}" if not signed else r"-?\d{1,18}"


class BoundedMultiDict(ImmutableMultiDict):
    def get(self, key, default=None, type=None):  # noqa: A002 - Werkzeug's signature
        if type is int:
            type = bounded_int
        return super().get(key, default=default, type=type)


class Request(FlaskRequest):
    parameter_storage_class = BoundedMultiDict


def init_app(app: Flask) -> None:
    """Call before the blueprints are registered (rules pick their converter when they are added)."""
    app.url_map.converters["int"] = IdConverter
    app.url_map.converters["id"] = IdConverter
    app.request_class = Request
