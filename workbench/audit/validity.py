"""When was a certificate, calibration, inspection or licence valid? Only records that are in a final
(accepted) workflow state *and* carry a passing result establish validity, from their activity date to
their due date. A later final record with a failing or limited result ends the validity on its date; a
draft (or any record not in a final state) neither extends nor ends it.

Pure functions over records already loaded for one subject; `readiness` turns them into findings.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from workbench.models import Record

# template key -> (field, passing values). A template not listed: any final record passes.
PASSING = {
    "calibration-record": ("result", {"pass"}),
    "special-equipment": ("result", {"pass"}),
    "type-test-report": ("conclusion", {"pass"}),
    "licence-permit": ("status", {"valid", "renewing"}),
}
ONE_DAY = timedelta(days=1)


def passing(rec: Record) -> bool:
    rule = PASSING.get(rec.template_key)
    return True if rule is None else (rec.data or {}).get(rule[0]) in rule[1]


@dataclass
class Validity:
    subject: str
    records: list[Record]  # every record of the subject, newest first
    intervals: list[tuple[date, date, Record]] = field(default_factory=list)  # valid [from, until] and the record
    failed: Record | None = None  # the latest final record with a non-passing result, if it is the latest final one
    lapses: list[tuple[date, date]] = field(default_factory=list)  # gaps inside the period (ended before today)

    def valid_on(self, day: date) -> tuple[date, date, Record] | None:
        return next((iv for iv in sorted(self.intervals, key=lambda iv: iv[1], reverse=True) if iv[0] <= day <= iv[1]), None)

    @property
    def last_until(self) -> date | None:
        return max((iv[1] for iv in self.intervals), default=None)

    accepted: set[int] = field(default_factory=set)  # ids of the records in a final state

    @property
    def unaccepted(self) -> list[Record]:
        return [r for r in self.records if r.id not in self.accepted]


def subject_validity(subject: str, recs: list[Record], is_final: Callable[[Record], bool], start: date, end: date,
                     today: date) -> Validity:
    v = Validity(subject, sorted(recs, key=lambda r: (r.record_date or date.min, r.id), reverse=True))
    v.accepted = {r.id for r in recs if is_final(r)}
    final = sorted((r for r in recs if r.id in v.accepted and r.record_date), key=lambda r: (r.record_date, r.id))
    for i, r in enumerate(final):
        if not passing(r) or r.due_date is None:
            continue
        until = r.due_date
        stop = next((n for n in final[i + 1:] if not passing(n) and n.record_date >= r.record_date), None)
        if stop is not None:
            until = min(until, stop.record_date - ONE_DAY)
        # a record entered after its validity ended (an old licence registered late) carries no start date
        begin = r.record_date if r.record_date <= r.due_date else date.min
        if until >= begin:
            v.intervals.append((begin, until, r))
    if final and not passing(final[-1]):
        v.failed = final[-1]
    # lapses inside [max(start, first activity), min(end, today)) — the gap running into today is "expired", not a lapse
    first = min((r.record_date for r in recs if r.record_date), default=None)
    if first is None:
        return v
    lo, hi = max(start, first), min(end, today)
    cursor = lo
    for a, b, _r in sorted(v.intervals, key=lambda iv: iv[0]):
        if b < cursor:
            continue
        if a > cursor and cursor <= hi:
            gap_end = min(a - ONE_DAY, hi)
            if a <= hi:  # the gap closed again before today: a lapse in the period
                v.lapses.append((cursor, gap_end))
        cursor = max(cursor, b + ONE_DAY)
    return v
