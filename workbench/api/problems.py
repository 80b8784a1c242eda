"""RFC 9457 `application/problem+json` answers: every API error, with field paths and a message in the
client's language (Accept-Language: zh / en; the API ignores the session's choice)."""
from __future__ import annotations

from flask import Response, json
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException

from workbench.errors import UserError

MEDIA = "application/problem+json"


def titles() -> dict[int, str]:
    return {400: _("Bad request"), 401: _("Authentication required"), 403: _("Forbidden"), 404: _("Not found"),
            405: _("Method not allowed"), 409: _("Conflict"), 413: _("Too large"), 415: _("Unsupported media type"),
            422: _("Invalid input"), 428: _("Precondition required"), 429: _("Too many requests")}


def problem(status: int, detail: str = "", *, errors: dict[str, list[str]] | None = None, **extra) -> Response:
    body = {"type": "about:blank", "title": titles().get(status, _("Error")), "status": status}
    if detail:
        body["detail"] = detail
    if errors:
        body["errors"] = [{"field": path, "message": m} for path, msgs in errors.items() for m in msgs]
    body.update(extra)
    resp = Response(json.dumps(body, ensure_ascii=False), status=status, mimetype=MEDIA)
    if status == 401:
        resp.headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return resp


def from_user_error(e: UserError) -> Response:
    return problem(e.status, e.message, errors={e.field: [e.message]} if e.field else None)


def from_http(e: HTTPException) -> Response:
    status = e.code or 500
    detail = e.description if status == 429 else ""
    return problem(status, detail if isinstance(detail, str) else "")
