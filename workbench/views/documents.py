"""Controlled documents: the register, procedures and the manual (page, A4 print view, .docx), approval with
an e-signature, periodic review, the 两张皮 detector and "as of" views. Services: workbench.documents."""
from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
import io
import math

from workbench import library
from workbench.db import get_session
from workbench.documents import asof as asof_mod
from workbench.documents import content, control, departures, export, manual
from workbench.documents.models import MANUAL, ControlledDocument
from workbench.documents.rules import TYPE_WORDS
from workbench.documents.words import status_name
from workbench.errors import NotFound, UserError
from workbench.i18n import lang, tr
from workbench.models import ProcessTemplate, Record, User
from workbench.tenancy import allow

bp = Blueprint("documents", __name__, url_prefix="/o/<org>/docs")


def _doc(doc_id: int) -> ControlledDocument:
    try:
        return control.get(get_session(), g.org, doc_id)
    except NotFound:
        abort(404)


def _doc_lang() -> str:
    asked = request.args.get("in")
    return asked if asked in ("zh", "en") else lang()


def _date_arg(name: str, default: date) -> date:
    try:
        return date.fromisoformat((request.args.get(name) or "")[:10]) if request.args.get(name) else default
    except ValueError:
        return default


def _view_model(d: ControlledDocument, in_lang: str):
    """(procedure or None, manual or None) for a document version."""
    db = get_session()
    if d.kind == MANUAL:
        return None, manual.build(d.content or {}, in_lang)
    tpl = db.get(ProcessTemplate, d.template_id) if d.template_id else None
    if tpl is None:
        abort(404)
    return content.build(db, g.org, tpl, in_lang, d), None


@bp.route("/")
@allow("org:read")
def register(org):
    db = get_session()
    docs = control.register(db, g.org)
    generated = {d.key for d in docs}
    missing = [t for t in library.processes(db, g.org) if t.key not in generated]
    return render_template("documents/register.html", docs=docs,
                           reviews=control.due_reviews(db, g.org), missing=missing, status_name=status_name,
                           people=_names({d.approved_by for d in docs} | {d.created_by for d in docs}))


@bp.route("/generate", methods=["POST"])
@allow("org:manage")
def generate(org):
    key = request.form.get("key") or ""
    if key == "manual":
        docs = _on_register(lambda db: [control.generate_manual(db, g.org, current_user)])
    elif key:
        docs = _on_register(lambda db: [control.generate_procedure(db, g.org, key, current_user)])
    else:
        docs = _on_register(lambda db: control.generate_all(db, g.org, current_user))
    if docs is None:
        return redirect(url_for("documents.register", org=g.org.slug), code=303)
    flash(_("Generated %(n)s document(s) as drafts; a manager approves each before it is in force.", n=len(docs)), "success")
    if len(docs) == 1:
        return redirect(url_for("documents.document", org=g.org.slug, doc_id=docs[0].id), code=303)
    return redirect(url_for("documents.register", org=g.org.slug), code=303)


def _on_register(service):
    """Run `service(db)` in the request's transaction: its result after commit, or None after a UserError
    (rolled back, its message flashed for the register page)."""
    db = get_session()
    try:
        result = service(db)
    except UserError as e:
        db.rollback()
        flash(e.message, "error")
        return None
    db.commit()
    return result


@bp.route("/approve-drafts", methods=["POST"])
@allow("org:manage")
def approve_drafts(org):
    """One e-signature for every draft listed on the register page (ids posted), all or nothing."""
    ids = [int(i) for i in request.form.getlist("doc") if i.isascii() and i.isdigit() and len(i) < 12]
    done = _on_register(lambda db: control.approve_drafts(db, g.org, current_user, g.roles,
                                                          request.form.get("password"), ids))
    if done is not None:
        flash(_("Approved %(n)s document(s); they are in force.", n=len(done)), "success")
    return redirect(url_for("documents.register", org=g.org.slug), code=303)


def _page(d: ControlledDocument, error: str | None = None, status: int = 200, print_view: bool = False):
    db = get_session()
    in_lang = _doc_lang()
    proc, man = _view_model(d, in_lang)
    versions = control.versions_of(db, g.org, d.number)
    approver = db.get(User, d.approved_by).name if d.approved_by and db.get(User, d.approved_by) else ""
    return render_template("documents/print.html" if print_view else "documents/document.html", d=d, p=proc, m=man,
                           versions=versions, in_lang=in_lang, error=error, approver=approver,
                           status_name=status_name, approval_svg=_approval_svg(in_lang),
                           type_words=TYPE_WORDS[in_lang]), status


def _approval_svg(in_lang: str) -> str:
    from workbench.diagram import workflow_svg

    return workflow_svg({"workflow": control.APPROVAL}, in_lang)


@bp.route("/d/<int:doc_id>")
@allow("org:read")
def document(org, doc_id):
    return _page(_doc(doc_id))


@bp.route("/d/<int:doc_id>/print")
@allow("org:read")
def print_view(org, doc_id):
    return _page(_doc(doc_id), print_view=True)


@bp.route("/d/<int:doc_id>/docx")
@allow("org:read")
def download(org, doc_id):
    d = _doc(doc_id)
    data, name = export.document_bytes(get_session(), d, _doc_lang())
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.wordprocessingml.document")


@bp.route("/d/<int:doc_id>/approve", methods=["POST"])
@allow("org:manage")
def approve(org, doc_id):
    db = get_session()
    d = _doc(doc_id)
    try:
        control.approve(db, g.org, d, current_user, g.roles, request.form.get("password"),
                        expected_version=request.form.get("version", type=int))
    except UserError as e:
        db.rollback()
        return _page(_doc(doc_id), error=e.message, status=e.status)
    db.commit()
    flash(_("Approved: %(number)s version %(v)s is in force.", number=d.number, v=d.version), "success")
    return redirect(url_for("documents.document", org=g.org.slug, doc_id=d.id), code=303)


@bp.route("/d/<int:doc_id>/review", methods=["POST"])
@allow("org:manage")
def review(org, doc_id):
    db = get_session()
    d = _doc(doc_id)
    try:
        control.review(db, g.org, d, current_user, (request.form.get("comment") or "")[:2000])
    except UserError as e:
        db.rollback()
        return _page(_doc(doc_id), error=e.message, status=e.status)
    db.commit()
    flash(_("Review recorded; the next review is due on %(d)s.", d=d.next_review), "success")
    return redirect(url_for("documents.document", org=g.org.slug, doc_id=d.id), code=303)


@bp.route("/departures")
@allow("org:audit")
def departures_page(org):
    db = get_session()
    end = _date_arg("end", date.today())
    start = _date_arg("start", end - timedelta(days=365))
    if start > end:
        start, end = end, start
    report = departures.detect(db, g.org, start, end, lang())
    titles = {r.id: r.title for r in _records({i for c in report.checks for d in c.departures for i in d.record_ids})}
    return render_template("documents/departures.html", report=report, titles=titles,
                           eid=request.args.get("eid", type=int), names=threshold_labels())


def threshold_labels() -> dict[str, str]:
    return {"frequency_grace_days": _("Grace after a written frequency (days)"),
            "stuck_days": _("Stuck in a non-final state after (days)"),
            "backfill_days": _("Backfilled when entered more than (days) after the activity"),
            "burst_window_days": _("Burst window before the audit (days)"),
            "burst_factor": _("Burst: times the usual rate"), "burst_min": _("Burst: at least this many records")}


def _names(ids: set) -> dict[int, str]:
    from sqlmodel import select

    ids = {i for i in ids if i}
    return {u.id: u.name for u in get_session().exec(select(User).where(User.id.in_(ids or {0}))).all()}


def _records(ids: set[int]) -> list[Record]:
    from sqlmodel import select

    if not ids:
        return []
    return list(get_session().exec(select(Record).where(Record.org_id == g.org.id, Record.id.in_(ids))).all())


@bp.route("/settings", methods=["GET", "POST"])
@allow("org:manage")
def settings(org):
    from workbench.clauses import STANDARDS

    db = get_session()
    row = control.settings(db, g.org)
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        limits = {}
        for k, default in departures.DEFAULTS.items():
            raw = (request.form.get(k) or "").strip()
            try:
                v = float(raw) if isinstance(default, float) else int(raw)
                if not math.isfinite(v) or v < 0 or v > 10000:
                    raise ValueError
                limits[k] = v
            except ValueError:
                errors[k] = _("Enter a number from 0 to 10000.")
        months = request.form.get("review_months", type=int)
        if not errors:
            try:
                control.save_settings(db, g.org, current_user, review_months=months or 0,
                                      standards=request.form.getlist("standards"), thresholds=limits)
                db.commit()
                flash(_("Settings saved."), "success")
                return redirect(url_for("documents.settings", org=g.org.slug), code=303)
            except UserError as e:
                db.rollback()
                errors[e.field or "form"] = e.message
        status = 422
    limits = departures.thresholds(db, g.org)
    if request.method == "POST":
        limits = {k: request.form.get(k, "") for k in departures.DEFAULTS}
    return render_template("documents/settings.html", row=row, limits=limits, errors=errors, standards=STANDARDS,
                           form=request.form if request.method == "POST" else None, names=threshold_labels()), status


@bp.route("/asof")
@allow("org:read")
def asof(org):
    db = get_session()
    at = _date_arg("date", date.today())
    rid = request.args.get("record", type=int)
    key = (request.args.get("key") or "")[:64]
    result = {}
    if rid:
        rec = db.get(Record, rid)
        if rec is None or rec.org_id != g.org.id:
            abort(404)
        key = key or rec.template_key
        result["record"] = asof_mod.record_as_of(db, rec, at)
        tpl = db.get(ProcessTemplate, rec.template_id)
        result["labels"] = {k: tr(f.get("label"), k) for k, f in (tpl.body["schema"].get("properties") or {}).items()}
        result["states"] = {k: tr(st.get("label"), k) for k, st in tpl.body["workflow"]["states"].items()}
    if key:
        result["procedure"] = asof_mod.procedure_as_of(db, g.org, key, at)
        result["template"] = asof_mod.template_as_of(db, g.org, key, at)
    return render_template("documents/asof.html", at=at, rid=rid, key=key, result=result,
                           processes=library.processes(db, g.org), status_name=status_name)
