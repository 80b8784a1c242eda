"""Landing: pick the organization, and its dashboard of processes grouped by clause."""
from __future__ import annotations

from flask import Blueprint, g, redirect, render_template, url_for
from flask_login import current_user
from flask_wtf.csrf import CSRFError
from sqlmodel import select

from workbench import library, schedules
from workbench.auth import active_memberships
from workbench.db import get_session
from workbench.errors import UserError
from workbench.models import Organization
from workbench.tenancy import allow

bp = Blueprint("main", __name__)


@bp.route("/")
@allow("login")
def index():
    db = get_session()
    orgs = {m.org_id for m in active_memberships(db, current_user.id)}
    if current_user.is_admin:
        orgs |= set(db.exec(select(Organization.id)).all())
    if len(orgs) == 1:
        org = db.get(Organization, orgs.pop())
        return redirect(url_for("main.dashboard", org=org.slug))
    rows = db.exec(select(Organization).where(Organization.id.in_(orgs)).order_by(Organization.name)).all() if orgs else []
    return render_template("orgs.html", orgs=rows)


@bp.route("/o/<org>/")
@allow("org:read")
def dashboard(org):
    db = get_session()
    if not g.roles & {"member", "manager", "consultant", "admin"}:  # auditors land on their engagement(s)
        from workbench.audit import service as audit_service

        mine = audit_service.engagements_for(db, g.org, current_user, g.roles)
        if len(mine) == 1:
            return redirect(url_for("audit.engagement", org=g.org.slug, eid=mine[0].id))
        return redirect(url_for("audit.index", org=g.org.slug))
    templates = library.processes(db, g.org)
    stats = schedules.process_stats(db, g.org, [t.key for t in templates])
    due = schedules.due_board(db, g.org)
    from workbench.documents.control import due_reviews

    return render_template("dashboard.html", groups=library.by_clause_group(templates), stats=stats, due=due,
                           doc_reviews=due_reviews(db, g.org))


@bp.route("/healthz")
@allow("public")
def healthz():
    get_session().exec(select(1)).one()
    return {"status": "ok"}


@bp.app_errorhandler(404)
def not_found(_e):
    return render_template("error.html", code=404), 404


@bp.app_errorhandler(403)
def forbidden(_e):
    return render_template("error.html", code=403), 403


@bp.app_errorhandler(413)
def too_large(_e):
    return render_template("error.html", code=413), 413


@bp.app_errorhandler(UserError)
def user_error(e: UserError):
    """A service's UserError no view handled itself (e.g. a loader's NotFound): its page and status."""
    return render_template("error.html", code=e.status, message=e.message), e.status


@bp.app_errorhandler(CSRFError)
def csrf_failed(_e):
    return render_template("error.html", code=400, csrf=True), 400
