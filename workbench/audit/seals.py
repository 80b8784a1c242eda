"""Audit seals: the chain head (seq + hash) when an engagement opens and when its report is issued.

An auditor takes the sealed head away (it is printed in the report, the xlsx and the evidence bundle), so it
anchors the chain outside the database: if anyone later rewrites history before it (recomputing every
hash) or cuts the chain short, the event at that sequence number no longer has that hash. When the next
engagement opens, its opening seal records whether the chain still extends the previous engagement's last
seal (`Seal.extends`), and `continuity` re-checks every seal of the organization on demand (readiness page,
report).
"""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench import trail
from workbench.audit.models import SEAL_KINDS, Engagement, Seal
from workbench.models import Event

OK, BROKEN, FIRST = "ok", "broken", "first"


def seal(db: Session, engagement: Engagement, kind: str, user=None) -> Seal:
    """Store the current head of the engagement's organization's chain (the caller commits). The seal is
    itself chained (`audit_seal` event), after the head it names."""
    if kind not in SEAL_KINDS:
        raise ValueError(f"unknown seal kind {kind!r}")
    db.flush()
    last = trail.head(db, engagement.org_id)
    previous = db.exec(select(Seal).where(Seal.org_id == engagement.org_id, Seal.engagement_id != engagement.id)
                       .order_by(Seal.id.desc()).limit(1)).first()
    s = Seal(engagement_id=engagement.id, org_id=engagement.org_id, kind=kind, seq=last.seq if last else 0,
             hash=last.hash if last else trail.GENESIS, scheme=trail.scheme_of(last) if last else trail.SCHEME,
             previous_seal_id=previous.id if previous else None,
             extends=FIRST if previous is None else OK if still_holds(db, previous) else BROKEN,
             sealed_by=getattr(user, "id", None))
    db.add(s)
    db.flush()
    trail.append(db, engagement.org_id, "audit_seal", actor=user,
                 detail={"engagement": engagement.id, "kind": kind, "seq": s.seq, "hash": s.hash,
                         "extends": s.extends, "previous": [previous.seq, previous.hash] if previous else None})
    return s


def still_holds(db: Session, s: Seal) -> bool:
    """The chain still has the sealed event at that sequence number, with that hash, and its content
    still gives that hash."""
    if s.seq == 0:
        return True
    e = db.exec(select(Event).where(Event.org_id == s.org_id, Event.seq == s.seq)).first()
    return e is not None and e.hash == s.hash and trail.event_hash(e) == s.hash


def seals_of(db: Session, engagement: Engagement) -> list[Seal]:
    return list(db.exec(select(Seal).where(Seal.engagement_id == engagement.id).order_by(Seal.id)).all())


@dataclass
class Continuity:
    """Whether the chain still extends every sealed head of the organization (and of one engagement)."""
    status: str  # ok | broken | first (no earlier seal to compare with)
    broken: list[Seal] = field(default_factory=list)
    checked: int = 0
    opened_extends: str | None = None  # the result recorded when the engagement opened

    @property
    def message(self) -> str:
        if self.broken:
            s = self.broken[0]
            return _("The event chain no longer contains the head sealed on %(at)s (event #%(seq)s): history was "
                     "rewritten or cut short since.", at=s.sealed_at.strftime("%Y-%m-%d"), seq=s.seq)
        if self.opened_extends == BROKEN:
            return _("When this engagement opened, the chain did not extend the previous engagement's sealed head.")
        if self.status == FIRST:
            return _("No earlier sealed head to compare with: this is the first sealed engagement.")
        return _("The event chain still extends all %(n)s sealed heads.", n=self.checked)


def continuity(db: Session, org_id: int, engagement: Engagement | None = None) -> Continuity:
    rows = list(db.exec(select(Seal).where(Seal.org_id == org_id).order_by(Seal.id)).all())
    broken = [s for s in rows if not still_holds(db, s)]
    opens = [s for s in rows if s.kind == "open" and (engagement is None or s.engagement_id == engagement.id)]
    opened = opens[-1].extends if opens else None  # the engagement's (default: the latest) opening check
    earlier = [s for s in rows if engagement is None or s.engagement_id != engagement.id]
    status = BROKEN if broken or opened == BROKEN else OK if earlier else FIRST
    return Continuity(status, broken, len(rows), opened)


def kind_label(kind: str) -> str:
    return {"open": _("engagement opened"), "report": _("report issued")}.get(kind, kind)


def readiness_item(db: Session, org_id: int):
    """The readiness page's line for the chain (None before the first seal): fails when the chain no longer
    extends a sealed head, or did not when the latest engagement opened."""
    from workbench.audit.readiness import FAIL, OK, Item

    if db.exec(select(Seal.id).where(Seal.org_id == org_id).limit(1)).first() is None:
        return None
    c = continuity(db, org_id)
    return Item("chain", 0, FAIL if c.status == BROKEN else OK, c.message, "", params={"continuity": c.status})
