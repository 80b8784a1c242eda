"""Client organizations grant a certification body's staff read access to their portfolio data.

The client's manager grants and revokes (org:manage); each is an event in the client's chain. A
certification-body user sees a client only while the grant is active — anything else is a 404, like
another tenant's data. "Active" is decided by the chain as well as the row: a grant row an insider inserts
without its `cb_grant` event, or a revocation erased from the row but recorded in the chain, gives no access.
"""
from __future__ import annotations

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench import trail
from workbench.auth import roles_in
from workbench.cb.models import Grant
from workbench.errors import Conflict, NotFound, UserError
from workbench.models import Event, Organization, utcnow


def certification_bodies(db: Session) -> list[Organization]:
    return list(db.exec(select(Organization).where(Organization.kind == "cb").order_by(Organization.name)).all())


def chained(db: Session, client_id: int) -> dict[int, str]:
    """grant id -> "granted" | "revoked", as the client's event chain records them."""
    out: dict[int, str] = {}
    for action, detail in db.exec(select(Event.action, Event.detail).where(
            Event.org_id == client_id, Event.action.in_(["cb_grant", "cb_revoke"])).order_by(Event.seq)).all():
        gid = (detail or {}).get("grant")
        if isinstance(gid, int):
            out[gid] = "revoked" if action == "cb_revoke" or out.get(gid) == "revoked" else "granted"
    return out


def active(db: Session, client_id: int, cb_id: int) -> Grant | None:
    rows = db.exec(select(Grant).where(Grant.client_org_id == client_id, Grant.cb_org_id == cb_id,
                                       Grant.revoked_at.is_(None)).order_by(Grant.id)).all()
    if not rows:
        return None
    state = chained(db, client_id)
    return next((g for g in rows if state.get(g.id) == "granted"), None)


def grants_of(db: Session, client: Organization) -> list[Grant]:
    return list(db.exec(select(Grant).where(Grant.client_org_id == client.id).order_by(Grant.granted_at.desc())).all())


def grant(db: Session, client: Organization, cb_slug: str, user) -> Grant:
    cb = db.exec(select(Organization).where(Organization.slug == (cb_slug or "").strip())).first()
    if cb is None or cb.kind != "cb":
        raise UserError(_("No certification body with this identifier."), field="cb")
    if cb.id == client.id:
        raise UserError(_("An organization cannot grant access to itself."), field="cb")
    # two managers granting at once: the client's row lock (as the chain takes it) makes the second see the first
    db.exec(select(Organization.id).where(Organization.id == client.id).with_for_update(key_share=True)).one()
    if active(db, client.id, cb.id):
        raise Conflict(_("%(cb)s already has access.", cb=cb.name), field="cb")
    g = Grant(client_org_id=client.id, cb_org_id=cb.id, granted_by=getattr(user, "id", None))
    db.add(g)
    db.flush()
    trail.append(db, client.id, "cb_grant", actor=user, detail={"grant": g.id, "cb": cb.slug, "cb_org_id": cb.id})
    return g


def revoke(db: Session, client: Organization, grant_id: int, user) -> None:
    """Revoke the grant — and any other grant to the same body still open (two granted at once), so that
    revoking always ends the body's access."""
    g = db.get(Grant, grant_id)
    if g is None or g.client_org_id != client.id:
        raise NotFound(_("No such grant."))
    cb = db.get(Organization, g.cb_org_id)
    state = chained(db, client.id)
    for row in db.exec(select(Grant).where(Grant.client_org_id == client.id, Grant.cb_org_id == g.cb_org_id)).all():
        if row.revoked_at is None or state.get(row.id) == "granted":
            row.revoked_at, row.revoked_by = row.revoked_at or utcnow(), row.revoked_by or getattr(user, "id", None)
            db.add(row)
            trail.append(db, client.id, "cb_revoke", actor=user, detail={"grant": row.id, "cb": cb.slug, "cb_org_id": cb.id})


def clients(db: Session, cb: Organization) -> list[Organization]:
    """The clients that currently grant `cb` access (each once, even if granted twice at the same moment)."""
    candidates = db.exec(select(Organization).join(Grant, Grant.client_org_id == Organization.id)
                         .where(Grant.cb_org_id == cb.id, Grant.revoked_at.is_(None)).distinct()
                         .order_by(Organization.name)).all()
    return [c for c in candidates if active(db, c.id, cb.id) is not None]


def require_cb(db: Session, org: Organization, user) -> None:
    """The organization is a certification body and the user is on its staff (or an admin)."""
    if org.kind != "cb" or not roles_in(db, user, org.id):
        raise NotFound(_("Not found."))


def client_for(db: Session, cb: Organization, client_slug: str, user) -> Organization:
    """A client that grants `cb` access, for a staff member of `cb`; else NotFound (404)."""
    require_cb(db, cb, user)
    client = db.exec(select(Organization).where(Organization.slug == client_slug)).first()
    if client is None or active(db, client.id, cb.id) is None:
        raise NotFound(_("Not found."))
    return client
