"""Auto-numbering: a template field declares `"x-number": "NCR-{yyyy}-{seq:03}"` and gets the next number when
a record is created. Numbers are unique and gapless per organization, template, field and year: the counter
row is incremented with one UPDATE in the record's own transaction (the row is locked until commit on
PostgreSQL; SQLite serialises writers), so a rolled-back submission gives its number back.

Placeholders: {yyyy} {yy} {mm} {seq} {seq:03} (zero-padded width).
"""
from __future__ import annotations

import re
from datetime import date
from typing import Optional

from sqlalchemy import Column, String, UniqueConstraint, update
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, Session, SQLModel, select

KEYWORD = "x-number"
SEQ = re.compile(r"\{seq(?::0?(\d+))?\}")


class NumberCounter(SQLModel, table=True):
    __tablename__ = "number_counter"
    __table_args__ = (UniqueConstraint("org_id", "scope", "year"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id")
    scope: str = Field(sa_column=Column(String(140), nullable=False))  # "<template key>.<field>"
    year: int
    value: int = 0


def next_value(db: Session, org_id: int, scope: str, year: int) -> int:
    """Increment and return the counter (creating it at 1). Locks the row until the caller's commit."""
    for _ in range(3):
        res = db.exec(update(NumberCounter).where(NumberCounter.org_id == org_id, NumberCounter.scope == scope,
                                                  NumberCounter.year == year).values(value=NumberCounter.value + 1))
        if res.rowcount:
            return db.exec(select(NumberCounter.value).where(NumberCounter.org_id == org_id, NumberCounter.scope == scope,
                                                             NumberCounter.year == year)).one()
        try:
            with db.begin_nested():
                db.add(NumberCounter(org_id=org_id, scope=scope, year=year, value=1))
            return 1
        except IntegrityError:  # another transaction created it first: increment theirs
            continue
    raise RuntimeError("could not allocate a number")


def render(pattern: str, day: date, seq: int) -> str:
    out = pattern.replace("{yyyy}", f"{day.year:04d}").replace("{yy}", f"{day.year % 100:02d}").replace("{mm}", f"{day.month:02d}")
    return SEQ.sub(lambda m: str(seq).zfill(int(m.group(1) or 0)), out)


def numbered_fields(schema: dict) -> dict[str, str]:
    return {k: f[KEYWORD] for k, f in (schema.get("properties") or {}).items() if isinstance(f.get(KEYWORD), str)}


def assign(db: Session, org_id: int, template_key: str, schema: dict, data: dict, day: date) -> dict:
    """Fill every numbered field that is still empty; returns the data (changed in place)."""
    for name, pattern in numbered_fields(schema).items():
        if not data.get(name):
            data[name] = render(pattern, day, next_value(db, org_id, f"{template_key}.{name}", day.year))
    return data
