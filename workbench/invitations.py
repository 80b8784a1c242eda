"""Invitations: nobody is put into an organization without saying yes.

A manager who adds a person (as member, manager or consultant, or as an auditor on an engagement) records an
invitation for an email address. The answer is the same whether or not an account with that address exists,
and it never shows the person's name: another tenant's manager learns nothing about who has an account.
The invited person sees their pending invitations after signing in and accepts or declines them; only an
acceptance creates the membership (or the audit-team grant). Every step is an event in the organization's
chain. Independence (auditors never also work in the organization) is checked when inviting and again when
accepting, because either side may have changed in between.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from flask_babel import gettext as _
from sqlmodel import Field, Session, SQLModel, select

from workbench import trail
from workbench.actions import Action
from workbench.errors import Conflict, NotFound, UserError
from workbench.models import Organization, User, utcnow

PENDING, ACCEPTED, DECLINED, CANCELLED = "pending", "accepted", "declined", "cancelled"


class Invitation(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    email: str = Field(max_length=254, index=True)
    role: str = Field(max_length=16)  # member | manager | consultant | auditor
    engagement_id: Optional[int] = Field(default=None, foreign_key="audit_engagement.id")  # auditors
    status: str = Field(default=PENDING, max_length=16)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")
    decided_at: Optional[datetime] = None


def normal_email(email: str) -> str:
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254 or any(c.isspace() for c in email):
        raise UserError(_("Enter a valid email address."), field="email")
    return email


def invite(db: Session, org: Organization, email: str, role: str, by, engagement_id: int | None = None) -> Invitation:
    """Record a pending invitation (the caller has checked the role; independence is checked here)."""
    from workbench import members

    email = normal_email(email)
    user = db.exec(select(User).where(User.email == email)).first()
    if user is not None:
        members.check_independence(db, org.id, user.id, role, engagement_id)
    same = db.exec(select(Invitation).where(Invitation.org_id == org.id, Invitation.email == email,
                                            Invitation.role == role, Invitation.engagement_id == engagement_id,
                                            Invitation.status == PENDING)).first()
    if same is not None:
        return same  # inviting twice is harmless and answers the same
    inv = Invitation(org_id=org.id, email=email, role=role, engagement_id=engagement_id, created_by=getattr(by, "id", None))
    db.add(inv)
    db.flush()
    trail.append(db, org.id, Action.MEMBERSHIP_INVITE, actor=by,
                 detail={"invitation": inv.id, "email": email, "role": role, "engagement": engagement_id})
    return inv


def pending_for(db: Session, user) -> list[tuple[Invitation, Organization]]:
    rows = db.exec(select(Invitation, Organization).join(Organization, Organization.id == Invitation.org_id)
                   .where(Invitation.email == (user.email or "").lower(), Invitation.status == PENDING)
                   .order_by(Invitation.id)).all()
    return list(rows)


def pending_in(db: Session, org: Organization) -> list[Invitation]:
    return list(db.exec(select(Invitation).where(Invitation.org_id == org.id, Invitation.status == PENDING)
                        .order_by(Invitation.id)).all())


def _mine(db: Session, invitation_id: int, user) -> Invitation:
    inv = db.get(Invitation, invitation_id)
    if inv is None or inv.email != (user.email or "").lower():
        raise NotFound(_("No such invitation."))
    if inv.status != PENDING:
        raise Conflict(_("This invitation was already answered or withdrawn."))
    return inv


def accept(db: Session, invitation_id: int, user) -> Invitation:
    """The invited person (signed in, email matching) says yes: the membership or audit grant starts now."""
    from workbench import members

    inv = _mine(db, invitation_id, user)
    org = db.get(Organization, inv.org_id)
    members.check_independence(db, org.id, user.id, inv.role, inv.engagement_id)
    if inv.role == "auditor":
        from workbench.audit import service
        from workbench.audit.models import Engagement

        e = db.get(Engagement, inv.engagement_id) if inv.engagement_id else None
        if e is None:
            raise NotFound(_("No such invitation."))
        inviter = db.get(User, inv.created_by) if inv.created_by else user
        service.grant_auditor(db, e, db.get(User, user.id), inviter)
    else:
        members.grant(db, org, db.get(User, user.id), inv.role, by=user)
    inv.status, inv.decided_at = ACCEPTED, utcnow()
    db.add(inv)
    trail.append(db, org.id, Action.MEMBERSHIP_ACCEPT, actor=user,
                 detail={"invitation": inv.id, "user": user.id, "role": inv.role, "engagement": inv.engagement_id})
    return inv


def decline(db: Session, invitation_id: int, user) -> Invitation:
    inv = _mine(db, invitation_id, user)
    inv.status, inv.decided_at = DECLINED, utcnow()
    db.add(inv)
    trail.append(db, inv.org_id, Action.MEMBERSHIP_DECLINE, actor=None,
                 detail={"invitation": inv.id, "role": inv.role, "engagement": inv.engagement_id})
    return inv


def cancel(db: Session, org: Organization, invitation_id: int, by) -> Invitation:
    inv = db.get(Invitation, invitation_id)
    if inv is None or inv.org_id != org.id or inv.status != PENDING:
        raise NotFound(_("No such invitation."))
    inv.status, inv.decided_at = CANCELLED, utcnow()
    db.add(inv)
    trail.append(db, org.id, Action.MEMBERSHIP_CANCEL, actor=by, detail={"invitation": inv.id, "role": inv.role})
    return inv
