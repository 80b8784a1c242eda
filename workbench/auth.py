"""Accounts: argon2 password hashes, Flask-Login sessions, login throttling, and who may do what where.

Roles are memberships in an organization: member, manager, consultant, auditor (time-boxed); `admin` is
an instance-wide flag on the user. `org_access` answers "may this user see organization X at all" and
`roles_in` "with which roles"; views use the decorators in workbench.tenancy.
"""
from __future__ import annotations

import hmac
import secrets
from datetime import datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import Flask
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
        self.token = user.session_token or ""

    def get_id(self) -> str:
        """What the session cookie carries: the user's id and current session token (see `rotate_session_token`)."""
        return f"{self.id}.{self.token}"


def hash_password(password: str) -> str:
    return hasher.hash(password)


def verify_password(hash_: str, password: str) -> bool:
    try:
        return hasher.verify(hash_, password)
    except (VerificationError, InvalidHashError):
        return False


class LoginResult:
    OK, BAD, LOCKED = "ok", "bad", "locked"


def authenticate(db: Session, email: str, password: str, now: datetime | None = None) -> tuple[str, User | None, int]:
    """Check a sign-in -> (outcome, user, seconds to wait). Throttled per address and per account with
    exponential back-off (workbench.throttle); unknown and existing accounts are counted and answered alike."""
    from workbench import throttle

    email = (email or "").strip().lower()[:254]
    keys = throttle.login_keys(email)
    wait = throttle.blocked_for(keys)
    if wait:
        return LoginResult.LOCKED, None, wait
    user = db.exec(select(User).where(User.email == email)).first()
    if user is None:
        hasher.hash(password or "x")  # spend the same time as a real check
    elif verify_password(user.password_hash, password or ""):
        throttle.succeed(keys[1:])
        if hasher.check_needs_rehash(user.password_hash):
            user.password_hash = hash_password(password)
        if not user.session_token:
            rotate_session_token(user)
        db.add(user)
        db.commit()
        return LoginResult.OK, user, 0
    throttle.fail(keys, throttle.login_free())
    wait = throttle.blocked_for(keys)
    return (LoginResult.LOCKED if wait else LoginResult.BAD), None, wait


def rotate_session_token(user: User) -> None:
    """Void every session of the account (the caller commits); a new sign-in gets the new token."""
    user.session_token = secrets.token_urlsafe(24)


def active_memberships(db: Session, user_id: int, org_id: int | None = None, now: datetime | None = None) -> list[Membership]:
    now = now or utcnow()
    q = select(Membership).where(Membership.user_id == user_id)
    if org_id is not None:
        q = q.where(Membership.org_id == org_id)
    return [m for m in db.exec(q).all()
            if (m.valid_from is None or m.valid_from <= now) and (m.valid_until is None or m.valid_until > now)]


def roles_in(db: Session, user, org_id: int) -> set[str]:
    """The user's roles in the organization now. Auditor access counts only while an engagement the user is on
    has its access window open, and never together with a staff role (independence)."""
    roles = {m.role for m in active_memberships(db, user.id, org_id)}
    if "auditor" in roles:
        from workbench.audit.service import open_engagements

        if roles - {"auditor"} or not open_engagements(db, org_id, user.id):
            roles.discard("auditor")
    if getattr(user, "is_admin", False):
        roles.add("admin")
    return roles


def init_app(app: Flask) -> None:
    login_manager.init_app(app)

    @login_manager.user_loader
    def _load(user_id: str):
        from workbench.db import get_session

        uid, _, token = str(user_id).partition(".")
        if not uid.isascii() or not uid.isdigit() or len(uid) > 18 or not token:
            return None
        user = get_session().get(User, int(uid))
        if user is None or not user.session_token or not hmac.compare_digest(user.session_token, token):
            return None  # signed out, password changed or "sign out everywhere": this cookie is void
        return LoginUser(user)
