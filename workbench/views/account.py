"""Sign in, sign out (here and everywhere), and the invitations waiting for the signed-in person."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from workbench import invitations, throttle
from workbench.auth import LoginResult, LoginUser, authenticate, rotate_session_token
from workbench.db import get_session
from workbench.errors import UserError
from workbench.models import User
from workbench.tenancy import allow

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str | None:
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


@bp.route("/login", methods=["GET", "POST"])
@allow("public")
def login():
    error, status = None, 200
    email = request.form.get("email", "")[:254]
    if request.method == "POST":
        outcome, user, wait = authenticate(get_session(), email, request.form.get("password", ""))
        if outcome == LoginResult.OK:
            session.clear()
            login_user(LoginUser(user))
            session.permanent = True
            if invitations.pending_for(get_session(), user):
                flash(_("An organization invited you: answer on the Invitations page."), "info")
            resp = make_response(redirect(_safe_next(request.args.get("next")) or url_for("main.index")))
            throttle.remember_device(resp, user.email)
            return resp
        if outcome == LoginResult.LOCKED:
            error, status = throttle.wait_message(wait), 429
        else:
            error, status = _("Email or password is not correct."), 401
    return render_template("login.html", error=error, email=email), status


def end_all_sessions(user_id: int) -> None:
    db = get_session()
    user = db.get(User, user_id)
    if user is not None:
        rotate_session_token(user)
        db.add(user)
        db.commit()


@bp.route("/logout", methods=["POST"])
@allow("public")
def logout():
    """Sign out: the session token rotates, so a copy of this cookie (or any other) no longer works."""
    if current_user.is_authenticated:
        end_all_sessions(current_user.id)
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/account/sessions", methods=["POST"])
@allow("login")
def sign_out_everywhere():
    end_all_sessions(current_user.id)
    logout_user()
    session.clear()
    flash(_("You were signed out on every device."), "info")
    return redirect(url_for("auth.login"))


@bp.route("/invitations", methods=["GET", "POST"])
@allow("login")
def invitations_page():
    db = get_session()
    error, status = None, 200
    if request.method == "POST":
        raw = request.form.get("invitation", "")
        iid = int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 18 else 0
        try:
            if request.form.get("decision") == "accept":
                invitations.accept(db, iid, current_user)
                flash(_("Invitation accepted."), "success")
            else:
                invitations.decline(db, iid, current_user)
                flash(_("Invitation declined."), "info")
            db.commit()
            return redirect(url_for("auth.invitations_page"), code=303)
        except UserError as e:
            db.rollback()
            error, status = e.message, e.status
        except ValueError as e:  # AuditError from the audit service
            db.rollback()
            error, status = str(e), 422
    return render_template("invitations.html", rows=invitations.pending_for(db, current_user), error=error), status
