"""Create, check and revoke personal access tokens. The clear token is shown once; only its SHA-256 is stored.

A token reads as `pbt_<8 hex prefix>_<secret>`; the prefix is stored in clear so lists can name it."""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta, timezone

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench.api.models import ApiToken
from workbench.auth import roles_in
from workbench.errors import NotFound, UserError
from workbench.models import Organization, User, utcnow  # noqa: F401  (utcnow: the account page)

SCOPES = ("read", "write", "audit-read")
MAX_DAYS = 366


def digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "replace")).hexdigest()


def _aware(at: datetime | None) -> datetime | None:
    return at.replace(tzinfo=timezone.utc) if at is not None and at.tzinfo is None else at


def parse_scopes(raw: str | list) -> list[str]:
    items = raw.split(",") if isinstance(raw, str) else list(raw)
    scopes = sorted({s.strip() for s in items if s and s.strip()})
    bad = [s for s in scopes if s not in SCOPES]
    if bad or not scopes:
        raise UserError(_("Choose scopes among: %(scopes)s.", scopes=", ".join(SCOPES)), field="scopes")
    return scopes


def create(db: Session, user: User, org: Organization, scopes: str | list, *, days: int | None = 90,
           name: str = "") -> tuple[ApiToken, str]:
    """A new token for a member of the organization. :return: (the stored row, the clear token — shown once)."""
    scopes = parse_scopes(scopes)
    if not roles_in(db, user, org.id):
        raise NotFound(_("No such organization."))
    if days is not None and not 1 <= int(days) <= MAX_DAYS:
        raise UserError(_("A token lives 1 to %(n)s days.", n=MAX_DAYS), field="days")
    prefix = secrets.token_hex(4)
    clear = f"pbt_{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiToken(user_id=user.id, org_id=org.id, name=(name or "").strip()[:100], prefix=f"pbt_{prefix}",
                   token_hash=digest(clear), scopes=scopes,
                   expires_at=utcnow() + timedelta(days=int(days)) if days is not None else None)
    db.add(row)
    db.flush()
    return row, clear


def authenticate(db: Session, clear: str) -> ApiToken | None:
    """The live token for this clear text, or None (unknown, revoked or expired: the caller answers 401)."""
    if not clear or len(clear) > 200:
        return None
    row = db.exec(select(ApiToken).where(ApiToken.token_hash == digest(clear))).first()
    if row is None or row.revoked_at is not None:
        return None
    if row.expires_at is not None and _aware(row.expires_at) <= utcnow():
        return None
    return row


def touch(db: Session, row: ApiToken) -> None:
    """Remember when the token was last used (at most one write an hour, so reads stay reads)."""
    last = _aware(row.last_used_at)
    if last is None or utcnow() - last > timedelta(hours=1):
        row.last_used_at = utcnow()
        db.add(row)
        db.commit()


def mine(db: Session, user: User) -> list[ApiToken]:
    return list(db.exec(select(ApiToken).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc())).all())


def revoke(db: Session, user: User, token_id: int) -> ApiToken:
    row = db.get(ApiToken, token_id) if 0 < token_id < 2**63 else None
    if row is None or row.user_id != user.id:
        raise NotFound(_("No such token."))
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        db.add(row)
    return row
