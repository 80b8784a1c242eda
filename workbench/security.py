"""CSRF protection (Flask-WTF) and security headers, including a Content-Security-Policy, and HSTS whenever
session cookies are Secure (the app is served over TLS)."""
from __future__ import annotations

from flask import Flask, Response, request
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()

CSP = "; ".join([
    "default-src 'self'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "object-src 'none'",
    "base-uri 'self'",
    "form-action 'self'",
    "frame-ancestors 'none'",
])


def init_app(app: Flask) -> None:
    @app.before_request  # registered before CSRFProtect, which reads the form
    def _body_limit() -> None:
        """Bodies other than file uploads (form posts, JSON) stop at REQUEST_MAX_BYTES: Werkzeug reads a
        url-encoded body whole, so MAX_FORM_MEMORY_SIZE alone would not bound it (413 beyond)."""
        if request.mimetype != "multipart/form-data":
            request.max_content_length = app.config["REQUEST_MAX_BYTES"]

    csrf.init_app(app)

    @app.after_request
    def _headers(resp: Response) -> Response:
        resp.headers.setdefault("Content-Security-Policy", CSP)
        resp.headers.setdefault("X-Content-Type-Options", "nosniff")
        resp.headers.setdefault("X-Frame-Options", "DENY")
        resp.headers.setdefault("Referrer-Policy", "same-origin")
        resp.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if app.config.get("SESSION_COOKIE_SECURE") and app.config.get("HSTS"):
            resp.headers.setdefault("Strict-Transport-Security", app.config["HSTS"])
        if resp.mimetype == "text/html":
            resp.headers.setdefault("Cache-Control", "no-store")
        return resp
