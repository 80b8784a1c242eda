"""Records of a process: list (filter, sort), new, detail, edit. Plain form posts; htmx swaps in place."""
from __future__ import annotations

import io

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select
from werkzeug.datastructures import MultiDict

import forms
from workbench import library, prefill, records, signatures, trail, workflow
from workbench.actions import Action
from workbench.db import get_session, transaction
from workbench.errors import UserError
from workbench.i18n import lang, tr
from workbench.models import Attachment, Event, ProcessTemplate, Record, User
from workbench.services import records as service
from workbench.tenancy import allow, can, is_htmx

bp = Blueprint("records", __name__, url_prefix="/o/<org>")

PAGE_SIZE = 50
CONTROL_FIELDS = ("csrf_token", "_action", "_comment", "_revision")


def _tz():
    return records.zone(g.org)


def _process_or_404(key: str) -> ProcessTemplate:
    tpl = library.adopted(get_session(), g.org, key)
    if tpl is None:
        abort(404)
    return tpl


def _record(record_id: int) -> tuple[Record, ProcessTemplate]:
    """The record of this organization and the template version it was made with (NotFound: 404)."""
    db = get_session()
    rec = records.get(db, g.org.id, record_id)
    return rec, records.version_of(db, rec)


def _posted_values() -> MultiDict:
    values = MultiDict(request.form)
    for key in CONTROL_FIELDS:
        values.poplist(key)
    return values


def _int_arg(raw) -> int | None:
    raw = str(raw or "").strip()
    return int(raw) if raw.isascii() and raw.isdigit() and len(raw) < 19 else None


def link_choices(tpl: ProcessTemplate) -> dict[str, list[tuple[str, str]]]:
    """Records of this organization that a record-link field may point to."""
    return records.link_choices(get_session(), g.org.id, tpl)


def _form_page(tpl: ProcessTemplate, values: MultiDict, errors: dict, *, rec: Record | None, status: int = 200,
               base: int | None = None, conflict: str | None = None, changes: list | None = None):
    body = tpl.body
    sections = forms.build_form(body["schema"], body.get("ui"), values, errors, lang(), link_choices(tpl))
    form_errors = errors.get(forms.FORM_ERROR, [])
    signed = signatures.of_record(get_session(), rec).in_force if rec is not None else []
    template = "record_form_fragment.html" if is_htmx() else "record_form.html"
    return render_template(template, tpl=tpl, sections=sections, rec=rec, errors=errors,
                           form_errors=form_errors, comment=request.form.get("_comment", ""),
                           comment_errors=errors.get("_comment", []), signed=signed, conflict=conflict,
                           changes=changes or [], base_revision=base if base is not None else (rec.revision if rec else None),
                           states=body["workflow"]["states"]), status


def _handle_post(tpl: ProcessTemplate, rec: Record | None):
    """Row actions re-render; a submit goes to the record service, which stores it or answers field errors
    (422), a locked state (409) or a form older than the record (409, with what changed; input kept)."""
    values = _posted_values()
    base = _int_arg(request.form.get("_revision")) if rec is not None else None
    action = request.form.get("_action", "")
    if action.startswith(("add:", "remove:")):
        return _form_page(tpl, forms.apply_row_action(values, action), {}, rec=rec, base=base)
    limit = current_app.config["ATTACHMENT_MAX_BYTES"]
    sub = service.Submission(values, service.uploads_from(request.files, tpl, limit),
                             request.form.get("_comment", "").strip(), base, action=action)
    try:
        with transaction() as db:
            result = service.submit(db, g.org, tpl, sub, current_user, record=rec, lang=lang(), tz=_tz(), max_bytes=limit)
    except records.StaleRecord as e:
        get_session().refresh(rec)
        changes = records.changes_since(get_session(), rec, tpl, e.base, lang())
        return _form_page(tpl, values, {}, rec=rec, status=e.status, base=rec.revision, conflict=e.message,
                          changes=changes)
    except UserError as e:
        if rec is not None:
            get_session().refresh(rec)
        return _form_page(tpl, values, {e.field or forms.FORM_ERROR: [e.message]}, rec=rec, status=e.status, base=base)
    if isinstance(result, service.Invalid):
        return _form_page(tpl, values, result.errors, rec=rec, status=422, base=base)
    rec = result.record
    if result.created:
        flash(_("Record saved."), "success")
    elif result.revision is None:
        flash(_("Nothing changed."), "info")
    elif result.signatures_voided:
        flash(_("Saved as revision %(n)s. The signature no longer counts: the record is back at “%(state)s” "
                "to be signed again.", n=rec.revision,
                state=tr(tpl.body["workflow"]["states"].get(rec.state, {}).get("label"), rec.state)), "warning")
    else:
        flash(_("Saved as revision %(n)s.", n=rec.revision), "success")
    target = url_for("records.detail", org=g.org.slug, record_id=rec.id)
    if is_htmx():
        return "", 200, {"HX-Redirect": target}
    return redirect(target, code=303)


@bp.route("/p/<key>/")
@allow("org:read")
def list_records(org, key):
    """Search, filter, sort and page one process's records (workbench.listing builds the SQL)."""
    from workbench import listing

    tpl = _process_or_404(key)
    db = get_session()
    lq = listing.ListQuery.from_args(tpl, request.args, db)
    stmt = lq.select(g.org.id)
    total = listing.count(db, lq.select(g.org.id, counting=True), cap=listing.COUNT_CAP)  # COUNT_CAP + 1: "more than"
    more = total > listing.COUNT_CAP
    pages = max(1, -(-min(total, listing.COUNT_CAP) // PAGE_SIZE))
    page = max(1, min(request.args.get("page", 1, type=int) or 1, 10**6))
    page = page if more else min(pages, page)
    rows = db.exec(stmt.offset((page - 1) * PAGE_SIZE).limit(PAGE_SIZE)).all()
    if more:  # past the counted pages: a "next" link while pages are full
        pages = max(pages, page + (len(rows) == PAGE_SIZE))
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
                           page=page, pages=pages, more=more, lq=lq, kinds=listing.filterable(tpl), people=listing.people(db, g.org.id),
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
    rec, tpl = _record(record_id)
    return _detail_page(rec, tpl)


def _detail_page(rec: Record, tpl: ProcessTemplate, status: int = 200):
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
    history = signatures.of_record(db, rec, events)
    return render_template("record_detail.html", rec=rec, tpl=tpl, sections=sections, events=events, revisions=revs,
                           check=check, people=people, newer=current if current and current.id != tpl.id else None,
                           steps=steps, links=records.linked(db, rec, tpl), answer_with=_answer_with(rec),
                           deletion_requested=any(e.action == Action.DELETE_REQUEST for e in events),
                           signatures=history.signatures, signed_edits=history.edits,
                           in_force=history.in_force, locked=records.is_locked(body, rec.state)), status


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
    """One workflow step. The form carries the state and revision it was shown at: of concurrent clicks exactly
    one wins; the others get 409 with the record as it is now."""
    rec, tpl = _record(record_id)
    try:
        with transaction() as db:
            service.transition(db, rec, request.form.get("name", ""), current_user, g.roles,
                               comment=request.form.get("comment", ""), password=request.form.get("password"),
                               base_revision=_int_arg(request.form.get("revision")),
                               expected_state=request.form.get("from") or None)
    except records.StaleRecord as e:
        get_session().refresh(rec)
        flash(e.message, "error")
        return _detail_page(rec, tpl, status=e.status)
    except UserError as e:
        flash(e.message, "error")
    else:
        flash(_("State changed to “%(state)s”.", state=tr(tpl.body["workflow"]["states"][rec.state]["label"])), "success")
    return redirect(url_for("records.detail", org=g.org.slug, record_id=rec.id), code=303)


@bp.route("/r/<int:record_id>/request-deletion", methods=["POST"])
@allow("org:write")
def request_deletion(org, record_id):
    """Records are never deleted: a deletion request is an event a manager and the auditor can see."""
    rec, _tpl = _record(record_id)
    try:
        with transaction() as db:
            service.request_deletion(db, rec, request.form.get("reason", ""), current_user)
    except UserError as e:
        flash(e.message, "error")
    else:
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
    rec, tpl = _record(record_id)
    revs = {r.number: r for r in records.revisions(get_session(), rec)}
    if number not in revs:
        abort(404)
    before = revs[number - 1].data if number - 1 in revs else {}
    changes = records.diff(before, revs[number].data)
    body = tpl.body
    sections = forms.build_form(body["schema"], body.get("ui"), forms.flatten(body["schema"], revs[number].data, _tz()),
                                {}, lang(), link_choices(tpl))
    return render_template("revision.html", rec=rec, tpl=tpl, rev=revs[number], changes=changes, sections=sections,
                           labels=records.labels(body["schema"], lang()))


@bp.route("/r/<int:record_id>/edit", methods=["GET", "POST"])
@allow("org:write")
def edit(org, record_id):
    rec, tpl = _record(record_id)
    if request.method == "POST":
        return _handle_post(tpl, rec)
    records.check_editable(tpl, rec)
    return _form_page(tpl, forms.flatten(tpl.body["schema"], rec.data, _tz()), {}, rec=rec)
