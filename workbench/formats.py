"""String formats used by record data, checked strictly (jsonschema alone skips date-time without extras), and
the record validator: JSON Schema 2020-12 plus the rule keywords of `workbench/record_rules.py`."""
from __future__ import annotations

import re
from datetime import date, datetime

from jsonschema import Draft202012Validator, FormatChecker, validators

from workbench.record_rules import keywords

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


RecordValidator = validators.extend(Draft202012Validator, keywords())


def record_validator(schema: dict) -> Draft202012Validator:
    """The validator of `schema`, built once per schema object (a template's body is one object for as long as its
    row is loaded: every record of a request or an import validates with the same validator). The validator reads
    the schema dict itself, so a caller that changes it in place is validated against the change."""
    hit = _VALIDATORS.get(id(schema))
    if hit is not None and hit[0] is schema:
        return hit[1]
    validator = RecordValidator(schema, format_checker=FORMAT_CHECKER)
    if len(_VALIDATORS) >= 256:
        _VALIDATORS.clear()
    _VALIDATORS[id(schema)] = (schema, validator)  # holds the schema: its id is not reused while cached
    return validator


_VALIDATORS: dict[int, tuple[dict, Draft202012Validator]] = {}
