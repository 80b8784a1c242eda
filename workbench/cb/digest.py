"""The weekly digest of new anomalies to a certification body's staff.

For every certification body: each granted client's anomalies (portfolio thresholds) that no earlier digest
reported (`cb_digest_sent`), as a short text per staff member in their language, handed to the notification
outbox (`workbench.outbox.enqueue(db, channel, target, payload, dedupe_key)`, one per person and ISO week so
a re-run in the same week sends nothing twice). Without the outbox module the digest is only printed.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import force_locale
from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench.auth import active_memberships
from workbench.cb import grants, portfolio
from workbench.cb.models import DigestSent
from workbench.models import Membership, Organization, User


@dataclass
class Digest:
    cb: Organization
    user: User
    text: str
    items: int
    delivery: str  # "outbox #id", "outbox (already queued)", "printed only", "dry run"


def _outbox():
    try:
        from workbench import outbox  # the `daily` branch's notification outbox
    except ImportError:
        return None
    return getattr(outbox, "enqueue", None)


def new_anomalies(db: Session, cb: Organization, today: date) -> list[tuple[Organization, list]]:
    sent = {(c, k) for c, k in db.exec(select(DigestSent.client_org_id, DigestSent.anomaly_key)
                                       .where(DigestSent.cb_org_id == cb.id)).all()}
    out = []
    for client in grants.clients(db, cb):
        found = [a for a in portfolio.detect(db, client, today) if (client.id, a.key) not in sent]
        if found:
            out.append((client, found))
    return out


def render(cb: Organization, news: list[tuple[Organization, list]], today: date, locale: str) -> str:
    with force_locale(locale):
        lines = [_("%(cb)s — new anomalies in the week to %(day)s", cb=cb.name, day=today.isoformat()), ""]
        for client, found in news:
            lines.append(f"## {client.name}")
            for a in found:
                lines.append(f"- [{a.severity}] {a.message} ({len(a.record_ids)} #)")
            lines.append("")
        if not news:
            lines.append(_("No new anomalies."))
        return "\n".join(lines).strip()


def run(db: Session, cb_slug: str | None, today: date, dry_run: bool = False) -> list[Digest]:
    q = select(Organization).where(Organization.kind == "cb")
    if cb_slug:
        q = q.where(Organization.slug == cb_slug)
    enqueue = _outbox()
    week = today.isocalendar()
    out: list[Digest] = []
    for cb in db.exec(q.order_by(Organization.slug)).all():
        news = new_anomalies(db, cb, today)
        if not news:
            continue
        staff_ids = {m.user_id for m in db.exec(select(Membership).where(Membership.org_id == cb.id)).all()}
        for user in db.exec(select(User).where(User.id.in_(staff_ids or {0})).order_by(User.id)).all():
            if not active_memberships(db, user.id, cb.id):
                continue
            locale = user.locale or "zh_CN"
            text = render(cb, news, today, locale)
            delivery = "dry run" if dry_run else "printed only (no workbench.outbox)"
            if enqueue is not None and not dry_run:
                subject = render(cb, [], today, locale).splitlines()[0]
                queued = enqueue(db, "email", user.email, {"title": subject, "subject": subject, "text": text},
                                 f"cb-digest:{cb.id}:{week[0]}-W{week[1]:02d}:{user.id}", org_id=cb.id)
                delivery = "outbox" if queued else "outbox (already queued)"
            out.append(Digest(cb, user, text, sum(len(f) for _c, f in news), delivery))
        if not dry_run:
            for client, found in news:
                for a in found:
                    db.add(DigestSent(cb_org_id=cb.id, client_org_id=client.id, anomaly_key=a.key))
            db.flush()
    return out
