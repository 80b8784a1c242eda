"""String formats used by record data, checked strictly (jsonschema alone skips date-time without extras), and
the record validator: JSON Schema 2020-12 plus the rule keywords of `workbench/record_rules.py`."""
from __future__ import annotations

import json
import re
from datetime import date, datetime
from functools import lru_cache

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
    """The compiled validator of `schema`, built once per distinct schema (by its JSON text: templates are loaded
    anew by every request, and a caller may change its dict afterwards without affecting the cached one)."""
    return _compiled(json.dumps(schema, ensure_ascii=False, default=str))


@lru_cache(maxsize=256)
def _compiled(text: str) -> Draft202012Validator:
    return RecordValidator(json.loads(text), format_checker=FORMAT_CHECKER)
