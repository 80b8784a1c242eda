"""Issue #10 items 3, 4, 5 and 7: revocable sessions, throttled password checks with exponential back-off
that answers unknown and existing accounts alike and cannot lock an owner out of their own browser,
throttled e-signatures and current passwords (failures in the chain), HSTS, private files, demo passwords."""
from __future__ import annotations

import os
import stat

import pytest
from sqlmodel import select

from tests.conftest import PASSWORD, csrf_from, load_fixture, login
from workbench import create_app, records, throttle, trail, workflow
from workbench.models import Event, Record

KS = load_fixture("kitchen-sink.json")


@pytest.fixture
def clock(monkeypatch):
    """The throttle's clock, moved by hand (nothing in the suite waits)."""
    now = [1_900_000_000.0]
    monkeypatch.setattr(throttle, "_now", lambda: now[0])
    return now


def copy_session(app, src):
    dst = app.test_client()
    cookie = src.get_cookie("session")
    dst.set_cookie("session", cookie.value)
    return dst


def signed_out(resp):
    return resp.status_code == 302 and "/login" in resp.headers["Location"]


# --- item 3: sessions can be revoked ---------------------------------------------------------------------------


def test_a_saved_cookie_stops_working_after_logout(app, world):
    c = app.test_client()
    login(c, world.users["member"].email)
    saved = copy_session(app, c)
    assert saved.get("/").status_code in (200, 302) and not signed_out(saved.get("/account/password"))
    c.post("/logout", data={"csrf_token": csrf_from(c.get("/account/password").get_data(as_text=True))})
    assert signed_out(saved.get("/account/password"))


def test_a_password_change_ends_every_other_session(app, world):
    c = app.test_client()
    login(c, world.users["member"].email)
    elsewhere = app.test_client()
    login(elsewhere, world.users["member"].email)
    saved = copy_session(app, c)
    page = c.get("/account/password").get_data(as_text=True)
    resp = c.post("/account/password", data={"csrf_token": csrf_from(page), "current": PASSWORD,
                                              "new": "a brand new secret", "repeat": "a brand new secret"})
    assert resp.status_code == 303
    assert not signed_out(c.get("/account/password"))  # this browser stays signed in
    assert signed_out(saved.get("/account/password")) and signed_out(elsewhere.get("/account/password"))


def test_sign_out_everywhere(app, world):
    a, b = app.test_client(), app.test_client()
    login(a, world.users["member"].email)
    login(b, world.users["member"].email)
    assert "sign_out_everywhere" not in a.get("/account/password").get_data(as_text=True)
    resp = a.post("/account/sessions", data={"csrf_token": csrf_from(a.get("/account/password").get_data(as_text=True))})
    assert signed_out(resp)
    assert signed_out(a.get("/account/password")) and signed_out(b.get("/account/password"))
    assert login(b, world.users["member"].email).status_code == 302  # signing in again works


def test_a_forged_or_old_style_session_id_is_refused(app, world):
    c = app.test_client()
    with c.session_transaction() as s:
        s["_user_id"] = str(world.users["member"].id)  # no token: what a pre-revocation cookie carried
        s["_fresh"] = True
    assert signed_out(c.get("/account/password"))


# --- item 4: back-off, no enumeration, no lock-out by strangers ----------------------------------------------------


def test_unknown_and_existing_accounts_answer_identically_even_when_throttled(app, world, clock):
    free = app.config["THROTTLE_FREE"]
    known, unknown = app.test_client(), app.test_client()
    for i in range(free + 2):
        a = login(known, world.users["member"].email, "wrong")
        b = login(unknown, "nobody@example.com", "wrong")
        assert a.status_code == b.status_code, i
        assert a.get_data(as_text=True).replace(world.users["member"].email, "@") == \
            b.get_data(as_text=True).replace("nobody@example.com", "@").replace(
                csrf_from(b.get_data(as_text=True)), csrf_from(a.get_data(as_text=True)))
    assert a.status_code == 429


def test_back_off_doubles_and_ends(app, world, clock):
    free, base = app.config["THROTTLE_FREE"], app.config["THROTTLE_BASE_SECONDS"]
    c, email = app.test_client(), world.users["member"].email
    for _ in range(free):
        assert login(c, email, "wrong").status_code == 401
    assert login(c, email, "wrong").status_code == 429  # blocked for `base` seconds
    assert login(c, email, PASSWORD).status_code == 429, "while blocked, even the right password waits"
    clock[0] += base + 1
    assert login(c, email, "wrong").status_code == 429  # the next failure doubles the wait
    clock[0] += base + 1
    assert login(c, email, PASSWORD).status_code == 429
    clock[0] += base + 1
    assert login(c, email, PASSWORD).status_code == 302


def test_the_wait_never_exceeds_the_maximum(app, world, clock):
    c, email = app.test_client(), world.users["member"].email
    for _ in range(30):
        login(c, email, "wrong")
        clock[0] += app.config["THROTTLE_MAX_SECONDS"] + 1
    assert login(c, email, PASSWORD).status_code == 302


def test_a_stranger_cannot_lock_the_owner_out_of_their_browser(app, world, clock):
    email = world.users["member"].email
    owner = app.test_client()
    assert login(owner, email).status_code == 302  # this browser now carries the device cookie
    owner.post("/logout", data={"csrf_token": csrf_from(owner.get("/account/password").get_data(as_text=True))})
    stranger = app.test_client()
    for _ in range(app.config["THROTTLE_FREE"] + 5):
        login(stranger, email, "guess")
    assert login(stranger, email, PASSWORD).status_code == 429  # the stranger's side is locked
    assert login(owner, email, PASSWORD).status_code == 302  # the owner's browser is not


def test_per_address_throttle_covers_many_accounts(app, world, clock):
    app.config["THROTTLE_FREE_PER_IP"] = 4
    c = app.test_client()
    for i in range(5):
        login(c, f"spray{i}@example.com", "123456")
    assert login(c, world.users["manager"].email, PASSWORD).status_code == 429
    other_ip = app.test_client()
    other_ip.environ_base["REMOTE_ADDR"] = "10.0.0.9"
    assert login(other_ip, world.users["manager"].email, PASSWORD).status_code == 302


def test_flask_limiter_caps_sign_in_posts_per_address(tmp_path, world):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'l.db'}", "SECRET_KEY": "t", "TESTING": True,
                      "SESSION_COOKIE_SECURE": False, "LOGIN_RATE_LIMIT": "3 per minute"})
    try:
        c = app.test_client()
        codes = [login(c, "x@example.com", "y").status_code for _ in range(4)]
        assert codes[:3] == [401, 401, 401] and codes[3] == 429
    finally:
        app.extensions["workbench.engine"].dispose()


def test_storage_is_configurable(tmp_path):
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'm.db'}", "SECRET_KEY": "t", "TESTING": True,
                      "RATELIMIT_STORAGE_URI": "memory://"})
    assert app.extensions["workbench.limiter"]._storage_uri == "memory://"
    app.extensions["workbench.engine"].dispose()


# --- item 5: re-entered passwords behind a session ----------------------------------------------------------------


@pytest.fixture
def submitted(app, db, world):
    tpl = world.add_template(KS, world.acme)
    with app.app_context():
        rec = records.create(db, world.acme, tpl, {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass",
                                                   "quantity": 1, "release_by": "王芳"}, world.users["member"])
        db.commit()
    with app.test_request_context():
        workflow.take(db, rec, tpl.body, "submit", world.users["member"], {"member"})
        db.commit()
    return rec


def test_signature_passwords_are_throttled_and_failures_chained(app, db, world, submitted, client_for, clock):
    m = client_for("manager")
    url = f"/o/acme/r/{submitted.id}/transition"
    tok = csrf_from(m.get(f"/o/acme/r/{submitted.id}").get_data(as_text=True))
    for _ in range(app.config["THROTTLE_FREE"] + 1):
        m.post(url, data={"csrf_token": tok, "name": "release", "password": "wrong"})
    m.post(url, data={"csrf_token": tok, "name": "release", "password": PASSWORD})
    db.expire_all()
    assert db.get(Record, submitted.id).state == "submitted", "the right password after many wrong ones waits"
    failed = db.exec(select(Event).where(Event.action == "sign_failed")).all()
    assert len(failed) == app.config["THROTTLE_FREE"] + 2
    assert failed[-1].detail == {"throttled": True} and failed[0].record_id == submitted.id
    assert failed[0].actor_id == world.users["manager"].id
    assert trail.verify(db, world.acme.id).ok
    clock[0] += app.config["THROTTLE_MAX_SECONDS"] + 1
    m.post(url, data={"csrf_token": tok, "name": "release", "password": PASSWORD})
    db.expire_all()
    assert db.get(Record, submitted.id).state == "released"


def test_current_password_is_throttled(app, world, client_for, clock):
    c = client_for("member")
    tok = csrf_from(c.get("/account/password").get_data(as_text=True))
    form = {"csrf_token": tok, "new": "another long one", "repeat": "another long one"}
    codes = [c.post("/account/password", data=dict(form, current="wrong")).status_code
             for _ in range(app.config["THROTTLE_FREE"] + 1)]
    assert codes[:-1] == [422] * app.config["THROTTLE_FREE"] and codes[-1] == 429
    assert c.post("/account/password", data=dict(form, current=PASSWORD)).status_code == 429
    clock[0] += app.config["THROTTLE_BASE_SECONDS"] + 1
    assert c.post("/account/password", data=dict(form, current=PASSWORD)).status_code == 303


# --- item 7 --------------------------------------------------------------------------------------------------------


def test_hsts_only_with_secure_cookies(app, tmp_path):
    assert "Strict-Transport-Security" not in app.test_client().get("/login").headers  # the fixture: plain http
    secure = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 's.db'}", "SECRET_KEY": "t", "TESTING": True,
                         "SESSION_COOKIE_SECURE": True})
    assert secure.test_client().get("/login").headers["Strict-Transport-Security"].startswith("max-age=")
    secure.extensions["workbench.engine"].dispose()


def test_secret_key_and_database_are_private(tmp_path, monkeypatch):
    monkeypatch.setenv("WORKBENCH_INSTANCE", str(tmp_path / "instance"))
    monkeypatch.delenv("SECRET_KEY", raising=False)
    old = os.umask(0o022)
    try:
        app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'instance' / 'w.db'}"})
    finally:
        os.umask(old)
    app.extensions["workbench.engine"].dispose()
    for name in ("secret_key", "w.db"):
        mode = stat.S_IMODE((tmp_path / "instance" / name).stat().st_mode)
        assert mode == 0o600, (name, oct(mode))


def test_demo_passwords_meet_the_rule():
    from workbench.demo import DEMO_PASSWORD
    from workbench.members import MIN_PASSWORD

    assert len(DEMO_PASSWORD) >= MIN_PASSWORD
    readme = open(os.path.join(os.path.dirname(__file__), "..", "README.md"), encoding="utf-8").read()
    assert f"`{DEMO_PASSWORD}`" in readme
