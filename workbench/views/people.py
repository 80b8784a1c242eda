"""Members of an organization (managers), one's own password, and organizations (instance admin)."""
from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from workbench import members
from workbench.db import get_session
from workbench.models import Organization
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
                members.remove(db, g.org, request.form.get("remove", type=int) or 0)
                flash(_("Membership removed."), "info")
            else:
                members.add(db, g.org, request.form.get("email", ""), request.form.get("role", ""),
                                request.form.get("name", ""), request.form.get("password", ""))
                flash(_("Access granted."), "success")
            return redirect(url_for("people.org_members", org=g.org.slug), code=303)
        except members.MembershipError as e:
            db.rollback()
            error, status = str(e), 422
    return render_template("members.html", rows=members.listing(db, g.org), error=error,
                           form=request.form, roles=members.ASSIGNABLE), status


@bp.route("/account/password", methods=["GET", "POST"])
@allow("login")
def password():
    error, status = None, 200
    if request.method == "POST":
        if request.form.get("new", "") != request.form.get("repeat", ""):
            error, status = _("The two new passwords differ."), 422
        else:
            try:
                members.change_password(get_session(), current_user.id, request.form.get("current", ""),
                                        request.form.get("new", ""))
                flash(_("Your password was changed."), "success")
                return redirect(url_for("main.index"), code=303)
            except members.MembershipError as e:
                error, status = str(e), 422
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
        except members.MembershipError as e:
            db.rollback()
            error, status = str(e), 422
    orgs = db.exec(select(Organization).order_by(Organization.name)).all()
    return render_template("organizations.html", orgs=orgs, error=error, form=request.form), status
