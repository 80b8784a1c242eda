"""ProcessBench: ISO management-system process templates -> forms, workflows and audit-ready records."""
from __future__ import annotations

import os
import secrets
from datetime import timedelta
from pathlib import Path

from flask import Flask

REPO_DIR = Path(__file__).resolve().parent.parent
STATIC_DIR = REPO_DIR / "static"


def _secret_key(instance_path: str) -> str:
    if os.environ.get("SECRET_KEY"):
        return os.environ["SECRET_KEY"]
    path = Path(instance_path) / "secret_key"
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # created with mode 0600 from the first byte (no window in which others could read it)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, static_folder=str(STATIC_DIR), static_url_path="/static",
                instance_path=os.environ.get("WORKBENCH_INSTANCE", str(Path.cwd() / "instance")))
    from workbench.db import default_url

    app.config.update(
        DATABASE_URL=default_url(),
        MAX_CONTENT_LENGTH=12 * 1024 * 1024,  # any request body (uploads included)
        MAX_FORM_MEMORY_SIZE=1024 * 1024,  # all non-file form fields of one request together
        MAX_FORM_PARTS=5000,
        REQUEST_MAX_BYTES=2 * 1024 * 1024,  # any body that is not multipart (url-encoded forms, JSON)
        ATTACHMENT_MAX_BYTES=10 * 1024 * 1024,
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=os.environ.get("WORKBENCH_SECURE_COOKIES", "1") != "0",  # demo on plain http sets 0
        REMEMBER_COOKIE_HTTPONLY=True,
        PERMANENT_SESSION_LIFETIME=timedelta(hours=8),
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session
        BABEL_DEFAULT_LOCALE="zh_CN",
        BABEL_TRANSLATION_DIRECTORIES=str(Path(__file__).parent / "translations"),
        # password checks (workbench.throttle): back-off per account and per address; storage shared by workers
        RATELIMIT_STORAGE_URI=os.environ.get("RATELIMIT_STORAGE_URI", "memory://"),
        THROTTLE_FREE=5,  # failures per account (or re-entered password) before the back-off starts
        THROTTLE_FREE_PER_IP=30,  # per client address (offices share one)
        THROTTLE_BASE_SECONDS=30,
        THROTTLE_MAX_SECONDS=15 * 60,
        THROTTLE_WINDOW_SECONDS=24 * 3600,
        LOGIN_RATE_LIMIT="60 per minute",  # sign-in posts per address, right or wrong
        HSTS="max-age=31536000; includeSubDomains",  # sent whenever session cookies are Secure
    )
    if "SECRET_KEY" not in (config or {}):
        app.config["SECRET_KEY"] = _secret_key(app.instance_path)
    app.config.update(config or {})

    from workbench import auth, i18n, ids, security, throttle
    from workbench.db import close_session, create_schema, make_engine

    engine = make_engine(app.config["DATABASE_URL"])
    from workbench import library

    library.clear_cache()  # parsed template bodies are keyed by id: a new app may be a new database
    app.extensions["workbench.engine"] = engine
    if app.config.get("AUTO_MIGRATE", True):
        create_schema(engine)
    app.teardown_appcontext(close_session)

    ids.init_app(app)
    app.jinja_env.add_extension("jinja2.ext.do")
    _jinja_helpers(app)
    i18n.init_app(app)
    auth.init_app(app)
    security.init_app(app)
    throttle.init_app(app)

    from flask_htmx import HTMX

    HTMX(app)

    import forms
    from workbench.views import register_blueprints

    app.register_blueprint(forms.blueprint)
    register_blueprints(app)
    throttle.limit_view(app, "auth.login", app.config["LOGIN_RATE_LIMIT"])
    return app


def _jinja_helpers(app: Flask) -> None:
    from forms.widgets import display
    from workbench.actions import label as action_label
    from workbench.i18n import lang
    from workbench.tenancy import can

    def attachment_href(ref: str) -> str | None:
        from flask import g, url_for

        from workbench.attachments import attachment_id

        att = attachment_id(ref)
        org = getattr(g, "org", None)
        return url_for("records.attachment", org=org.slug, attachment_id=att) if att and org else None

    def localtime(dt, fmt: str = "%Y-%m-%d %H:%M") -> str:
        """A stored UTC time in the organization's time zone (China Standard Time by default)."""
        from zoneinfo import ZoneInfo

        from flask import g

        if dt is None:
            return "—"
        try:
            zone = ZoneInfo(getattr(getattr(g, "org", None), "timezone", None) or "Asia/Shanghai")
        except Exception:  # noqa: BLE001
            zone = ZoneInfo("Asia/Shanghai")
        return dt.astimezone(zone).strftime(fmt)

    app.jinja_env.filters["localtime"] = localtime
    app.jinja_env.globals.update(can=can, display=lambda schema, value: display(schema, value, lang()),
                                 attachment_href=attachment_href, action_label=action_label)
    app.jinja_env.tests["number_like"] = lambda s: str(s).isascii() and str(s).isdigit()
