"""Accounts: argon2 password hashes, Flask-Login sessions, login throttling, and who may do what where.

Roles are memberships in an organization: member, manager, consultant, auditor (time-boxed); `admin` is
an instance-wide flag on the user. `org_access` answers "may this user see organization X at all" and
`roles_in` "with which roles"; views use the decorators in workbench.tenancy.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask, current_app
from flask_babel import lazy_gettext as _l
from flask_login import LoginManager, UserMixin
from sqlmodel import Session, select

from workbench.models import Membership, User, utcnow

hasher = PasswordHasher()
login_manager = LoginManager()
login_manager.login_view = "auth.login"
login_manager.login_message = _l("Please sign in to continue.")
login_manager.session_protection = "strong"


class LoginUser(UserMixin):
    """What Flask-Login keeps for the signed-in user (detached from any DB session)."""

    def __init__(self, user: User):
        self.id = user.id
        self.email = user.email
        self.name = user.name
        self.is_admin = user.is_admin
        self.locale = user.locale

    def get_id(self) -> str:
        return str(self.id)


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(hash_: str, password: str) -> bool:
    try:
        return hasher.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


class LoginResult:
    OK, BAD, LOCKED = "ok", "bad", "locked"


def authenticate(db: Session, email: str, password: str, now: datetime | None = None) -> tuple[str, User | None]:
    """Check a password, counting failures; after LOGIN_MAX_FAILURES the account locks for a while."""
    now = now or utcnow()
    user = db.exec(select(User).where(User.email == (email or "").strip().lower())).first()
    if user is None:
        hasher.hash(password or "x")  # spend the same time as a real check
        return LoginResult.BAD, None
    if user.locked_until and user.locked_until > now:
        return LoginResult.LOCKED, user
    if verify_password(user.password_hash, password or ""):
        user.failed_logins = 0
        user.locked_until = None
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        db.add(user)
        db.commit()
        return LoginResult.OK, user
    user.failed_logins += 1
    if user.failed_logins >= current_app.config["LOGIN_MAX_FAILURES"]:
        user.locked_until = now + timedelta(minutes=current_app.config["LOGIN_LOCK_MINUTES"])
        user.failed_logins = 0
    db.add(user)
    db.commit()
    return (LoginResult.LOCKED if user.locked_until and user.locked_until > now else LoginResult.BAD), user


def active_memberships(db: Session, user_id: int, org_id: int | None = None, now: datetime | None = None) -> list[Membership]:
    now = now or utcnow()
    q = select(Membership).where(Membership.user_id == user_id)
    if org_id is not None:
        q = q.where(Membership.org_id == org_id)
    return [m for m in db.exec(q).all()
            if (m.valid_from is None or m.valid_from <= now) and (m.valid_until is None or m.valid_until > now)]


def roles_in(db: Session, user, org_id: int) -> set[str]:
    roles = {m.role for m in active_memberships(db, user.id, org_id)}
    if getattr(user, "is_admin", False):
        roles.add("admin")
    return roles


def init_app(app: Flask) -> None:
    login_manager.init_app(app)

    @login_manager.user_loader
    def _load(user_id: str):
        from workbench.db import get_session

        if not str(user_id).isdigit():
            return None
        user = get_session().get(User, int(user_id))
        return LoginUser(user) if user else None
