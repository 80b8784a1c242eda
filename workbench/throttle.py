"""Throttling of every password check: sign-in, e-signatures and the current password on /account/password.

Counters live in Flask-Limiter's storage (`RATELIMIT_STORAGE_URI`: `memory://` by default, right for one
process; use `redis://host:6379` when several workers serve the app so they share the counts). Each check is
counted under several keys, and each key backs off on its own, exponentially: after `THROTTLE_FREE` failures
a key is blocked for `THROTTLE_BASE_SECONDS`, then twice as long after each further failure, never longer
than `THROTTLE_MAX_SECONDS`. Failures are forgotten `THROTTLE_WINDOW_SECONDS` after the first one.

Sign-in keys: the client's address (`ip:`) and the account (`acct:<email>`, counted the same way for
addresses without an account, so locked and unknown accounts answer identically). A browser that signed in
to the account before carries a signed *device cookie*; its attempts count under `dev:<email>:<nonce>`
instead of the account key, so a stranger failing on purpose cannot lock the owner out of their own
browser. Signatures and the current password share one key per user (`reauth:<id>`) plus the address.

Times come from `now()` so tests can move the clock; storage entries expire on their own.
"""
from __future__ import annotations

import secrets
import time

from flask import Flask, current_app, g, has_request_context, request
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from itsdangerous import BadSignature, URLSafeSerializer

DEVICE_COOKIE = "pb_device"
_now = time.time


def now() -> float:
    return _now()


def limiter() -> Limiter:
    return current_app.extensions["workbench.limiter"]


def _storage():
    return limiter().storage


def _cfg(name: str) -> int:
    return int(current_app.config[name])


def blocked_for(keys: list[str]) -> int:
    """Seconds until every key may try again (0: not blocked)."""
    st, t = _storage(), now()
    until = max((st.get(f"pb:block:{k}") for k in keys), default=0)
    return max(0, int(until - t + 0.999))


def fail(keys: list[str], free: dict[str, int] | None = None) -> None:
    """Count a failure under each key and block the keys that are past their free failures."""
    st, t = _storage(), now()
    window = _cfg("THROTTLE_WINDOW_SECONDS")
    for k in keys:
        n = st.incr(f"pb:fail:{k}", window)
        allowed = (free or {}).get(k.split(":", 1)[0], _cfg("THROTTLE_FREE"))
        if n > allowed:
            delay = min(_cfg("THROTTLE_BASE_SECONDS") * 2 ** (n - allowed - 1), _cfg("THROTTLE_MAX_SECONDS"))
            st.clear(f"pb:block:{k}")
            st.incr(f"pb:block:{k}", delay + 5, amount=int(t + delay))


def succeed(keys: list[str]) -> None:
    st = _storage()
    for k in keys:
        st.clear(f"pb:fail:{k}")
        st.clear(f"pb:block:{k}")


class Wait(str):
    """A message saying the check was refused because of earlier failures (HTTP 429)."""


def wait_message(seconds: int) -> Wait:
    minutes = max(1, (seconds + 59) // 60)
    return Wait(_("Too many failed attempts. Try again in %(n)s minutes.", n=minutes))


# --- sign-in -------------------------------------------------------------------------------------------


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.secret_key, salt="workbench.device")


def device_nonce(email: str) -> str | None:
    """The nonce of this browser's device cookie if it was issued for `email`."""
    raw = request.cookies.get(DEVICE_COOKIE)
    if not raw:
        return None
    try:
        data = _serializer().loads(raw)
    except BadSignature:
        return None
    return data.get("n") if isinstance(data, dict) and data.get("e") == email else None


def login_keys(email: str) -> list[str]:
    nonce = device_nonce(email)
    account = f"dev:{email}:{nonce}" if nonce else f"acct:{email}"
    return [f"ip:{get_remote_address()}", account]


def login_free() -> dict[str, int]:
    return {"ip": _cfg("THROTTLE_FREE_PER_IP")}


def remember_device(resp, email: str) -> None:
    """After a successful sign-in: mark this browser as one the account's owner uses."""
    nonce = device_nonce(email) or secrets.token_urlsafe(12)
    resp.set_cookie(DEVICE_COOKIE, _serializer().dumps({"e": email, "n": nonce}), max_age=365 * 86400, httponly=True,
                    secure=current_app.config.get("SESSION_COOKIE_SECURE", True), samesite="Lax")


# --- re-entered passwords behind a session ------------------------------------------------------------


def reauth_problem(account, password: str | None, wrong: str) -> str | None:
    """Check a re-entered password (e-signature, current password): None if right, else the message to show.

    Throttled per user and per address like sign-in; a blocked check does not even look at the password."""
    from workbench.auth import verify_password

    if not has_request_context():  # demo seeding, command line: nobody to throttle
        return None if password and verify_password(account.password_hash, password) else wrong
    keys = [f"reauth:{account.id}", f"ip:{get_remote_address()}"]
    wait = blocked_for(keys)
    if wait:
        return wait_message(wait)
    if password and verify_password(account.password_hash, password):
        succeed(keys[:1])
        return None
    fail(keys, login_free())
    wait = blocked_for(keys)
    return wait_message(wait) if wait else wrong


def signature_problem(account, password: str | None, record) -> str | None:
    """An e-signature's password (workflow): like `reauth_problem`, and every wrong or throttled signature is
    written to the organization's event chain after the request's own transaction has ended."""
    problem = reauth_problem(account, password, _("The signature password is not correct."))
    if problem and has_request_context():
        g.setdefault("pb_signature_failures", []).append(
            (record.org_id, record.id, account.id, isinstance(problem, Wait)))
    return problem


def _record_signature_failures(resp):
    failures = g.pop("pb_signature_failures", None)
    if not failures:
        return resp
    from workbench import trail
    from workbench.actions import Action
    from workbench.db import get_session
    from workbench.models import User

    db = get_session()
    db.rollback()  # the failed step stored nothing; this transaction only records the attempt
    for org_id, record_id, user_id, throttled in failures:
        trail.append(db, org_id, Action.SIGN_FAILED, record_id=record_id, actor=db.get(User, user_id),
                     detail={"throttled": throttled})
    db.commit()
    return resp


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", "memory://")
    app.config.setdefault("RATELIMIT_HEADERS_ENABLED", False)
    lim = Limiter(get_remote_address, app=app, storage_uri=app.config["RATELIMIT_STORAGE_URI"], default_limits=[])
    app.extensions["workbench.limiter"] = lim
    app.after_request(_record_signature_failures)

    @app.errorhandler(429)
    def _too_many(_e):
        from flask import render_template

        return render_template("error.html", code=429), 429


def limit_view(app: Flask, endpoint: str, rule: str) -> None:
    """A coarse per-address request limit on one view (e.g. the sign-in form), on top of the back-off."""
    lim: Limiter = app.extensions["workbench.limiter"]
    app.view_functions[endpoint] = lim.limit(rule, methods=["POST"])(app.view_functions[endpoint])
