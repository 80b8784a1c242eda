"""Certificates per organization and standard: issue, status changes, the programme of each.

Every change is an event in the client's hash-chained trail (action `certificate`, with the fields changed),
so the certificate's history is the chain's, and an insider editing the row shows up in `trail verify` as a
certificate that no event explains (`history` lists them).
"""
from __future__ import annotations

from datetime import date

from flask_babel import gettext as _
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from workbench import trail
from workbench.audit.models import Engagement
from workbench.cb import programme
from workbench.cb.models import CERT_STATUSES, Certificate
from workbench.errors import Conflict, UserError
from workbench.models import Event, Organization, utcnow

STANDARDS = ("ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018")


def status_label(status: str) -> str:
    return {"valid": _("valid"), "suspended": _("suspended"), "withdrawn": _("withdrawn"),
            "expired": _("expired")}.get(status, status)


def _fields(c: Certificate) -> dict:
    return {"standard": c.standard, "number": c.number, "scope": c.scope, "sites": list(c.sites),
            "decision_date": c.decision_date.isoformat(), "issue_date": c.issue_date.isoformat(),
            "expiry_date": c.expiry_date.isoformat(), "status": c.status, "headcount": c.headcount,
            "scope_processes": list(c.scope_processes)}


def issue(db: Session, org: Organization, user, *, standard: str, number: str, scope: str, issue_date: date,
          decision_date: date | None = None, sites: list[str] | None = None, headcount: int | None = None,
          cb_org: Organization | None = None, scope_processes: list[str] | None = None) -> Certificate:
    if standard not in STANDARDS:
        raise UserError(_("Choose a standard."), field="standard")
    number = (number or "").strip()
    if not number or len(number) > 64:
        raise UserError(_("Enter the certificate number (at most 64 characters)."), field="number")
    dup = db.exec(select(Certificate.id).where(Certificate.cb_org_id == (cb_org.id if cb_org else None),
                                               Certificate.number == number)).first()
    if dup:
        raise Conflict(_("Certificate number %(n)s is already issued.", n=number), field="number")
    decision = decision_date or issue_date
    if decision > issue_date:
        raise UserError(_("The certification decision cannot be after the issue date."), field="decision_date")
    c = Certificate(org_id=org.id, cb_org_id=cb_org.id if cb_org else None, standard=standard, number=number,
                    scope=scope or "", sites=sites or [], decision_date=decision, issue_date=issue_date,
                    expiry_date=programme.expiry(issue_date), headcount=headcount if headcount is not None else org.headcount,
                    scope_processes=scope_processes or [])
    try:
        with db.begin_nested():  # two people issuing the same number at once: the second gets a 409
            db.add(c)
            db.flush()
    except IntegrityError:
        raise Conflict(_("Certificate number %(n)s is already issued.", n=number), field="number") from None
    trail.append(db, org.id, "certificate", actor=user, to_state="valid", data_digest=trail.digest(_fields(c)),
                 detail={"certificate": c.id, "issued": _fields(c)})
    return c


def set_status(db: Session, c: Certificate, status: str, user, reason: str) -> None:
    if status not in CERT_STATUSES:
        raise UserError(_("Unknown certificate status."), field="status")
    if not (reason or "").strip():
        raise UserError(_("State the reason for the change."), field="reason")
    if status == c.status:
        return
    old, c.status, c.updated_at = c.status, status, utcnow()
    db.add(c)
    trail.append(db, c.org_id, "certificate", actor=user, from_state=old, to_state=status, comment=reason,
                 data_digest=trail.digest(_fields(c)), detail={"certificate": c.id, "status": status})


def history(db: Session, c: Certificate) -> list[Event]:
    return [e for e in db.exec(select(Event).where(Event.org_id == c.org_id, Event.action == "certificate")
                               .order_by(Event.seq)).all() if (e.detail or {}).get("certificate") == c.id]


def tampered(db: Session, c: Certificate) -> bool:
    """The row differs from what its last chain event recorded (changed outside the service)."""
    events = history(db, c)
    return not events or events[-1].data_digest != trail.digest(_fields(c))


def effective_status(c: Certificate, today: date) -> str:
    return "expired" if c.status == "valid" and c.expiry_date < today else c.status


def for_org(db: Session, org_id: int) -> list[Certificate]:
    return list(db.exec(select(Certificate).where(Certificate.org_id == org_id)
                        .order_by(Certificate.standard, Certificate.issue_date.desc())).all())


def slots_of(db: Session, c: Certificate, today: date | None = None) -> list[programme.Slot]:
    """The certificate's programme with the engagements held in each slot (their first access day; an
    engagement that has not started by `today` is planned, not held)."""
    held = {}
    for e in db.exec(select(Engagement).where(Engagement.certificate_id == c.id).order_by(Engagement.access_from)).all():
        if today is not None and e.access_from.date() > today:
            continue
        if e.programme_slot and e.programme_slot not in held:
            held[e.programme_slot] = (e.access_from.date(), e.id)
    return programme.slots(c.decision_date, c.expiry_date, held)



def programme_items(db: Session, org_id: int, today: date) -> list[tuple[Certificate, programme.Slot, str]]:
    """Open (not yet held) slots of the organization's valid certificates: (certificate, slot, status), most
    urgent first — for the client's dashboard, the portfolio and readiness."""
    out = []
    for c in for_org(db, org_id):
        if effective_status(c, today) not in ("valid", "suspended"):
            continue
        for s in slots_of(db, c, today):
            if not s.held:
                out.append((c, s, s.status(today)))
    order = {"overdue": 0, "due_soon": 1, "planned": 2}
    return sorted(out, key=lambda t: (order.get(t[2], 3), t[1].due))
