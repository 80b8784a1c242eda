"""How record data is validated: string formats checked strictly (jsonschema alone skips date-time without
extras), and two keywords of our own for rules a JSON Schema cannot state, written on an object schema:

- `"products": {"d": ["l", "e", "c"]}` — field `d` must equal l × e × c (LEC risk value D = L × E × C);
  checked when the target and every factor hold numbers.
- `"counts": {"nc_count": {"items": "findings", "where": {"grade": ["minor", "major"]}}}` — field `nc_count`
  must equal the number of rows of array `findings` whose `grade` is one of the values (all rows without
  `where`); checked when the target holds a number.
- `"maxBand": {"max_level": {"items": "hazards", "value": "d", "bands": [[320, "1"], [160, "2"], [0, "3"]]}}` —
  field `max_level` must be the band of the largest `d` among the rows of `hazards`: the first band whose
  lower bound the value reaches (bands in descending order); checked when the target is filled and a row has
  a number.
- `"earliest": {"next_expiry": {"items": "certificates", "value": "expiry"}}` — date field `next_expiry` must be
  the earliest `expiry` among the rows (reminders follow it); checked when the target and a row's date are filled.

Both report at the target field (validator "products" / "counts"); forms/validate.py words the message.
"""
from __future__ import annotations

import math
import re
from datetime import date, datetime

from jsonschema import Draft202012Validator, FormatChecker, validators
from jsonschema.exceptions import ValidationError

FORMAT_CHECKER = FormatChecker(formats=())

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@FORMAT_CHECKER.checks("date", raises=ValueError)
def is_date(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATE.match(value):
        return False
    date.fromisoformat(value)
    return True


@FORMAT_CHECKER.checks("date-time", raises=ValueError)
def is_datetime(value: object) -> bool:
    if not isinstance(value, str):
        return True
    if not _DATETIME.match(value):
        return False
    datetime.fromisoformat(value.replace("Z", "+00:00"))
    return True


@FORMAT_CHECKER.checks("email")
def is_email(value: object) -> bool:
    return not isinstance(value, str) or bool(_EMAIL.match(value))


def _number(v: object) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def product_of(instance: dict, factors: list[str]) -> float | None:
    """The product of the factor fields, or None when one of them is not a number."""
    values = [instance.get(f) for f in factors]
    return math.prod(values) if all(_number(v) for v in values) else None


def _column(instance: dict, rule: dict) -> list:
    rows = instance.get(rule.get("items", ""))
    return [r.get(rule.get("value")) for r in rows if isinstance(r, dict)] if isinstance(rows, list) else []


def count_of(instance: dict, rule: dict) -> int:
    rows = instance.get(rule.get("items", ""))
    where = rule.get("where") or {}
    if not isinstance(rows, list):
        return 0
    return sum(1 for r in rows if isinstance(r, dict) and all(r.get(k) in vals for k, vals in where.items()))


def band_of(instance: dict, rule: dict):
    """The band of the largest value in the rows, or None when no row holds a number (or none reaches a band)."""
    values = [v for v in _column(instance, rule) if _number(v)]
    if not values:
        return None
    top = max(values)
    bands = [b for b in rule.get("bands") or [] if isinstance(b, list) and len(b) == 2 and _number(b[0])]
    return next((band for low, band in bands if top >= low), None)


def earliest_of(instance: dict, rule: dict) -> str | None:
    values = [v for v in _column(instance, rule) if isinstance(v, str) and _DATE.match(v)]
    return min(values) if values else None


def _same(got, expected) -> bool:
    if _number(got) and _number(expected):
        return math.isclose(got, expected, rel_tol=1e-9, abs_tol=1e-6)  # 0.1 × 3 × 7 is 2.1000000000000005
    return got == expected


def _rule(expected_of, shape: type):
    """A keyword checking each target field against the value `expected_of(instance, rule)` computes; silent when
    that is None or the target holds another kind of value (the type and required rules speak then)."""
    def check(validator, spec, instance, schema):
        if not isinstance(instance, dict) or not isinstance(spec, dict):
            return
        for target, rule in spec.items():
            got = instance.get(target)
            expected = expected_of(instance, rule) if isinstance(rule, shape) else None
            if expected is None or got is None or _number(got) != _number(expected) or _same(got, expected):
                continue
            yield ValidationError(f"{target} must be {expected!r}, not {got!r}", path=[target])
    return check


RULES = {"products": (product_of, list), "counts": (count_of, dict), "maxBand": (band_of, dict), "earliest": (earliest_of, dict)}
RecordValidator = validators.extend(Draft202012Validator, {k: _rule(f, shape) for k, (f, shape) in RULES.items()})


def record_validator(schema: dict) -> Draft202012Validator:
    return RecordValidator(schema, format_checker=FORMAT_CHECKER)
