"""The API area's HTML pages: personal access tokens on the account page (/account/tokens: create, shown once;
revoke) and an organization's webhooks (/o/<org>/webhooks, managers and admins)."""
from __future__ import annotations

from flask import Blueprint, g, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from workbench.api import tokens, webhooks
from workbench.auth import active_memberships
from workbench.db import get_session, transaction
from workbench.errors import UserError
from workbench.models import Organization
from workbench.tenancy import allow

bp = Blueprint("api_account", __name__)


def _orgs(db) -> list[Organization]:
    ids = {m.org_id for m in active_memberships(db, current_user.id)}
    return list(db.exec(select(Organization).where(Organization.id.in_(ids)).order_by(Organization.name)).all()) if ids else []


@bp.route("/account/tokens", methods=["GET", "POST"])
@allow("login")
def tokens_page():
    db = get_session()
    orgs = _orgs(db)
    error, status, clear = None, 200, None
    if request.method == "POST":
        try:
            raw_id = request.form.get("revoke", "")
            if raw_id:
                with transaction(db):
                    tokens.revoke(db, current_user, int(raw_id) if raw_id.isdigit() and len(raw_id) < 18 else 0)
            else:
                org = next((o for o in orgs if o.slug == request.form.get("org")), None)
                if org is None:
                    raise UserError(_("Choose one of your organizations."), field="org")
                days = request.form.get("days", "90")
                with transaction(db):
                    _row, clear = tokens.create(db, current_user, org, request.form.getlist("scopes"),
                                                days=int(days) if days.isdigit() and len(days) < 5 else 0,
                                                name=request.form.get("name", ""))
        except UserError as e:
            error, status = e.message, e.status
    rows = tokens.mine(db, current_user)
    names = {o.id: o.name for o in db.exec(select(Organization).where(
        Organization.id.in_({r.org_id for r in rows} or {0}))).all()}
    return render_template("api_tokens.html", rows=rows, orgs=orgs, names=names, error=error, clear=clear,
                           scopes=tokens.SCOPES, now=tokens.utcnow()), status


@bp.route("/o/<org>/webhooks", methods=["GET", "POST"])
@allow("org:manage")
def webhooks_page(org: str):
    db = get_session()
    error, status, created = None, 200, None
    if request.method == "POST":
        try:
            raw_id = request.form.get("remove", "")
            with transaction(db):
                if raw_id:
                    webhooks.remove(db, g.org, int(raw_id) if raw_id.isdigit() and len(raw_id) < 18 else 0)
                else:
                    created = webhooks.register(db, g.org, request.form.get("url", ""), current_user)
        except UserError as e:
            error, status = e.message, e.status
    return render_template("api_webhooks.html", rows=webhooks.of(db, g.org.id), error=error, created=created,
                           kinds=webhooks.KINDS), status
