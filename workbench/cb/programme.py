"""The three-year certification programme (ISO/IEC 17021-1; China's certification rule in force since 2026).

Due dates count from the certification decision: surveillance 1 within 12 months of the decision; no
surveillance interval longer than 12 months (surveillance 2 is due 12 months after surveillance 1 was held,
or after it was due if not yet held); recertification completed before the certificate expires. A
certificate is valid three years: it expires the day before the same date three years on (a certificate
issued on 29 February expires on 28 February). Special / short-notice audits can be added at any time.

An engagement belongs to one slot (`audit_engagement.programme_slot`), so its audit type and the sampling
factor follow from the slot.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from flask_babel import gettext as _

from workbench.schedules import add_months

SLOTS = ("stage1", "stage2", "surveillance1", "surveillance2", "recertification", "special")
AUDIT_TYPE = {"stage1": "initial", "stage2": "initial", "surveillance1": "surveillance",
              "surveillance2": "surveillance", "recertification": "recertification", "special": "surveillance"}
WARN_DAYS = 90


def slot_label(slot: str) -> str:
    return {"stage1": _("Stage 1 audit"), "stage2": _("Stage 2 audit"), "surveillance1": _("Surveillance audit 1"),
            "surveillance2": _("Surveillance audit 2"), "recertification": _("Recertification audit"),
            "special": _("Special / short-notice audit")}.get(slot, slot)


def audit_type(slot: str | None, default: str = "initial") -> str:
    return AUDIT_TYPE.get(slot or "", default)


def expiry(issue: date) -> date:
    """The day before the same date three years on (29 February: 1 March is "the same date", so 28 February)."""
    try:
        same = issue.replace(year=issue.year + 3)
    except ValueError:  # 29 February in a non-leap year
        same = date(issue.year + 3, 3, 1)
    return same - timedelta(days=1)


@dataclass
class Slot:
    slot: str
    due: date  # latest date the audit may be held
    held: date | None = None  # when an engagement in this slot was held (its first audit day)
    engagement_id: int | None = None

    def status(self, today: date) -> str:
        if self.held:
            return "done"
        if self.due < today:
            return "overdue"
        if self.due <= today + timedelta(days=WARN_DAYS):
            return "due_soon"
        return "planned"


def slots(decision: date, expiry_date: date, held: dict[str, tuple[date, int]] | None = None) -> list[Slot]:
    """The surveillance and recertification slots of a cycle. `held` maps slot -> (audit date, engagement id)."""
    held = held or {}
    s1 = Slot("surveillance1", min(add_months(decision, 12), expiry_date), *held.get("surveillance1", (None, None)))
    s2_from = s1.held or s1.due
    s2 = Slot("surveillance2", min(add_months(s2_from, 12), expiry_date), *held.get("surveillance2", (None, None)))
    rc = Slot("recertification", expiry_date - timedelta(days=1), *held.get("recertification", (None, None)))
    return [s1, s2, rc]


def next_due(all_slots: list[Slot], today: date) -> Slot | None:
    return next((s for s in sorted(all_slots, key=lambda s: s.due) if not s.held), None)
