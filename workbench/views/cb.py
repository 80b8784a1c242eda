"""Certification-body pages and the client's side of them.

CB side (`/o/<cb>/portfolio/…`): the organization in the URL is the certification body; `@allow` proves
membership there, `grants.client_for` proves the client currently grants access (otherwise 404, like another
tenant's data). Client side (`/o/<org>/certification`): certificates, programme, registry facts, grants.
Engagement side (`/o/<org>/audit/e/<eid>/programme`): the engagement's programme slot and audit time.
"""
from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from workbench import records
from workbench.audit import service as audit_service
from workbench.audit.models import Engagement, Finding
from workbench.cb import audit_time, certificates, grants, portfolio, programme, registry
from workbench.cb.models import CERT_STATUSES, Certificate
from workbench.db import get_session
from workbench.errors import UserError
from workbench.i18n import tr
from workbench.models import ProcessTemplate, Record, User
from workbench.tenancy import allow

bp = Blueprint("cb", __name__)


def _today() -> date:
    return date.today()


def _client(client: str):
    try:
        return grants.client_for(get_session(), g.org, client, current_user)
    except UserError:
        abort(404)


def _date(name: str) -> date | None:
    try:
        return date.fromisoformat((request.form.get(name) or "").strip())
    except ValueError:
        return None


# --- certification body: portfolio ------------------------------------------------------------------------


@bp.route("/o/<org>/portfolio/")
@allow("org:read")
def portfolio_page(org):
    db = get_session()
    try:
        rows = portfolio.portfolio(db, g.org, current_user, _today(), request.args.get("risk"),
                                   request.args.get("sort", "risk"))
    except UserError:
        abort(404)
    return render_template("cb/portfolio.html", rows=rows, risk=request.args.get("risk", ""),
                           sort=request.args.get("sort", "risk"), cfg=portfolio.settings(),
                           slot_label=programme.slot_label, status_label=certificates.status_label)


@bp.route("/o/<org>/portfolio/<client>/")
@allow("org:read")
def client_page(org, client, form=None, error=None, status=200):
    c = _client(client)
    db = get_session()
    v = portfolio.client_view(db, c, _today())
    from workbench import library
    from workbench.audit import readiness as readiness_mod
    from workbench.audit.report import readiness_status_label

    titles = {t.key: tr(t.body.get("title"), t.key) for t in library.processes(db, c)}
    return render_template("cb/client.html", c=c, v=v, slot_label=programme.slot_label, titles=titles,
                           check_title=readiness_mod.check_title, readiness_label=readiness_status_label,
                           status_label=certificates.status_label, statuses=CERT_STATUSES,
                           standards=certificates.STANDARDS, registry=registry, form=form or {}, error=error,
                           credit_ok=registry.is_valid(c.credit_code or ""), today=_today()), status


@bp.route("/o/<org>/portfolio/<client>/anomaly")
@allow("org:read")
def anomaly_page(org, client):
    c = _client(client)
    db = get_session()
    v = portfolio.client_view(db, c, _today(), with_readiness=False)
    a = portfolio.find_anomaly(v, request.args.get("key", ""))
    if a is None:
        abort(404)
    recs = db.exec(select(Record).where(Record.org_id == c.id, Record.id.in_(a.record_ids or [0])).order_by(Record.id)).all()
    users = dict(db.exec(select(User.id, User.name).where(User.id.in_({r.created_by for r in recs if r.created_by} or {0}))).all())
    return render_template("cb/anomaly.html", c=c, a=a, recs=recs, users=users)


@bp.route("/o/<org>/portfolio/<client>/r/<int:record_id>")
@allow("org:read")
def record_page(org, client, record_id):
    c = _client(client)
    db = get_session()
    r = records.get(db, c.id, record_id)  # the shared loader: another organization's record is 404
    tpl = db.get(ProcessTemplate, r.template_id)
    props = (tpl.body.get("schema") or {}).get("properties") or {}
    rows = [(tr(props.get(k, {}).get("label"), k), v if isinstance(v, (str, int, float)) else json.dumps(v, ensure_ascii=False))
            for k, v in (r.data or {}).items()]
    creator = db.get(User, r.created_by) if r.created_by else None
    return render_template("cb/record.html", c=c, r=r, tpl=tpl, rows=rows, creator=creator)


@bp.route("/o/<org>/portfolio/<client>/e/<int:eid>")
@allow("org:read")
def engagement_page(org, client, eid):
    c = _client(client)
    db = get_session()
    e = db.get(Engagement, eid)
    if e is None or e.org_id != c.id:
        abort(404)
    findings = db.exec(select(Finding).where(Finding.engagement_id == e.id).order_by(Finding.number)).all()
    cert = db.get(Certificate, e.certificate_id) if e.certificate_id else None
    return render_template("cb/engagement.html", c=c, e=e, findings=findings, cert=cert, slot_label=programme.slot_label,
                           status=audit_service.status(e))


@bp.route("/o/<org>/portfolio/<client>/certificates", methods=["POST"])
@allow("org:manage")
def issue_certificate(org, client):
    c = _client(client)
    db = get_session()
    issued = _date("issue_date")
    try:
        if issued is None:
            raise UserError(_("Dates must be written as YYYY-MM-DD."), field="issue_date")
        headcount = request.form.get("headcount", "").strip()
        certificates.issue(db, c, current_user, standard=request.form.get("standard", ""), number=request.form.get("number", ""),
                           scope=request.form.get("scope", "")[:4000], issue_date=issued,
                           decision_date=_date("decision_date"), cb_org=g.org,
                           sites=[s.strip() for s in request.form.get("sites", "").splitlines() if s.strip()][:50],
                           headcount=int(headcount) if headcount.isascii() and headcount.isdigit() and len(headcount) <= 7 else None,
                           scope_processes=request.form.getlist("scope_processes")[:100])
    except UserError as err:  # 409 for a number issued meanwhile, 422 otherwise; the form keeps what was typed
        db.rollback()
        return client_page(org=org, client=client, form=request.form, error=err.message, status=err.status)
    db.commit()
    flash(_("Certificate issued."), "success")
    return redirect(url_for("cb.client_page", org=g.org.slug, client=c.slug), code=303)


@bp.route("/o/<org>/portfolio/<client>/certificates/<int:cid>/status", methods=["POST"])
@allow("org:manage")
def certificate_status(org, client, cid):
    c = _client(client)
    db = get_session()
    cert = db.get(Certificate, cid)
    if cert is None or cert.org_id != c.id or cert.cb_org_id != g.org.id:
        abort(404)
    try:
        certificates.set_status(db, cert, request.form.get("status", ""), current_user, request.form.get("reason", "")[:1000])
    except UserError as err:
        db.rollback()
        flash(err.message, "error")
    else:
        db.commit()
        flash(_("Certificate status changed."), "success")
    return redirect(url_for("cb.client_page", org=g.org.slug, client=c.slug), code=303)


# --- client: certification, grants, registry facts ----------------------------------------------------------


@bp.route("/o/<org>/certification")
@allow("org:read")
def certification(org, form=None, error=None, status=200):
    db = get_session()
    certs = certificates.for_org(db, g.org.id)
    slots = {c.id: certificates.slots_of(db, c, _today()) for c in certs}
    return render_template("cb/certification.html", certs=certs, slots=slots, today=_today(),
                           grants=grants.grants_of(db, g.org), bodies=grants.certification_bodies(db),
                           names={o.id: o.name for o in grants.certification_bodies(db)},
                           slot_label=programme.slot_label, status_label=certificates.status_label,
                           effective=certificates.effective_status, registry=registry, form=form or {}, error=error,
                           credit_ok=registry.is_valid(g.org.credit_code or "")), status


@bp.route("/o/<org>/certification/grant", methods=["POST"])
@allow("org:manage")
def grant(org):
    db = get_session()
    try:
        grants.grant(db, g.org, request.form.get("cb", ""), current_user)
    except UserError as err:
        db.rollback()
        flash(err.message, "error")
    else:
        db.commit()
        flash(_("Access granted."), "success")
    return redirect(url_for("cb.certification", org=g.org.slug), code=303)


@bp.route("/o/<org>/certification/grants/<int:gid>/revoke", methods=["POST"])
@allow("org:manage")
def revoke(org, gid):
    db = get_session()
    try:
        grants.revoke(db, g.org, gid, current_user)
    except UserError:
        abort(404)
    db.commit()
    flash(_("Access revoked."), "success")
    return redirect(url_for("cb.certification", org=g.org.slug), code=303)


@bp.route("/o/<org>/certification/registry", methods=["POST"])
@allow("org:manage")
def registry_facts(org):
    db = get_session()
    try:
        code = request.form.get("credit_code", "").strip()
        g.org.credit_code = registry.validate(code) if code else None
        g.org.discharge_permit_no = request.form.get("discharge_permit_no", "").strip()[:64] or None
        raw = request.form.get("discharge_permit_expiry", "").strip()
        if raw and _date("discharge_permit_expiry") is None:
            raise UserError(_("Dates must be written as YYYY-MM-DD."), field="discharge_permit_expiry")
        g.org.discharge_permit_expiry = _date("discharge_permit_expiry") if raw else None
    except UserError as err:  # 422 with what was typed kept
        db.rollback()
        return certification(org=org, form=request.form, error=err.message, status=err.status)
    db.add(g.org)
    db.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("cb.certification", org=g.org.slug), code=303)


# --- engagement: programme slot and audit time ---------------------------------------------------------------


def _calc_inputs(form) -> dict:
    standards = [{"standard": s, "complexity": form.get(f"complexity_{i}", "medium")}
                 for i, s in enumerate(certificates.STANDARDS) if form.get(f"std_{i}")]
    adjustments = []
    for i in range(4):
        pct, why = form.get(f"adj_pct_{i}", "").strip(), form.get(f"adj_reason_{i}", "").strip()
        if pct:
            adjustments.append({"percent": pct, "reason": why[:300], "standard": form.get(f"adj_std_{i}") or None})
    return dict(full_time=form.get("full_time", "0") or "0", part_time_hours=form.get("part_time_hours", "0") or "0",
                shifts=form.get("shifts", "1") or "1", standards=standards, sites=form.get("sites", "1") or "1",
                site_percent=form.get("site_percent", "0") or "0", adjustments=adjustments,
                integration_percent=form.get("integration_percent", "0") or "0",
                integration_reason=form.get("integration_reason", "")[:500])


@bp.route("/o/<org>/audit/e/<int:eid>/programme", methods=["GET", "POST"])
@allow("org:audit")
def engagement_programme(org, eid):
    db = get_session()
    e = db.get(Engagement, eid)
    if e is None or e.org_id != g.org.id:
        abort(404)
    if not g.roles & {"manager", "admin"} and not audit_service.on_team(db, e, current_user.id):
        abort(404)
    certs = certificates.for_org(db, g.org.id)
    error, calc, status = None, e.audit_time or None, 200
    if request.method == "POST":
        try:
            slot = request.form.get("slot") or None
            if slot is not None and slot not in programme.SLOTS:
                raise UserError(_("Unknown programme slot."), field="slot")
            cid = request.form.get("certificate_id", "")
            cert = next((c for c in certs if str(c.id) == cid), None)
            if cid and cert is None:
                raise UserError(_("Unknown certificate."), field="certificate_id")
            inputs = _calc_inputs(request.form)
            result = audit_time.calculate(**inputs) if inputs["standards"] else None
        except UserError as err:
            db.rollback()
            error, status = err.message, 422
        else:
            e.programme_slot, e.certificate_id = slot, cert.id if cert else None
            if slot:
                e.audit_type = programme.audit_type(slot, e.audit_type)  # the sampling factor follows
            if result is not None:
                e.audit_time = result.as_dict()
            db.add(e)
            from workbench import trail

            trail.append(db, g.org.id, "audit_programme", actor=current_user,
                         detail={"engagement": e.id, "slot": slot, "certificate": e.certificate_id,
                                 "audit_time": (result.as_dict()["initial"] if result else None)})
            db.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("cb.engagement_programme", org=g.org.slug, eid=e.id), code=303)
    return render_template("cb/engagement_programme.html", e=e, certs=certs, slots=programme.SLOTS,
                           slot_label=programme.slot_label, calc=calc, error=error, form=request.form,
                           standards=certificates.STANDARDS, tables=audit_time.tables()["standards"],
                           can_edit=bool(g.roles & {"manager", "admin"}) or audit_service.on_team(db, e, current_user.id)), status


@bp.app_context_processor
def _globals():
    def cb_programme():
        """Open programme slots of the current organization's certificates (dashboard)."""
        org = getattr(g, "org", None)
        if org is None:
            return []
        return [t for t in certificates.programme_items(get_session(), org.id, _today()) if t[2] in ("overdue", "due_soon")]

    from workbench.audit.sampling import sample_size_note

    return {"cb_programme": cb_programme, "audit_days_for": audit_time.for_slot, "slot_label": programme.slot_label,
            "sample_size_note": sample_size_note}
