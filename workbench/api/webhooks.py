"""Webhooks out (issue #14 part 3): organization admins register URLs; record events (created, edited,
transitioned, signed) are queued in the outbox (retries with back-off, visible failures, deduplicated) and
delivered by the `webhook` channel with `X-Workbench-Signature: sha256=HMAC-SHA256(secret, body)`.

Every payload says its shape's version (`payload_version`, also the `X-Workbench-Payload-Version` header): a
receiver can tell a shape it knows from a newer one. Version 1 is the shape below; a field added later keeps
the version, a field renamed, removed or re-typed raises it (docs/api.md)."""
from __future__ import annotations

import secrets
import urllib.parse

from flask_babel import gettext as _
from sqlalchemy import bindparam
from sqlmodel import Session, select

from workbench import outbox
from workbench.api.models import OrgWebhook
from workbench.errors import NotFound, UserError
from workbench.models import Organization, Record

KINDS = ("created", "edited", "transitioned", "signed")
PAYLOAD_VERSION = 1


def register(db: Session, org: Organization, url: str, user) -> OrgWebhook:
    url = (url or "").strip()
    parts = urllib.parse.urlsplit(url)
    if len(url) > 500 or parts.scheme not in ("http", "https") or not parts.netloc:
        raise UserError(_("Give an http(s) URL."), field="url")
    hook = OrgWebhook(org_id=org.id, url=url, secret=secrets.token_hex(32), created_by=getattr(user, "id", None))
    db.add(hook)
    db.flush()
    return hook


def remove(db: Session, org: Organization, hook_id: int) -> None:
    hook = db.get(OrgWebhook, hook_id) if 0 < hook_id < 2**63 else None
    if hook is None or hook.org_id != org.id:
        raise NotFound(_("No such webhook."))
    hook.active = False
    db.add(hook)


_ACTIVE = select(OrgWebhook.__table__).where(OrgWebhook.org_id == bindparam("o"), OrgWebhook.active).order_by(OrgWebhook.id)


def of(db: Session, org_id: int) -> list:
    """The organization's active webhooks, as rows (read-only; one prepared statement: `emit` runs on every save)."""
    return list(db.connection().execute(_ACTIVE, {"o": org_id}).all())


def secret_for(db: Session, hook_id) -> str | None:
    hook = db.get(OrgWebhook, hook_id) if isinstance(hook_id, int) else None
    return hook.secret if hook is not None else None


def emit(db: Session, rec: Record, kind: str) -> int:
    """Queue `kind` for the record (its current revision and state) to every active webhook of its organization."""
    n = 0
    for hook in of(db, rec.org_id):
        payload = {"payload_version": PAYLOAD_VERSION, "webhook_id": hook.id, "event": kind, "record_id": rec.id, "process": rec.template_key,
                   "revision": rec.revision, "state": rec.state}
        key = f"wh:{hook.id}:{kind}:{rec.id}:{rec.revision}:{rec.state}"
        n += outbox.enqueue(db, "webhook", hook.url, payload, key, org_id=rec.org_id)
    return n
