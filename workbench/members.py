"""Organization membership: who belongs to an organization with which role (managed by its managers).

Auditor access is granted per audit engagement (workbench.audit) with a validity window; here managers
invite members, managers and consultants (workbench.invitations: the person accepts) and remove people.
Every change is an event in the organization's chain. One person never holds a staff role and auditor
access in the same organization at once (`check_independence`, both directions).
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlalchemy import text
from sqlmodel import Session, select

from workbench import trail
from workbench.actions import Action
from workbench.auth import hash_password
from workbench.errors import TooMany, UserError
from workbench.models import Membership, Organization, User, utcnow

ASSIGNABLE = ("member", "manager", "consultant")
MIN_PASSWORD = 10


class MembershipError(UserError, ValueError):
    pass


def check_password_rules(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise MembershipError(_("A password needs at least %(n)s characters.", n=MIN_PASSWORD))


def lock_org(db: Session, org_id: int) -> None:
    """Hold the organization's row until the transaction ends, so two requests deciding about one person's
    roles run one after the other (else each could miss the role the other is adding). PostgreSQL: the row
    lock the chain takes anyway; SQLite: a no-op write, which takes the database's write lock now rather
    than at the first insert."""
    if db.get_bind().dialect.name == "sqlite":
        db.execute(text("UPDATE organization SET name = name WHERE id = :id"), {"id": org_id})
    else:
        db.exec(select(Organization.id).where(Organization.id == org_id).with_for_update(key_share=True)).one()


def check_independence(db: Session, org_id: int, user_id: int, role: str, engagement_id: int | None = None) -> None:
    """Refuse a role that would let one person both work in the organization and audit it (either direction).

    Auditor access counts while any of the person's audit-team grants here has not ended (planned or open);
    staff roles count while their membership is valid. Messages never name the person."""
    from workbench.audit.models import Engagement, TeamMember

    lock_org(db, org_id)
    now = utcnow()
    staff = [m for m in db.exec(select(Membership).where(Membership.user_id == user_id, Membership.org_id == org_id)).all()
             if m.role != "auditor" and (m.valid_until is None or m.valid_until > now)]
    if role == "auditor":
        if staff:
            raise MembershipError(_("This person works in this organization; an auditor must be independent."))
        return
    audits = db.exec(select(Engagement.access_until).join(TeamMember, TeamMember.engagement_id == Engagement.id)
                     .where(Engagement.org_id == org_id, TeamMember.user_id == user_id, TeamMember.revoked_at.is_(None))).all()
    if any(until > now for until in audits):
        raise MembershipError(_("This person audits this organization and cannot also work in it while the audit lasts."))
    if any(m.role == role for m in staff):
        raise MembershipError(_("This person already has this role."))


def grant(db: Session, org: Organization, user: User, role: str, by=None) -> Membership:
    """Give an existing account the role now (after its owner accepted an invitation, or for a new organization)."""
    if role not in ASSIGNABLE:
        raise MembershipError(_("Choose a role."))
    check_independence(db, org.id, user.id, role)
    m = db.exec(select(Membership).where(Membership.user_id == user.id, Membership.org_id == org.id,
                                         Membership.role == role)).first()
    if m is None:
        m = Membership(user_id=user.id, org_id=org.id, role=role)
    m.valid_from, m.valid_until = None, None
    db.add(m)
    db.flush()
    trail.append(db, org.id, Action.MEMBERSHIP_ADD, actor=by, detail={"membership": m.id, "user": user.id, "role": role})
    return m


def add(db: Session, org: Organization, email: str, role: str, name: str = "", password: str = "", by=None):
    """A manager adds `email` with the role: always an invitation the person accepts after signing in.

    When no account exists yet and a name and initial password are given, the account is created too. The
    outcome looks the same whether the address had an account or not (nothing about other tenants leaks)."""
    from workbench import invitations

    if role not in ASSIGNABLE:
        raise MembershipError(_("Choose a role."))
    email = invitations.normal_email(email)
    if (name or "").strip() or password:  # checked whether or not the account exists: the answer must not tell
        if not (name or "").strip():
            raise MembershipError(_("Enter the person's name (used only if they have no account yet)."), field="name")
        check_password_rules(password)
    user = db.exec(select(User).where(User.email == email)).first()
    if user is None and (name or "").strip():
        user = User(email=email, name=name.strip()[:120], password_hash=hash_password(password))
        db.add(user)
        db.flush()
    return invitations.invite(db, org, email, role, by)


def remove(db: Session, org: Organization, membership_id: int, by=None) -> None:
    m = db.get(Membership, membership_id)
    if m is None or m.org_id != org.id:
        raise MembershipError(_("No such membership."))
    if m.role == "auditor":
        raise MembershipError(_("Auditors' access is managed on their audit engagement."))
    if m.role == "manager":
        managers = db.exec(select(Membership).where(Membership.org_id == org.id, Membership.role == "manager")).all()
        if len(managers) <= 1:
            raise MembershipError(_("An organization keeps at least one manager."))
    detail = {"membership": m.id, "user": m.user_id, "role": m.role}
    db.delete(m)
    db.flush()
    trail.append(db, org.id, Action.MEMBERSHIP_REMOVE, actor=by, detail=detail)


def listing(db: Session, org: Organization) -> list[tuple[Membership, User]]:
    rows = db.exec(select(Membership, User).join(User, User.id == Membership.user_id)
                   .where(Membership.org_id == org.id).order_by(Membership.role, User.name)).all()
    return list(rows)


def change_password(db: Session, user_id: int, current: str, new: str) -> None:
    user = db.get(User, user_id)
    if user is None:
        raise MembershipError(_("The current password is not correct."))
    from workbench import throttle

    problem = throttle.reauth_problem(user, current, _("The current password is not correct."))
    if isinstance(problem, throttle.Wait):
        raise TooMany(problem)
    if problem:
        raise MembershipError(problem, field="current")
    check_password_rules(new)
    user.password_hash = hash_password(new)
    from workbench.auth import rotate_session_token

    rotate_session_token(user)  # every other session of this account ends
    db.add(user)


def create_organization(db: Session, slug: str, name: str, manager_email: str) -> Organization:
    import re

    slug = (slug or "").strip().lower()
    if not re.fullmatch(r"[a-z][a-z0-9-]{1,40}", slug):
        raise MembershipError(_("The short name uses lowercase letters, digits and hyphens (2–41 characters)."))
    if not (name or "").strip():
        raise MembershipError(_("Enter the organization's name."))
    if db.exec(select(Organization).where(Organization.slug == slug)).first():
        raise MembershipError(_("That short name is taken."))
    manager = db.exec(select(User).where(User.email == (manager_email or "").strip().lower())).first()
    if manager is None:
        raise MembershipError(_("The manager needs an account first."))
    org = Organization(slug=slug, name=name.strip()[:200])
    db.add(org)
    db.flush()
    grant(db, org, manager, "manager")
    db.commit()
    from workbench import library

    library.install_shipped(db)
    library.adopt_library(db, org)
    return org
