"""Records of a process: list (filter, sort), new, detail, edit. Plain form posts; htmx swaps in place."""
from __future__ import annotations

from zoneinfo import ZoneInfo

import io

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select
from werkzeug.datastructures import MultiDict

import forms
from forms.messages import message
from workbench import attachments, drafts, held_uploads, library, prefill, records, smartforms, trail, workflow
from workbench.db import get_session
from workbench.i18n import lang, tr
from workbench.models import Attachment, Event, ProcessTemplate, Record, User
from workbench.notify import events as notify_events
from workbench.tenancy import allow, can, is_htmx

bp = Blueprint("records", __name__, url_prefix="/o/<org>")

PAGE_SIZE = 50
CONTROL_FIELDS = ("csrf_token", "_action", "_comment")


def _tz():
    try:
        return ZoneInfo(g.org.timezone)
    except Exception:  # noqa: BLE001 - an unknown zone name falls back to China Standard Time
        return ZoneInfo("Asia/Shanghai")


def _process_or_404(key: str) -> ProcessTemplate:
    tpl = library.adopted(get_session(), g.org, key)
    if tpl is None:
        abort(404)
    return tpl


def _record_or_404(record_id: int) -> tuple[Record, ProcessTemplate]:
    db = get_session()
    rec = db.get(Record, record_id)
    if rec is None or rec.org_id != g.org.id:
        abort(404)
    return rec, db.get(ProcessTemplate, rec.template_id)


def _posted_values() -> MultiDict:
    values = MultiDict(request.form)
    for key in CONTROL_FIELDS:
        values.poplist(key)
    return values


def link_choices(tpl: ProcessTemplate) -> dict[str, list[tuple[str, str]]]:
    """Records of this organization that a record-link field may point to."""
    db = get_session()
    out: dict[str, list[tuple[str, str]]] = {}
    for name, field in (tpl.body["schema"].get("properties") or {}).items():
        if field.get("format") == "record-link":
            rows = db.exec(select(Record).where(Record.org_id == g.org.id, Record.template_key.in_(field.get("linkTemplates") or []))
                           .order_by(Record.id.desc()).limit(300)).all()
            out[name] = [(str(r.id), prefill.link_label(r)) for r in rows]
    return out


def _form_page(tpl: ProcessTemplate, values: MultiDict, errors: dict, *, rec: Record | None, status: int = 200):
    body = tpl.body
    sections = forms.build_form(body["schema"], body.get("ui"), values, errors, lang(), link_choices(tpl))
    form_errors = errors.get(forms.FORM_ERROR, [])
    template = "record_form_fragment.html" if is_htmx() else "record_form.html"
    return render_template(template, tpl=tpl, sections=sections, rec=rec, errors=errors,
                           form_errors=form_errors, comment=request.form.get("_comment", "")), status


def _handle_post(tpl: ProcessTemplate, rec: Record | None):
    """Row actions re-render; a submit validates and stores, or re-renders with field errors (422)."""
    values = _posted_values()
    action = request.form.get("_action", "")
    if action.startswith(("add:", "remove:")):
        return _form_page(tpl, forms.apply_row_action(values, action), {}, rec=rec)
    schema = tpl.body["schema"]
    data, type_errors = forms.parse(schema, values, lang(), _tz())
    uploads, upload_errors = _uploads(tpl)
    type_errors.update(upload_errors)
    type_errors.update(_bad_links(tpl, data))
    type_errors.update(_forged_attachments(tpl, data, rec))
    for path in uploads:  # a new file replaces the field's current reference
        data[path] = "pending"
    validating = smartforms.before_validate(tpl, data, action, rec)
    errors = forms.validate(validating, data, lang(), type_errors)
    db = get_session()
    if errors:
        return _form_page(tpl, smartforms.on_error(db, g.org, current_user, uploads, values), errors, rec=rec, status=422)
    smartforms.before_store(db, g.org, tpl, data, rec)
    stored = {}
    for path, (name, content, ctype) in uploads.items():
        stored[path] = attachments.store(db, g.org.id, name, content, ctype, current_user)
        data[path] = attachments.reference(stored[path])
    if rec is None:
        rec = records.create(db, g.org, tpl, data, current_user)
        flash(_("Record saved."), "success")
    elif records.edit(db, rec, tpl, data, current_user, request.form.get("_comment", "").strip()):
        flash(_("Saved as revision %(n)s.", n=rec.revision), "success")
    else:
        flash(_("Nothing changed."), "info")
    for path, att in stored.items():
        attachments.link_to_record(db, att, rec.id, path, current_user)
    smartforms.after_store(db, g.org, tpl, data, rec, current_user)
    db.commit()
    target = url_for("records.detail", org=g.org.slug, record_id=rec.id)
    if is_htmx():
        return "", 200, {"HX-Redirect": target}
    return redirect(target, code=303)


def _uploads(tpl: ProcessTemplate):
    """Files posted for top-level attachment fields: ({path: (name, bytes, type)}, {path: [errors]})."""
    ok, errors = {}, {}
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    for name, field in tpl.body["schema"]["properties"].items():
        if field.get("format") != "attachment":
            continue
        upload = request.files.get(f"{name}.__file")
        if upload is None or not upload.filename:
            continue
        content = upload.read(limit + 1)
        try:
            ok[name] = (upload.filename, content, attachments.check(upload.filename, content, limit))
        except attachments.AttachmentError as e:
            errors[name] = [message(e.key, lang(), **e.kw)]
    return ok, errors


def _bad_links(tpl: ProcessTemplate, data: dict) -> dict[str, list[str]]:
    """A record-link must point at a record of this organization, of one of the allowed templates."""
    errors = {}
    choices = link_choices(tpl)
    for name, options in choices.items():
        if name in data and data[name] not in {v for v, _ in options}:
            errors[name] = [message("link", lang())]
    return errors


def _forged_attachments(tpl: ProcessTemplate, data: dict, rec: Record | None) -> dict[str, list[str]]:
    """An attachment reference can only be one the record already has (new files arrive as uploads)."""
    errors = {}
    for name, field in tpl.body["schema"]["properties"].items():
        if field.get("format") == "attachment" and name in data and data[name] != (rec.data.get(name) if rec else None) \
                and not held_uploads.held(get_session(), g.org.id, current_user, data[name]):
            errors[name] = [message("invalid", lang())]
    return errors


@bp.route("/p/<key>/")
@allow("org:read")
def list_records(org, key):
    """Search, filter, sort and page one process's records (workbench.listing builds the SQL)."""
    from workbench import listing

    tpl = _process_or_404(key)
    db = get_session()
    lq = listing.ListQuery.from_args(tpl, request.args)
    stmt = lq.select(g.org.id)
    total = listing.count(db, stmt)
    pages = max(1, -(-total // PAGE_SIZE))
    page = min(pages, max(1, request.args.get("page", 1, type=int) or 1))
    rows = db.exec(stmt.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    ui = tpl.body.get("ui") or {}
    props = tpl.body["schema"]["properties"]
    columns = [c for c in ui.get("list_columns") or list(props)[:3] if c in props]
    bulk_steps = []
    if can("org:write"):
        names = {}
        for t in tpl.body["workflow"]["transitions"]:
            if "admin" in g.roles or g.roles & set(t["roles"]):
                names.setdefault(t["name"], workflow.Transition.of(t))
        bulk_steps = list(names.values())
    return render_template("record_list.html", tpl=tpl, rows=rows, columns=columns, props=props, total=total,
                           page=page, pages=pages, lq=lq, kinds=listing.filterable(tpl), people=listing.people(db, g.org.id),
                           bulk_steps=bulk_steps)


@bp.route("/p/<key>/new", methods=["GET", "POST"])
@allow("org:write")
def new_record(org, key):
    tpl = _process_or_404(key)
    if request.method == "POST":
        return _handle_post(tpl, None)
    return _form_page(tpl, prefill.initial_values(get_session(), tpl, request.args, current_user, g.org, _tz()), {}, rec=None)


@bp.route("/r/<int:record_id>")
@allow("org:read")
def detail(org, record_id):
    rec, tpl = _record_or_404(record_id)
    db = get_session()
    body = tpl.body
    sections = forms.build_form(body["schema"], body.get("ui"), forms.flatten(body["schema"], rec.data, _tz()), {},
                                lang(), link_choices(tpl))
    events = db.exec(select(Event).where(Event.org_id == g.org.id, Event.record_id == rec.id).order_by(Event.seq)).all()
    revs = records.revisions(db, rec)
    check = trail.verify(db, g.org.id, record_id=rec.id)
    people = {u.id: u.name for u in db.exec(select(User).where(User.id.in_({rec.created_by, rec.updated_by} - {None}))).all()}
    current = library.adopted(db, g.org, rec.template_key)
    steps = workflow.available(body, rec.state, g.roles) if can("org:write") else []
    return render_template("record_detail.html", rec=rec, tpl=tpl, sections=sections, events=events, revisions=revs,
                           check=check, people=people, newer=current if current and current.id != tpl.id else None,
                           steps=steps, links=records.linked(db, rec, tpl), answer_with=_answer_with(rec),
                           deletion_requested=any(e.action == "delete_request" for e in events))


def _answer_with(rec: Record) -> list[tuple[ProcessTemplate, str]]:
    """Processes whose records can link to this one (e.g. a corrective action for a nonconformity)."""
    if not can("org:write"):
        return []
    out = []
    for other in library.processes(get_session(), g.org):
        for n, f in other.body["schema"]["properties"].items():
            if f.get("format") == "record-link" and rec.template_key in (f.get("linkTemplates") or []):
                out.append((other, n))
                break
    return out


@bp.route("/r/<int:record_id>/transition", methods=["POST"])
@allow("org:write")
def transition(org, record_id):
    rec, tpl = _record_or_404(record_id)
    db = get_session()
    try:
        drafts.check_complete(tpl.body, rec, request.form.get("name", ""))
        workflow.take(db, rec, tpl.body, request.form.get("name", ""), current_user, g.roles,
                      comment=request.form.get("comment", ""), password=request.form.get("password"))
    except workflow.WorkflowError as e:
        db.rollback()
        flash(str(e), "error")
    else:
        notify_events.after_transition(db, g.org, rec, tpl, current_user)
        db.commit()
        flash(_("State changed to “%(state)s”.", state=tr(tpl.body["workflow"]["states"][rec.state]["label"])), "success")
    return redirect(url_for("records.detail", org=g.org.slug, record_id=rec.id), code=303)


@bp.route("/r/<int:record_id>/request-deletion", methods=["POST"])
@allow("org:write")
def request_deletion(org, record_id):
    """Records are never deleted: a deletion request is an event a manager and the auditor can see."""
    rec, _tpl = _record_or_404(record_id)
    reason = request.form.get("reason", "").strip()
    if not reason:
        flash(_("Give a reason for the deletion request."), "error")
    else:
        db = get_session()
        trail.append(db, g.org.id, "delete_request", record_id=rec.id, actor=current_user, comment=reason[:1000])
        db.commit()
        flash(_("Deletion request recorded. The record stays, with the request in its history."), "info")
    return redirect(url_for("records.detail", org=g.org.slug, record_id=rec.id), code=303)


@bp.route("/attachments/<int:attachment_id>")
@allow("org:read")
def attachment(org, attachment_id):
    att = get_session().get(Attachment, attachment_id)
    if att is None or att.org_id != g.org.id:
        abort(404)
    return send_file(io.BytesIO(att.content), mimetype=att.content_type, as_attachment=True,
                     download_name=att.filename, etag=att.sha256)


@bp.route("/r/<int:record_id>/revisions/<int:number>")
@allow("org:read")
def revision(org, record_id, number):
    rec, tpl = _record_or_404(record_id)
    revs = {r.number: r for r in records.revisions(get_session(), rec)}
    if number not in revs:
        abort(404)
    before = revs[number - 1].data if number - 1 in revs else {}
    changes = records.diff(before, revs[number].data)
    body = tpl.body
    sections = forms.build_form(body["schema"], body.get("ui"), forms.flatten(body["schema"], revs[number].data, _tz()),
                                {}, lang(), link_choices(tpl))
    return render_template("revision.html", rec=rec, tpl=tpl, rev=revs[number], changes=changes, sections=sections,
                           labels=_labels(body["schema"]))


def _labels(schema: dict, prefix: str = "") -> dict[str, str]:
    """Dotted path (without row indices) -> label, for naming changed fields."""
    out: dict[str, str] = {}
    for name, field in (schema.get("properties") or {}).items():
        path = prefix + name
        out[path] = forms.text(field.get("label"), lang(), name)
        if field.get("type") == "object":
            out.update(_labels(field, path + "."))
        if isinstance(field.get("items"), dict) and field["items"].get("type") == "object":
            out.update({k: out[path] + " › " + v for k, v in _labels(field["items"], path + ".").items()})
    return out


@bp.route("/r/<int:record_id>/edit", methods=["GET", "POST"])
@allow("org:write")
def edit(org, record_id):
    rec, tpl = _record_or_404(record_id)
    if request.method == "POST":
        return _handle_post(tpl, rec)
    return _form_page(tpl, forms.flatten(tpl.body["schema"], rec.data, _tz()), {}, rec=rec)
