"""Organization membership: who belongs to an organization with which role (managed by its managers).

Auditor access is granted per audit engagement (workbench.audit) with a validity window; here managers
add members, managers and consultants, change roles and remove people.
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench.auth import hash_password
from workbench.models import Membership, Organization, User

ASSIGNABLE = ("member", "manager", "consultant")
MIN_PASSWORD = 10


class MembershipError(ValueError):
    pass


def check_password_rules(password: str) -> None:
    if len(password or "") < MIN_PASSWORD:
        raise MembershipError(_("A password needs at least %(n)s characters.", n=MIN_PASSWORD))


def add(db: Session, org: Organization, email: str, role: str, name: str = "", password: str = "") -> Membership:
    """Give `email` the role in the organization; creates the account when it does not exist yet."""
    email = (email or "").strip().lower()
    if "@" not in email or len(email) > 254:
        raise MembershipError(_("Enter a valid email address."))
    if role not in ASSIGNABLE:
        raise MembershipError(_("Choose a role."))
    user = db.exec(select(User).where(User.email == email)).first()
    if user is None:
        if not name.strip():
            raise MembershipError(_("This person has no account yet: enter their name and an initial password."))
        check_password_rules(password)
        user = User(email=email, name=name.strip()[:120], password_hash=hash_password(password))
        db.add(user)
        db.flush()
    existing = db.exec(select(Membership).where(Membership.user_id == user.id, Membership.org_id == org.id,
                                                Membership.role == role)).first()
    if existing:
        raise MembershipError(_("%(who)s already has this role.", who=user.name))
    m = Membership(user_id=user.id, org_id=org.id, role=role)
    db.add(m)
    db.commit()
    return m


def remove(db: Session, org: Organization, membership_id: int) -> None:
    m = db.get(Membership, membership_id)
    if m is None or m.org_id != org.id:
        raise MembershipError(_("No such membership."))
    if m.role == "manager":
        managers = db.exec(select(Membership).where(Membership.org_id == org.id, Membership.role == "manager")).all()
        if len(managers) <= 1:
            raise MembershipError(_("An organization keeps at least one manager."))
    db.delete(m)
    db.commit()


def listing(db: Session, org: Organization) -> list[tuple[Membership, User]]:
    rows = db.exec(select(Membership, User).join(User, User.id == Membership.user_id)
                   .where(Membership.org_id == org.id).order_by(Membership.role, User.name)).all()
    return list(rows)


def change_password(db: Session, user_id: int, current: str, new: str) -> None:
    from workbench.auth import verify_password

    user = db.get(User, user_id)
    if user is None or not verify_password(user.password_hash, current or ""):
        raise MembershipError(_("The current password is not correct."))
    check_password_rules(new)
    user.password_hash = hash_password(new)
    db.add(user)
    db.commit()


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
    db.add(Membership(user_id=manager.id, org_id=org.id, role="manager"))
    db.commit()
    from workbench import library

    library.install_shipped(db)
    library.adopt_library(db, org)
    return org
