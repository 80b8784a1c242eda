"""The `/api/v1` blueprint: thin views over the same services as the HTML views.

Authentication is a personal access token only (`Authorization: Bearer pbt_…`): no cookies, so no CSRF,
and no CORS headers. The token names one organization; a request for another organization answers 404
as the UI does. Each route has the UI's `@allow(policy)` (roles, auditor scope and window) and a token
scope (`need`). E-signatures need the password in the UI: the API refuses any transition that signs (403).
"""
from __future__ import annotations

import io
from functools import wraps

from flask import Blueprint, Flask, g, jsonify, request, send_file
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import HTTPException

import forms
from workbench import library, listing, records, workflow
from workbench.api import openapi, problems, tokens
from workbench.auth import LoginUser
from workbench.db import get_session, transaction
from workbench.errors import NotFound, UserError
from workbench.i18n import lang
from workbench.models import Attachment, Event, Organization, Record, User
from workbench.services import records as svc
from workbench.tenancy import allow, auditor_scope

bp = Blueprint("api", __name__, url_prefix="/api/v1")
PAGE_MAX = 200
PUBLIC = {"api.openapi_document"}


def need(scope: str):
    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            if scope not in (g.api_token.scopes or []):
                return problems.problem(403, _("This token lacks the scope %(scope)s.", scope=scope))
            return view(*args, **kwargs)
        return wrapper
    return decorate


@bp.before_request
def _authenticate():
    if request.endpoint in PUBLIC or request.endpoint is None:
        return None
    auth = request.headers.get("Authorization", "")
    kind, _sp, clear = auth.partition(" ")
    db = get_session()
    tok = tokens.authenticate(db, clear.strip()) if kind.lower() == "bearer" else None
    user = db.get(User, tok.user_id) if tok is not None else None
    if tok is None or user is None:
        return problems.problem(401, _("Send a valid, unexpired personal access token as `Authorization: Bearer`."))
    org = db.get(Organization, tok.org_id)
    if (request.view_args or {}).get("org") != org.slug:
        return problems.problem(404, _("No such organization."))
    tokens.touch(db, tok)
    g._login_user = LoginUser(user)  # flask_login's current user for this request only; the session is never read
    g.api_token = tok
    return None


@bp.errorhandler(UserError)
def _user_error(e: UserError):
    return problems.from_user_error(e)


def _http_error(e: HTTPException):
    return problems.from_http(e)


bp.register_error_handler(HTTPException, _http_error)
for _code in (400, 401, 403, 404, 405, 409, 413, 415, 422, 428, 429):  # before the app's HTML pages by code
    bp.register_error_handler(_code, _http_error)


def _json_body() -> dict:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise UserError(_("Send a JSON object (Content-Type: application/json)."), status=400)
    return body


def _process(key: str):
    tpl = library.adopted(get_session(), g.org, key)
    if tpl is None:
        raise NotFound(_("No such process."))
    return tpl


def _visible_keys() -> set[str] | None:
    """Processes the caller may read: None = all (staff); an auditor only the scope of their open engagements."""
    return auditor_scope(g.org, current_user.id) if g.roles == {"auditor"} else None


def record_json(rec: Record) -> dict:
    return {"id": rec.id, "process": rec.template_key, "state": rec.state, "revision": rec.revision,
            "title": rec.title, "record_date": rec.record_date.isoformat() if rec.record_date else None,
            "data": rec.data, "created_at": rec.created_at.isoformat(), "updated_at": rec.updated_at.isoformat()}


def event_json(e: Event) -> dict:
    return {"seq": e.seq, "record_id": e.record_id, "action": e.action, "actor": e.actor_name, "at": e.at.isoformat(),
            "from_state": e.from_state, "to_state": e.to_state, "comment": e.comment, "detail": e.detail,
            "data_digest": e.data_digest, "prev_hash": e.prev_hash, "hash": e.hash}


def _record(record_id: int) -> Record:
    rec = records.get(get_session(), g.org.id, record_id)
    keys = _visible_keys()
    if keys is not None and rec.template_key not in keys:
        raise NotFound(_("No such record."))
    return rec


def _submit(tpl, sub: svc.Submission, status: int, record: Record | None = None):
    """Create (record=None) or edit through the record service in one transaction; the record, or 422."""
    with transaction() as db:
        result = svc.submit(db, g.org, tpl, sub, current_user, record=record, lang=lang(), tz=records.zone(g.org))
    return _saved(result, status)


def _saved(result, status: int):
    if isinstance(result, svc.Invalid):
        return problems.problem(422, _("Some fields are not valid."), errors=result.errors)
    rec = result.record
    resp = jsonify(record_json(rec))
    resp.status_code = status
    resp.headers["ETag"] = f'"{rec.revision}"'
    return resp


def _submission(tpl, body: dict, base: int | None) -> svc.Submission:
    data = body.get("data")
    if not isinstance(data, dict):
        raise UserError(_("`data` must be an object with the record's fields."), field="data")
    try:
        values = forms.flatten(tpl.body["schema"], data, records.zone(g.org))
    except (TypeError, ValueError, AttributeError, KeyError):
        raise UserError(_("`data` does not have the shape of this process's record schema."), field="data") from None
    comment = body.get("comment", "")
    return svc.Submission(MultiDict(values), comment=comment if isinstance(comment, str) else "", base_revision=base)


# --- processes ---------------------------------------------------------------------------------------------------

@bp.get("/o/<org>/processes")
@allow("org:read")
@need("read")
def processes(org: str):
    keys = _visible_keys()
    out = [{"key": t.key, "version": t.version, "title": t.body.get("title"), "states": t.body["workflow"].get("states"),
            "schema": t.body["schema"], "schema_ref": f"#/components/schemas/{openapi.record_schema_name(t.key)}"}
           for t in library.processes(get_session(), g.org) if keys is None or t.key in keys]
    return jsonify({"items": out})


# --- records -----------------------------------------------------------------------------------------------------

@bp.get("/o/<org>/processes/<key>/records")
@allow("org:read")
@need("read")
def list_records(org: str, key: str):
    tpl = _process(key)
    lq = listing.ListQuery.from_args(tpl, request.args, get_session())  # plans field sorts and filters by index
    if lq.bad_dates:
        raise UserError(_("Dates are YYYY-MM-DD."), field="from")
    page = request.args.get("page", 1, type=int) or 1
    size = request.args.get("per_page", 50, type=int) or 50
    if not (1 <= page <= 100000 and 1 <= size <= PAGE_MAX):
        raise UserError(_("page ≥ 1 and 1 ≤ per_page ≤ %(n)s.", n=PAGE_MAX), field="per_page")
    db = get_session()
    stmt = lq.select(g.org.id)
    total = listing.count(db, lq.select(g.org.id, counting=True))  # exact (no cap) for API clients
    rows = db.exec(stmt.offset((page - 1) * size).limit(size)).all()
    return jsonify({"items": [record_json(r) for r in rows], "page": page, "per_page": size, "total": total})


@bp.post("/o/<org>/processes/<key>/records")
@allow("org:write")
@need("write")
def create_record(org: str, key: str):
    tpl = _process(key)
    return _submit(tpl, _submission(tpl, _json_body(), None), 201)


@bp.get("/o/<org>/records/<int:record_id>")
@allow("org:read")
@need("read")
def get_record(org: str, record_id: int):
    rec = _record(record_id)
    resp = jsonify(record_json(rec))
    resp.headers["ETag"] = f'"{rec.revision}"'
    return resp


def _if_match() -> int:
    raw = (request.headers.get("If-Match") or "").strip().strip('"').removeprefix("W/").strip('"')
    if not raw:
        raise UserError(_("Send If-Match with the revision you edited."), status=428)
    if not raw.isdigit() or len(raw) > 12:
        raise UserError(_("If-Match is the record's revision number."), status=400)
    return int(raw)


@bp.put("/o/<org>/records/<int:record_id>")
@allow("org:write")
@need("write")
def edit_record(org: str, record_id: int):
    rec = _record(record_id)
    base = _if_match()
    body = _json_body()
    tpl = records.version_of(get_session(), rec)
    return _submit(tpl, _submission(tpl, body, base), 200, record=rec)


@bp.post("/o/<org>/records/<int:record_id>/transitions")
@allow("org:write")
@need("write")
def take_transition(org: str, record_id: int):
    rec = _record(record_id)
    body = _json_body()
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise UserError(_("Name the step to take."), field="name")
    tpl = records.version_of(get_session(), rec)
    spec = {t.name: t for t in workflow.transitions_from(tpl.body, rec.state)}.get(name)
    if spec is not None and spec.signature:
        raise UserError(_("This step needs an e-signature: sign it in the web application with your password. "
                          "Tokens never sign."), field="name", status=403)
    base = body.get("revision")
    if base is not None and (not isinstance(base, int) or isinstance(base, bool)):
        raise UserError(_("`revision` is the record's revision number."), field="revision")
    comment = body.get("comment", "")
    with transaction() as db:
        svc.transition(db, rec, name, current_user, g.roles, comment=comment if isinstance(comment, str) else "",
                       base_revision=base)
    return jsonify(record_json(rec))


# --- attachments --------------------------------------------------------------------------------------------------

@bp.get("/o/<org>/attachments/<int:attachment_id>")
@allow("org:read")
@need("read")
def download(org: str, attachment_id: int):
    att = get_session().get(Attachment, attachment_id)
    if att is None or att.org_id != g.org.id or att.record_id is None:
        raise NotFound(_("No such file."))
    _record(att.record_id)
    resp = send_file(io.BytesIO(att.content), mimetype="application/octet-stream", as_attachment=True,
                     download_name=att.filename, etag=att.sha256)
    resp.headers["Digest"] = f"sha-256={att.sha256}"
    return resp


@bp.post("/o/<org>/records/<int:record_id>/attachments/<field>")
@allow("org:write")
@need("write")
def upload(org: str, record_id: int, field: str):
    """A new file for a top-level attachment field: a new revision of the record (If-Match required)."""
    rec = _record(record_id)
    base = _if_match()
    tpl = records.version_of(get_session(), rec)
    up = request.files.get("file")
    if up is None or not up.filename:
        raise UserError(_("Send the file as multipart field `file`."), field="file")
    props = tpl.body["schema"].get("properties") or {}
    if props.get(field, {}).get("format") != "attachment":
        raise NotFound(_("No such attachment field."))
    values = forms.flatten(tpl.body["schema"], rec.data, records.zone(g.org))
    sub = svc.Submission(MultiDict(values), uploads={field: svc.Upload(up.filename, up.read(svc.DEFAULT_MAX_BYTES + 1))},
                         comment=request.form.get("comment", ""), base_revision=base)
    return _submit(tpl, sub, 200, record=rec)


# --- events -------------------------------------------------------------------------------------------------------

@bp.get("/o/<org>/records/<int:record_id>/events")
@allow("org:read")
@need("read")
def record_events(org: str, record_id: int):
    rec = _record(record_id)
    rows = get_session().exec(select(Event).where(Event.org_id == g.org.id, Event.record_id == rec.id)
                              .order_by(Event.seq)).all()
    return jsonify({"items": [event_json(e) for e in rows]})


@bp.get("/o/<org>/events")
@allow("org:audit")
@need("audit-read")
def chain_segment(org: str):
    """The organization's chain from seq `from` (default 1), at most `limit` (≤ 500) events, with hashes."""
    start = request.args.get("from", 1, type=int) or 1
    limit = request.args.get("limit", 100, type=int) or 100
    if not (1 <= start < 2**62 and 1 <= limit <= 500):
        raise UserError(_("from ≥ 1 and 1 ≤ limit ≤ 500."), field="limit")
    rows = get_session().exec(select(Event).where(Event.org_id == g.org.id, Event.seq >= start)
                              .order_by(Event.seq).limit(limit)).all()
    return jsonify({"items": [event_json(e) for e in rows]})


# --- audit ----------------------------------------------------------------------------------------------------------

@bp.get("/o/<org>/audit/engagements")
@allow("org:audit")
@need("audit-read")
def engagements(org: str):
    from workbench.audit.models import Engagement, Finding, Sample
    from workbench.audit.service import open_engagements

    db = get_session()
    if g.roles == {"auditor"}:
        rows = open_engagements(db, g.org.id, current_user.id)
    else:
        rows = db.exec(select(Engagement).where(Engagement.org_id == g.org.id).order_by(Engagement.id)).all()
    out = []
    for e in rows:
        samples = db.exec(select(Sample).where(Sample.engagement_id == e.id)).all()
        findings = db.exec(select(Finding).where(Finding.engagement_id == e.id)).all()
        out.append({"id": e.id, "title": e.title, "standards": e.standards, "audit_type": e.audit_type,
                    "period_start": e.period_start.isoformat(), "period_end": e.period_end.isoformat(),
                    "scope_processes": e.scope_processes,
                    "samples": [_sample(s) for s in samples],
                    "findings": [{"id": f.id, **{k: _plain(getattr(f, k, None)) for k in ("number", "grade", "status", "clause")}}
                                 for f in findings]})
    return jsonify({"items": out})


def _sample(s) -> dict:
    """A sample as the API shows it. Algorithm 2 samples keep their frame in chunks (workbench.audit.frames):
    their frame is named by `frame_digest`; `population_ids` is listed for algorithm 1 samples only."""
    out = {"id": s.id, **{k: _plain(getattr(s, k, None)) for k in ("number", "population_size", "definition", "seed",
                                                                  "rule", "drawn", "digest", "frame_digest")}}
    out["algorithm"] = 2 if s.frame_digest else 1
    if not s.frame_digest:
        out["population_ids"] = s.population_ids
    return out


def _plain(v):
    return v.isoformat() if hasattr(v, "isoformat") else v


# --- the document -------------------------------------------------------------------------------------------------

@bp.get("/openapi.json")
@allow("public")
def openapi_document():
    """Public; with a valid token it also carries the organization's process schemas as components."""
    kind, _sp, clear = request.headers.get("Authorization", "").partition(" ")
    tok = tokens.authenticate(get_session(), clear.strip()) if kind.lower() == "bearer" else None
    g.api_org_for_doc = get_session().get(Organization, tok.org_id) if tok is not None else None
    return jsonify(openapi.document())


def register(app: Flask) -> None:
    from workbench.security import csrf

    csrf.exempt(bp)
    app.extensions["workbench.limiter"].limit(lambda: app.config.get("API_RATE_LIMIT", "600/minute"))(bp)
    app.register_blueprint(bp)
