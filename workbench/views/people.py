"""Members of an organization (managers), one's own password, and organizations (instance admin)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user
from sqlmodel import select

from workbench import invitations, members
from workbench.auth import LoginUser
from workbench.db import get_session
from workbench.errors import UserError
from workbench.models import Organization, User
from workbench.tenancy import allow

bp = Blueprint("people", __name__)


@bp.route("/o/<org>/members", methods=["GET", "POST"])
@allow("org:manage")
def org_members(org):
    db = get_session()
    error, status = None, 200
    if request.method == "POST":
        try:
            if request.form.get("remove"):
                members.remove(db, g.org, _id(request.form.get("remove")), by=current_user)
                flash(_("Membership removed."), "info")
            elif request.form.get("cancel"):
                invitations.cancel(db, g.org, _id(request.form.get("cancel")), current_user)
                flash(_("Invitation withdrawn."), "info")
            else:
                inv = members.add(db, g.org, request.form.get("email", ""), request.form.get("role", ""),
                                  request.form.get("name", ""), request.form.get("password", ""), by=current_user)
                flash(_("Invitation for %(email)s recorded: access starts when the person accepts it after signing in.",
                        email=inv.email), "success")
            db.commit()
            return redirect(url_for("people.org_members", org=g.org.slug), code=303)
        except UserError as e:
            db.rollback()
            error, status = e.message, e.status
    return render_template("members.html", rows=members.listing(db, g.org), error=error, pending=invitations.pending_in(db, g.org),
                           form=request.form, roles=members.ASSIGNABLE), status


def _id(raw: str | None) -> int:
    """A posted id; anything that is not a plain number of sensible size is no id (0) instead of an overflow."""
    raw = raw or ""
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 18 else 0


@bp.route("/account/password", methods=["GET", "POST"])
@allow("login")
def password():
    error, status = None, 200
    if request.method == "POST":
        if request.form.get("new", "") != request.form.get("repeat", ""):
            error, status = _("The two new passwords differ."), 422
        else:
            db = get_session()
            try:
                members.change_password(db, current_user.id, request.form.get("current", ""), request.form.get("new", ""))
            except UserError as e:
                db.rollback()
                error, status = e.message, e.status
            else:
                db.commit()
                login_user(LoginUser(db.get(User, current_user.id)))  # this browser stays signed in, others end
                flash(_("Your password was changed."), "success")
                return redirect(url_for("main.index"), code=303)
    return render_template("password.html", error=error), status


@bp.route("/admin/organizations", methods=["GET", "POST"])
@allow("admin")
def organizations():
    db = get_session()
    error, status = None, 200
    if request.method == "POST":
        try:
            org = members.create_organization(db, request.form.get("slug", ""), request.form.get("name", ""),
                                              request.form.get("manager", ""))
            flash(_("Organization %(name)s created.", name=org.name), "success")
            return redirect(url_for("people.organizations"), code=303)
        except UserError as e:
            db.rollback()
            error, status = e.message, e.status
    orgs = db.exec(select(Organization).order_by(Organization.name)).all()
    return render_template("organizations.html", orgs=orgs, error=error, form=request.form), status
