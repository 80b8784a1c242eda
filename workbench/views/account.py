"""Sign in, sign out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import login_user, logout_user

from workbench.auth import LoginResult, LoginUser, authenticate
from workbench.db import get_session
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
    email = request.form.get("email", "")
    if request.method == "POST":
        outcome, user = authenticate(get_session(), email, request.form.get("password", ""))
        if outcome == LoginResult.OK:
            session.clear()
            login_user(LoginUser(user))
            session.permanent = True
            return redirect(_safe_next(request.args.get("next")) or url_for("main.index"))
        if outcome == LoginResult.LOCKED:
            error, status = _("Too many failed sign-ins. This account is locked for a few minutes."), 429
        else:
            error, status = _("Email or password is not correct."), 401
    return render_template("login.html", error=error, email=email), status


@bp.route("/logout", methods=["POST"])
@allow("public")
def logout():
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("auth.login"))
