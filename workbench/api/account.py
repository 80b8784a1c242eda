"""The account page's personal access tokens (/account/tokens): create (the token is shown once) and revoke."""
from __future__ import annotations

from flask import Blueprint, render_template, request
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from workbench.api import tokens
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
