"""The auditor view ("written vs done"): engagements, samples, evidence, findings, coverage, readiness, report.

Who may do what (server-side, on top of @allow):
- managers (org:manage) create engagements, grant and revoke auditors' access, answer nonconformities;
- auditors on the engagement's team (and instance admins) draw samples, mark records conforming, raise
  findings and verify their closure — an auditor never creates, edits or transitions a record;
- an auditor sees only the engagements they are on (404 for the others), each only while its own access window
  is open, and writes checks and findings only on an open engagement.
"""
from __future__ import annotations

import io
import sys
from datetime import date, timedelta
from pathlib import Path

import click


from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

import forms
from workbench import clauses, invitations, library, records, signatures, trail
from workbench.audit import coverage as coverage_mod
from workbench.audit import readiness as readiness_mod
from workbench.audit import report as report_mod
from workbench.audit import bundle as bundle_mod
from workbench.audit import frames, issuance, sampling, seals, service
from workbench.audit.models import AUDIT_TYPES, GRADES, NC_GRADES, Check, Engagement, Finding, Sample
from workbench.audit.report_models import RECOMMENDATIONS
from workbench.db import get_session
from workbench.errors import UserError
from workbench.ids import parse_id
from workbench.notify import events as notify_events
from workbench.i18n import lang, tr
from workbench.models import Attachment, Event, Organization, ProcessTemplate, Record, User, utcnow
from workbench.tenancy import allow, can

bp = Blueprint("audit", __name__, url_prefix="/o/<org>/audit")


# --- helpers ----------------------------------------------------------------------------------------


def _engagement(eid: int) -> Engagement:
    """The engagement, if this user may see it: managers and admins all of the organization's, auditors
    only those they are on (anything else: 404, like another tenant's data)."""
    db = get_session()
    e = db.get(Engagement, eid)
    if e is None or e.org_id != g.org.id:
        abort(404)
    if not g.roles & {"manager", "admin"} and not (service.on_team(db, e, current_user.id) and service.is_open(e)):
        abort(404)  # auditors: only engagements they are on, only while the access window is open
    return e


def _is_auditor(e: Engagement) -> bool:
    return "admin" in g.roles or ("auditor" in g.roles and service.is_open(e)
                                  and service.on_team(get_session(), e, current_user.id))


def _require_auditor(e: Engagement) -> None:
    """Audit artefacts (samples, verdicts, findings, closure) are the audit team's, not the organization's."""
    if not _is_auditor(e):
        abort(403)


def _date(name: str, default: date | None = None, source=None) -> date | None:
    raw = (source if source is not None else request.form).get(name, "").strip()
    if not raw:
        return default
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


def _titles() -> dict[str, str]:
    return {t.key: tr(t.body.get("title"), t.key) for t in library.processes(get_session(), g.org)}


def _record(rid: int) -> Record:
    return records.get(get_session(), g.org.id, rid)


def _back_to_engagement(e: Engagement):
    return redirect(url_for("audit.engagement", org=g.org.slug, eid=e.id), code=303)


@bp.app_context_processor
def _helpers():
    def audit_links(rec: Record) -> dict:
        """For the record detail page: engagements the user audits (to open the record as evidence) and
        findings that cite or are answered by this record."""
        if not can("org:audit"):
            return {"engagements": [], "findings": []}
        db = get_session()
        visible = service.engagements_for(db, g.org, current_user, g.roles)
        ids = {e.id for e in visible}
        return {"engagements": [e for e in visible if service.status(e) == "active" and _is_auditor(e)],
                "findings": [f for f in service.findings_for_record(db, g.org.id, rec.id) if f.engagement_id in ids]}

    return {"audit_links": audit_links, "grade_label": report_mod.grade_label,
            "recommendation_label": issuance.recommendation_label, "report_status_label": report_mod.report_status_label,
            "cause_label": report_mod.cause_label, "departure_kind_label": report_mod.departure_kind_label,
            "severity_label": report_mod.severity_label,
            "finding_status_label": report_mod.finding_status_label, "audit_type_label": report_mod.audit_type_label,
            "audit_status": service.status, "clause_title": lambda s, c: clauses.title(s, c, lang()),
            "seal_kind_label": seals.kind_label}


# --- engagements -------------------------------------------------------------------------------------


@bp.route("/")
@allow("org:audit")
def index(org):
    db = get_session()
    rows = service.engagements_for(db, g.org, current_user, g.roles)
    ids = [e.id for e in rows]
    findings = db.exec(select(Finding).where(Finding.engagement_id.in_(ids))).all() if ids else []
    stats = {e.id: {"open": sum(1 for f in findings if f.engagement_id == e.id and f.status in ("open", "answered")),
                    "findings": sum(1 for f in findings if f.engagement_id == e.id)} for e in rows}
    team = {e.id: [db.get(User, m.user_id) for m in service.team(db, e)] for e in rows}
    return render_template("audit/index.html", engagements=rows, stats=stats, team=team)


def _engagement_form_values(e: Engagement | None) -> dict:
    today = date.today()
    if e is None:
        return {"title": "", "audit_body": "", "standards": list(clauses.STANDARDS), "audit_type": "surveillance",
                "period_start": (today - timedelta(days=365)).isoformat(), "period_end": today.isoformat(),
                "scope_processes": [], "scope_clauses": "", "access_from": today.isoformat(),
                "access_until": (today + timedelta(days=30)).isoformat()}
    return {"title": e.title, "audit_body": e.audit_body, "standards": list(e.standards), "audit_type": e.audit_type,
            "period_start": e.period_start.isoformat(), "period_end": e.period_end.isoformat(),
            "scope_processes": list(e.scope_processes),
            "scope_clauses": ", ".join(f"{clauses.SHORT[c['standard']]} {c['clause']}" for c in e.scope_clauses),
            "access_from": service.local_day(g.org, e.access_from).isoformat(),
            "access_until": service.local_day(g.org, e.access_until, end=True).isoformat()}


def _engagement_fields() -> tuple[dict, dict, list[str]]:
    """Posted engagement form -> (values to re-show, model fields, errors)."""
    f = request.form
    values = {"title": f.get("title", "").strip(), "audit_body": f.get("audit_body", "").strip(),
              "standards": f.getlist("standards"), "audit_type": f.get("audit_type", ""),
              "period_start": f.get("period_start", ""), "period_end": f.get("period_end", ""),
              "scope_processes": f.getlist("scope_processes"), "scope_clauses": f.get("scope_clauses", ""),
              "access_from": f.get("access_from", ""), "access_until": f.get("access_until", "")}
    errors: list[str] = []
    standards = [s for s in clauses.STANDARDS if s in values["standards"]]
    adopted = {t.key for t in library.processes(get_session(), g.org)}
    dates = {k: _date(k) for k in ("period_start", "period_end", "access_from", "access_until")}
    if any(v is None for v in dates.values()):
        errors.append(_("Dates must be written as YYYY-MM-DD."))
    scope, bad = service.parse_clauses(values["scope_clauses"], standards)
    if bad:
        errors.append(_("Unknown clauses: %(c)s", c="、".join(bad)))
    fields = {}
    if not errors:
        access_from, access_until = service.window(g.org, dates["access_from"], dates["access_until"])
        fields = {"title": values["title"][:200], "audit_body": values["audit_body"][:200], "standards": standards,
                  "audit_type": values["audit_type"], "period_start": dates["period_start"], "period_end": dates["period_end"],
                  "scope_processes": [k for k in values["scope_processes"] if k in adopted], "scope_clauses": scope,
                  "access_from": access_from, "access_until": access_until}
    return values, fields, errors


def _engagement_form(e: Engagement | None, values: dict, errors: list[str], status: int = 200):
    return render_template("audit/engagement_form.html", e=e, values=values, errors=errors, standards=clauses.STANDARDS,
                           audit_types=AUDIT_TYPES, processes=library.processes(get_session(), g.org)), status


@bp.route("/new", methods=["GET", "POST"])
@allow("org:manage")
def new_engagement(org):
    if request.method == "GET":
        return _engagement_form(None, _engagement_form_values(None), [])
    values, fields, errors = _engagement_fields()
    db = get_session()
    if not errors:
        try:
            e = service.create_engagement(db, g.org, current_user, **fields)
        except service.AuditError as err:
            db.rollback()
            errors.append(str(err))
        else:
            db.commit()
            flash(_("Engagement created. Add the auditors to grant them access."), "success")
            return _back_to_engagement(e)
    return _engagement_form(None, values, errors, 422)


@bp.route("/e/<int:eid>/edit", methods=["GET", "POST"])
@allow("org:manage")
def edit_engagement(org, eid):
    e = _engagement(eid)
    if request.method == "GET":
        return _engagement_form(e, _engagement_form_values(e), [])
    values, fields, errors = _engagement_fields()
    db = get_session()
    if not errors:
        try:
            service.update_engagement(db, e, current_user, **fields)
        except service.AuditError as err:
            db.rollback()
            errors.append(str(err))
        else:
            db.commit()
            flash(_("Engagement saved."), "success")
            return _back_to_engagement(e)
    return _engagement_form(e, values, errors, 422)


@bp.route("/e/<int:eid>/")
@allow("org:audit")
def engagement(org, eid):
    e = _engagement(eid)
    db = get_session()
    members = service.team(db, e, include_revoked=True)
    people = {u.id: u for u in db.exec(select(User).where(User.id.in_({m.user_id for m in members} | {0}))).all()}
    samples = db.exec(select(Sample).where(Sample.engagement_id == e.id).order_by(Sample.number)).all()
    findings = db.exec(select(Finding).where(Finding.engagement_id == e.id).order_by(Finding.number)).all()
    checked = db.exec(select(Check).where(Check.engagement_id == e.id)).all()
    return render_template("audit/engagement.html", e=e, members=members, people=people, samples=samples,
                           findings=findings, checked=len(checked), titles=_titles(), is_auditor=_is_auditor(e),
                           invited=[i for i in invitations.pending_in(db, g.org) if i.engagement_id == e.id],
                           status=service.status(e), describe_rule=sampling.describe_rule)


@bp.route("/e/<int:eid>/team", methods=["POST"])
@allow("org:manage")
def add_auditor(org, eid):
    e = _engagement(eid)
    db = get_session()
    try:  # an invitation: the answer never tells whether the address has an account, nor whose it is
        inv = invitations.invite(db, g.org, request.form.get("email", ""), "auditor", current_user, engagement_id=e.id)
    except UserError as err:
        db.rollback()
        flash(err.message, "error")
    else:
        db.commit()
        flash(_("Invitation for %(email)s recorded: once accepted, the auditor can read the records until %(until)s.",
                email=inv.email, until=service.local_day(g.org, e.access_until, end=True)), "success")
    return _back_to_engagement(e)


@bp.route("/e/<int:eid>/team/<int:user_id>/revoke", methods=["POST"])
@allow("org:manage")
def revoke_auditor(org, eid, user_id):
    e = _engagement(eid)
    db = get_session()
    try:
        service.revoke_auditor(db, e, user_id, current_user)
    except service.AuditError as err:
        db.rollback()
        flash(str(err), "error")
    else:
        db.commit()
        flash(_("Access revoked."), "info")
    return _back_to_engagement(e)


# --- samples -----------------------------------------------------------------------------------------------


def _sample_form_values(e: Engagement, source) -> dict:
    return {"process": source.get("process", ""), "standard": source.get("standard", ""),
            "clause": source.get("clause", "").strip(), "state": source.get("state", "").strip(),
            "start": source.get("start", e.period_start.isoformat()), "end": source.get("end", e.period_end.isoformat()),
            "kind": source.get("kind", "sqrt"), "audit_type": source.get("audit_type", e.audit_type),
            "n": source.get("n", "5"), "percent": source.get("percent", "10"), "stratify": source.get("stratify", ""),
            "seed": source.get("seed", "").strip(), "edited_after_signature": source.get("edited_after_signature") == "1",
            "picked": source.get("picked", "")[:5000], "rationale": source.get("rationale", "")[:2000]}


def _sample_inputs(e: Engagement, v: dict) -> tuple[dict, dict, list[str]]:
    """Form values -> (population definition, rule, errors)."""
    errors: list[str] = []
    start, end = _date("start", source=v), _date("end", source=v)
    if start is None or end is None:
        errors.append(_("Dates must be written as YYYY-MM-DD."))
    elif end < start:
        errors.append(_("The period ends before it starts."))
    definition = {"start": start.isoformat() if start else None, "end": end.isoformat() if end else None,
                  "process": v["process"] or None, "standard": None, "clause": None, "state": v["state"] or None}
    if v["edited_after_signature"]:
        definition["edited_after_signature"] = True
    if v["process"] and library.adopted(get_session(), g.org, v["process"]) is None:
        errors.append(_("Unknown process."))
    if v["clause"]:
        standard = v["standard"] or None
        if standard is not None and standard not in e.standards:
            errors.append(_("Choose one of the engagement's standards."))
        elif not any(clauses.exists(s, v["clause"]) for s in ([standard] if standard else e.standards)):
            errors.append(_("Clause %(clause)s does not exist in %(standard)s.", clause=v["clause"], standard=standard or "、".join(e.standards)))
        definition.update(standard=standard, clause=v["clause"])
    rule = {}
    try:
        rule = sampling.make_rule(v["kind"], audit_type=v["audit_type"], n=v["n"], percent=v["percent"],
                                  stratify=v["stratify"] or None, picked=v["picked"], rationale=v["rationale"])
    except ValueError as err:
        errors.append(str(err))
    if v["seed"] and (not (v["seed"].isascii() and v["seed"].isdigit()) or not 0 < int(v["seed"]) < sampling.SEED_LIMIT):
        errors.append(_("The seed must be a whole number between 1 and 999999999999."))
    return definition, rule, errors


@bp.route("/e/<int:eid>/samples/new", methods=["GET", "POST"])
@allow("org:audit")
def new_sample(org, eid):
    e = _engagement(eid)
    _require_auditor(e)
    db = get_session()
    values = _sample_form_values(e, request.form if request.method == "POST" else request.args)
    preview, errors, status = None, [], 200
    if request.method == "POST":
        definition, rule, errors = _sample_inputs(e, values)
        if not errors and request.form.get("_action") == "preview":
            counted = frames.sizes(db, g.org.id, definition, rule.get("stratify"))  # one aggregate query
            n = sum(counted.values())
            preview = {"n": n, "k": sampling.sample_size(rule, n, list(counted) if rule.get("stratify") else None),
                       "strata": len(counted) if rule.get("stratify") else 0}
        elif not errors:
            seed = int(values["seed"]) if values["seed"] else sampling.new_seed()
            try:
                s = sampling.create_sample(db, e, definition, rule, seed, current_user)
            except ValueError as err:
                db.rollback()
                errors.append(str(err))
            else:
                db.commit()
                flash(_("Sample %(n)s drawn: %(k)s of %(total)s records, seed %(seed)s.", n=s.number, k=len(s.drawn),
                        total=s.population_size, seed=s.seed), "success")
                return redirect(url_for("audit.sample", org=g.org.slug, eid=e.id, sid=s.id), code=303)
        status = 422 if errors else 200
    states: dict[str, str] = {}
    for t in library.processes(db, g.org):
        if values["process"] and t.key != values["process"]:
            continue
        for name, spec in t.body["workflow"]["states"].items():
            states.setdefault(name, tr(spec.get("label"), name))
    return render_template("audit/sample_form.html", e=e, values=values, errors=errors, preview=preview,
                           processes=library.processes(db, g.org), audit_types=AUDIT_TYPES, states=states), status


def _sample(e: Engagement, sid: int) -> Sample:
    s = get_session().get(Sample, sid)
    if s is None or s.engagement_id != e.id:
        abort(404)
    return s


def _sample_page(e: Engagement, s: Sample, verification=None):
    db = get_session()
    recs = {r.id: r for r in db.exec(select(Record).where(Record.id.in_(s.drawn or [0]))).all()}
    tpls = {t.id: t for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.id.in_({r.template_id for r in recs.values()} or {0}))).all()}
    checks = {c.record_id: c for c in db.exec(select(Check).where(Check.engagement_id == e.id)).all()}
    findings = db.exec(select(Finding).where(Finding.engagement_id == e.id)).all()
    by_record: dict[int, list[Finding]] = {}
    for f in findings:
        for rid in f.evidence:
            by_record.setdefault(rid, []).append(f)
    creator = db.get(User, s.created_by) if s.created_by else None
    return render_template("audit/sample.html", e=e, s=s, recs=recs, tpls=tpls, checks=checks, by_record=by_record,
                           creator=creator, titles=_titles(), rule_text=sampling.describe_rule(s.rule),
                           definition_text=report_mod.definition_text(s.definition, _titles()),
                           is_auditor=_is_auditor(e), verification=verification,
                           size_note=sampling.sample_size_note(s),
                           remaining=s.population_size - len(s.drawn),
                           signed_edits=signatures.edited_after_signature(db, g.org.id, s.drawn))


@bp.route("/e/<int:eid>/s/<int:sid>")
@allow("org:audit")
def sample(org, eid, sid):
    e = _engagement(eid)
    return _sample_page(e, _sample(e, sid))


@bp.route("/e/<int:eid>/s/<int:sid>/verify")
@allow("org:audit")
def verify_sample(org, eid, sid):
    """Re-draw from the stored population, rule and seed and compare (read-only: anyone on the engagement)."""
    e = _engagement(eid)
    s = _sample(e, sid)
    return _sample_page(e, s, sampling.verify_sample(get_session(), s))


@bp.route("/e/<int:eid>/s/<int:sid>/more", methods=["POST"])
@allow("org:audit")
def sample_more(org, eid, sid):
    e = _engagement(eid)
    _require_auditor(e)
    s = _sample(e, sid)
    db = get_session()
    raw = request.form.get("count", "1").strip()
    if parse_id(raw) is None or int(raw) < 1:
        flash(_("Give how many more records to draw (at least 1)."), "error")
    else:
        try:
            added = sampling.extend_sample(db, s, int(raw), current_user)
        except ValueError as err:
            db.rollback()
            flash(str(err), "error")
        else:
            db.commit()
            if added:
                flash(_("%(n)s more records drawn; the earlier ones are unchanged.", n=added), "success")
            else:
                flash(_("The whole population is already in the sample."), "info")
    return redirect(url_for("audit.sample", org=g.org.slug, eid=e.id, sid=s.id), code=303)


# --- evidence ----------------------------------------------------------------------------------------------------


def _evidence_page(e: Engagement, rec: Record, form: dict | None = None, errors: list[str] | None = None, status: int = 200,
                   check_errors: list[str] | None = None):
    db = get_session()
    tpl = db.get(ProcessTemplate, rec.template_id)  # the version the record was made with
    body = tpl.body
    tz = service.org_tz(g.org)
    sections = forms.build_form(body["schema"], body.get("ui"), forms.flatten(body["schema"], rec.data, tz), {}, lang(),
                                records.link_choices(db, g.org.id, tpl))
    events = db.exec(select(Event).where(Event.org_id == g.org.id, Event.record_id == rec.id).order_by(Event.seq)).all()
    check = trail.verify(db, g.org.id, record_id=rec.id)
    atts = db.exec(select(Attachment).where(Attachment.org_id == g.org.id, Attachment.record_id == rec.id).order_by(Attachment.id)).all()
    people = {u.id: u.name for u in db.exec(select(User).where(User.id.in_({rec.created_by, rec.updated_by} - {None} or {0}))).all()}
    verdict = db.exec(select(Check).where(Check.engagement_id == e.id, Check.record_id == rec.id)).first()
    findings = [f for f in db.exec(select(Finding).where(Finding.engagement_id == e.id).order_by(Finding.number)).all()
                if rec.id in f.evidence]
    sid = request.values.get("sample", type=int)
    s = db.get(Sample, sid) if sid else None
    if s is not None and (s.engagement_id != e.id or rec.id not in s.drawn):
        s = None
    prev_id = next_id = None
    if s is not None:
        i = s.drawn.index(rec.id)
        prev_id = s.drawn[i - 1] if i > 0 else None
        next_id = s.drawn[i + 1] if i + 1 < len(s.drawn) else None
    history = signatures.of_record(db, rec, events)
    edit_diffs = signatures.diffs(db, rec, history, records.labels(body["schema"], lang()))
    clause_choices = [c for c in body.get("clauses", []) if c["standard"] in e.standards]
    default = clause_choices[0] if clause_choices else {"standard": e.standards[0], "clause": ""}
    form = form or {"grade": "minor", "standard": default["standard"], "clause": default["clause"], "statement": ""}
    return render_template("audit/evidence.html", e=e, rec=rec, tpl=tpl, sections=sections, events=events, check=check,
                           revisions=records.revisions(db, rec), attachments=atts, links=records.linked(db, rec, tpl), people=people,
                           verdict=verdict, findings=findings, sample=s, prev_id=prev_id, next_id=next_id,
                           is_auditor=_is_auditor(e), grades=GRADES, clause_choices=clause_choices, form=form,
                           errors=errors or [], signatures=history.signatures, signed_edits=history.edits,
                           edit_diffs=edit_diffs, nc_findings=[f for f in findings if f.grade in NC_GRADES],
                           check_errors=check_errors or []), status


@bp.route("/e/<int:eid>/r/<int:record_id>")
@allow("org:audit")
def evidence(org, eid, record_id):
    e = _engagement(eid)
    return _evidence_page(e, _record(record_id))


@bp.route("/e/<int:eid>/r/<int:record_id>/check", methods=["POST"])
@allow("org:audit")
def mark_conforming(org, eid, record_id):
    e = _engagement(eid)
    _require_auditor(e)
    rec = _record(record_id)
    db = get_session()
    ncs = [f for f in db.exec(select(Finding).where(Finding.engagement_id == e.id).order_by(Finding.number)).all()
           if rec.id in f.evidence and f.grade in NC_GRADES]
    confirmed = {int(x) for x in request.form.getlist("confirm_nc") if x.isascii() and x.isdigit() and len(x) < 19}
    if ncs and not {f.id for f in ncs} <= confirmed:
        # a record on which this engagement raised a nonconformity is judged conforming only deliberately
        names = "、".join(f"#{f.number} {report_mod.grade_label(f.grade)}" for f in ncs)
        return _evidence_page(e, rec, status=422, check_errors=[
            _("Nonconformity %(f)s was raised on this record in this engagement: confirm that the record "
              "nevertheless conforms, or leave the verdict to the finding.", f=names)])
    service.mark_conforming(db, e, rec, current_user, request.form.get("note", ""))
    db.commit()
    flash(_("Record #%(id)s marked conforming.", id=rec.id), "success")
    return redirect(url_for("audit.evidence", org=g.org.slug, eid=e.id, record_id=rec.id,
                            sample=request.form.get("sample", type=int)), code=303)


# --- findings ------------------------------------------------------------------------------------------------


def _evidence_ids(raw: list[str]) -> list[int] | None:
    ids = []
    for part in ",".join(raw).replace("#", "").replace("，", ",").replace(" ", ",").split(","):
        if part.strip():
            if parse_id(part) is None:
                return None
            ids.append(parse_id(part))
    return ids


@bp.route("/e/<int:eid>/findings", methods=["GET", "POST"])
@allow("org:audit")
def findings(org, eid):
    e = _engagement(eid)
    db = get_session()
    form, errors, status = None, [], 200
    if request.method == "POST":
        _require_auditor(e)
        form = {k: request.form.get(k, "") for k in ("grade", "standard", "clause", "statement", "evidence")}
        ids = _evidence_ids(request.form.getlist("evidence"))
        on_record = request.form.get("record", type=int)
        try:
            if ids is None:
                raise service.AuditError(_("Evidence must be records of this organization."))
            f = service.raise_finding(db, e, current_user, grade=form["grade"], standard=form["standard"],
                                      clause=form["clause"], statement=form["statement"], evidence=ids,
                                      sample_id=request.form.get("sample", type=int))
        except service.AuditError as err:
            db.rollback()
            errors = [str(err)]
            if on_record:
                return _evidence_page(e, _record(on_record), form, errors, 422)
            status = 422
        else:
            notify_events.finding_raised(db, g.org, f)
            db.commit()
            flash(_("Finding %(n)s recorded: %(grade)s.", n=f.number, grade=report_mod.grade_label(f.grade)), "success")
            if on_record:
                return redirect(url_for("audit.evidence", org=g.org.slug, eid=e.id, record_id=on_record,
                                        sample=request.form.get("sample", type=int)), code=303)
            return redirect(url_for("audit.finding", org=g.org.slug, eid=e.id, fid=f.id), code=303)
    rows = db.exec(select(Finding).where(Finding.engagement_id == e.id).order_by(Finding.number)).all()
    recs = {r.id: r for r in db.exec(select(Record).where(Record.id.in_({i for f in rows for i in f.evidence} or {0}))).all()}
    form = form or {"grade": "observation", "standard": e.standards[0], "clause": "", "statement": "", "evidence": ""}
    return render_template("audit/findings.html", e=e, rows=rows, recs=recs, form=form, errors=errors,
                           grades=GRADES, is_auditor=_is_auditor(e)), status


def _finding(e: Engagement, fid: int) -> Finding:
    f = get_session().get(Finding, fid)
    if f is None or f.engagement_id != e.id:
        abort(404)
    return f


@bp.route("/e/<int:eid>/f/<int:fid>")
@allow("org:audit")
def finding(org, eid, fid):
    e = _engagement(eid)
    f = _finding(e, fid)
    db = get_session()
    recs = {r.id: r for r in db.exec(select(Record).where(Record.id.in_(set(f.evidence) | {f.corrective_action_id or 0}))).all()}
    ca_tpl = library.adopted(db, g.org, "corrective-action")
    people = {u.id: u.name for u in db.exec(select(User).where(User.id.in_({f.created_by, f.answered_by, f.closed_by} - {None} or {0}))).all()}
    ca = recs.get(f.corrective_action_id) if f.corrective_action_id else None
    ca_body = db.get(ProcessTemplate, ca.template_id).body if ca else None
    prefill = {"link.source_type": "external_audit", "link.raised_date": date.today().isoformat(),
               "link.problem_description": f"{e.title} #{f.number} ({f.standard} {f.clause}): {f.statement}"}
    return render_template("audit/finding.html", e=e, f=f, recs=recs, ca=ca, ca_body=ca_body, ca_tpl=ca_tpl,
                           choices=service.corrective_actions(db, g.org.id) if can("org:manage") else [],
                           people=people, prefill=prefill, is_auditor=_is_auditor(e))


@bp.route("/e/<int:eid>/f/<int:fid>/answer", methods=["POST"])
@allow("org:manage")
def answer_finding(org, eid, fid):
    e = _engagement(eid)
    f = _finding(e, fid)
    db = get_session()
    try:
        service.answer_finding(db, f, request.form.get("record_id", ""), request.form.get("note", ""), current_user)
    except service.AuditError as err:
        db.rollback()
        flash(str(err), "error")
    else:
        db.commit()
        flash(_("Corrective action linked; the auditor will verify it."), "success")
    return redirect(url_for("audit.finding", org=g.org.slug, eid=e.id, fid=f.id), code=303)


@bp.route("/e/<int:eid>/f/<int:fid>/verify", methods=["POST"])
@allow("org:audit")
def verify_finding(org, eid, fid):
    e = _engagement(eid)
    _require_auditor(e)
    f = _finding(e, fid)
    db = get_session()
    accept = request.form.get("decision") == "accept"
    try:
        service.close_finding(db, f, current_user, request.form.get("note", ""), accept)
    except service.AuditError as err:
        db.rollback()
        flash(str(err), "error")
    else:
        db.commit()
        flash(_("Finding closed.") if accept else _("Finding reopened: the organization must answer again."),
              "success" if accept else "info")
    return redirect(url_for("audit.finding", org=g.org.slug, eid=e.id, fid=f.id), code=303)


# --- coverage, readiness, report -----------------------------------------------------------------------------------


@bp.route("/e/<int:eid>/coverage")
@allow("org:audit")
def coverage(org, eid):
    e = _engagement(eid)
    detail = request.args.get("detail") == "1"
    cov = coverage_mod.coverage(get_session(), g.org, e.standards, e.period_start, e.period_end, e.scope_clauses or None,
                                e.scope_processes or None, detail=detail)
    ranges = []  # each month's first and last day, inside the period: a cell links to a sample of it
    for m in cov.months:
        first = date.fromisoformat(m + "-01")
        last = (first.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
        ranges.append((max(first, e.period_start).isoformat(), min(last, e.period_end).isoformat()))
    return render_template("audit/coverage.html", e=e, cov=cov, detail=detail, titles=_titles(), ranges=ranges,
                           is_auditor=_is_auditor(e), cell_title=_cell_titler())


def _cell_titler():
    """A cell's tooltip, e.g. "expected 1, found 0 · month not over yet": the few phrases are translated once per
    page, not once per cell (a matrix has ~2,000 cells; a gettext costs more than formatting)."""
    every, exp = _("records expected every month, found %(m)s"), _("expected %(n)s, found %(m)s")  # formats
    notes = {"partial": _("month not over yet"), "future": _("not yet"), "not_due": _("nothing due")}

    def title(c) -> str:
        text = (every if c.expected is None else exp) % {"m": c.found, "n": c.expected}
        return f"{text} · {notes[c.status]}" if c.status in notes else text
    return title


@bp.route("/e/<int:eid>/readiness")
@allow("org:audit")
def readiness(org, eid):
    e = _engagement(eid)
    rd = readiness_mod.check(get_session(), g.org, e.period_start, e.period_end, e.standards, e.scope_processes or None)
    return render_template("audit/readiness.html", e=e, rd=rd, titles=_titles(), check_title=readiness_mod.check_title,
                           status_label=report_mod.readiness_status_label)


@bp.route("/readiness")
@allow("org:audit")
def self_check(org):
    """Readiness before any engagement: the manager's self-check over a chosen period (default: 12 months)."""
    today = date.today()
    start = _date("start", today - timedelta(days=365), request.args) or today - timedelta(days=365)
    end = _date("end", today, request.args) or today
    rd = readiness_mod.check(get_session(), g.org, start, end)
    return render_template("audit/readiness.html", e=None, rd=rd, titles=_titles(), check_title=readiness_mod.check_title,
                           status_label=report_mod.readiness_status_label)


def _report_ctx(e: Engagement, rep) -> dict:
    return {"e": e, "rep": rep, "describe_rule": sampling.describe_rule,
            "definition_text": lambda d: report_mod.definition_text(d, rep.titles),
            "check_title": readiness_mod.check_title, "status_label": report_mod.readiness_status_label}


def _report_page(e: Engagement, errors: list[str] | None = None, form: dict | None = None, status: int = 200):
    db = get_session()
    rep = report_mod.gather(db, g.org, e, lang())
    c = rep.conclusion
    missing = []
    if c is not None and c.status == "draft":
        ids = issuance.missing_signers(db, e, c)
        missing = [u.name for u in db.exec(select(User).where(User.id.in_(ids or [0]))).all()]
    frozen = Markup(c.content_html) if c is not None and c.status == "issued" else ""
    return render_template("audit/report.html", **_report_ctx(e, rep), is_auditor=_is_auditor(e), errors=errors or [],
                           form=form, missing=missing, frozen=frozen, history=issuance.revisions(db, e),
                           recommendations=RECOMMENDATIONS), status


@bp.route("/e/<int:eid>/report")
@allow("org:audit")
def report(org, eid):
    return _report_page(_engagement(eid))


def _report_action(e: Engagement, action, form: dict | None = None, done: str = ""):
    """Run one issuance service in the request's transaction; errors re-show the page with the input kept."""
    _require_auditor(e)
    db = get_session()
    try:
        action(db)
        db.commit()
    except UserError as err:
        db.rollback()
        return _report_page(e, [str(err)], form, err.status)
    except IntegrityError:  # two members acted on the same revision at the same moment
        db.rollback()
        return _report_page(e, [_("Someone on the team changed the report at the same moment: look again.")], form, 409)
    if done:
        flash(done, "success")
    return redirect(url_for("audit.report", org=g.org.slug, eid=e.id), code=303)


@bp.route("/e/<int:eid>/report/conclusion", methods=["POST"])
@allow("org:audit")
def report_conclusion(org, eid):
    e = _engagement(eid)
    _require_auditor(e)
    form = {k: request.form.get(k, "") for k in ("recommendation", "statement", "issue_date")}
    day = _date("issue_date")
    if form["issue_date"] and day is None:
        return _report_page(e, [_("Dates must be written as YYYY-MM-DD.")], form, 422)
    return _report_action(e, lambda db: issuance.save_conclusion(db, e, current_user, form["recommendation"],
                                                                 form["statement"], day),
                          form, _("Conclusion saved. The audit team signs it, then it can be issued."))


@bp.route("/e/<int:eid>/report/sign", methods=["POST"])
@allow("org:audit")
def report_sign(org, eid):
    e = _engagement(eid)
    _require_auditor(e)
    return _report_action(e, lambda db: issuance.sign(db, e, current_user, request.form.get("password", ""),
                                                      "audit team"),
                          done=_("Signed."))


@bp.route("/e/<int:eid>/report/issue", methods=["POST"])
@allow("org:audit")
def report_issue(org, eid):
    e = _engagement(eid)
    _require_auditor(e)

    def run(db):
        def render() -> str:
            return render_template("audit/_report_body.html", **_report_ctx(e, report_mod.gather(db, g.org, e, lang())))
        issuance.issue(db, e, current_user, render)

    return _report_action(e, run, done=_("The report is issued and frozen."))


@bp.route("/e/<int:eid>/report/revise", methods=["POST"])
@allow("org:audit")
def report_revise(org, eid):
    e = _engagement(eid)
    _require_auditor(e)
    return _report_action(e, lambda db: issuance.new_revision(db, e, current_user, request.form.get("reason", "")),
                          done=_("A new revision of the report is open: change it, sign it and issue it."))


@bp.route("/e/<int:eid>/bundle.zip")
@allow("org:audit")
def evidence_bundle(org, eid):
    """The offline-verifiable evidence bundle (docs/evidence-bundle.md): the audit team's download."""
    e = _engagement(eid)
    _require_auditor(e)
    data = bundle_mod.build(get_session(), e, lang())
    name = f"evidence-{g.org.slug}-{e.id}-{utcnow():%Y%m%d}.zip"
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name, mimetype="application/zip")


@bp.route("/e/<int:eid>/report.xlsx")
@allow("org:audit")
def report_xlsx(org, eid):
    e = _engagement(eid)
    rep = report_mod.gather(get_session(), g.org, e, lang())
    data = report_mod.xlsx(rep, get_session())
    name = f"audit-{g.org.slug}-{e.id}-{utcnow():%Y%m%d}.xlsx"
    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


# --- command line: `workbench audit verify [--org SLUG] [--sample ID]`, `workbench audit bundle ID -o FILE` ----------------------------------------


@bp.cli.command("verify")
@click.option("--org", "slug", default=None, help="Only this organization (slug).")
@click.option("--sample", "sample_id", type=int, default=None, help="Only this sample (id).")
def verify_command(slug: str | None, sample_id: int | None) -> None:
    """Re-draw recorded audit samples from their population, rule and seed, and compare with what is stored
    and with the event chain. Exit 1 on any mismatch."""
    from workbench.models import Organization

    db = get_session()
    q = select(Sample).order_by(Sample.org_id, Sample.engagement_id, Sample.number)
    if slug:
        org = db.exec(select(Organization).where(Organization.slug == slug)).first()
        if org is None:
            click.echo(f"no organization {slug!r}", err=True)
            sys.exit(2)
        q = q.where(Sample.org_id == org.id)
    if sample_id is not None:
        q = q.where(Sample.id == sample_id)
    bad = 0
    rows = db.exec(q).all()
    for s in rows:
        result = sampling.verify_sample(db, s)
        where = f"sample {s.id} (engagement {s.engagement_id}, no. {s.number}, seed {s.seed})"
        if result.ok:
            click.echo(f"✔ {where}: {len(s.drawn)} of {s.population_size} records re-drawn identically")
        else:
            bad += 1
            for p in result.problems:
                click.echo(f"✘ {where}: {p}", err=True)
    click.echo(f"{len(rows) - bad} verified, {bad} failed")
    if bad:
        sys.exit(1)


@bp.cli.command("bundle")
@click.argument("engagement_id", type=int)
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False, path_type=Path), help="The zip file to write.")
@click.option("--lang", default="zh", type=click.Choice(["zh", "en"]), show_default=True)
def bundle_command(engagement_id: int, output: Path, lang: str) -> None:
    """Write an engagement's offline-verifiable evidence bundle (docs/evidence-bundle.md)."""
    from flask import current_app, session

    db = get_session()
    e = db.get(Engagement, engagement_id)
    if e is None:
        click.echo(f"no engagement {engagement_id}", err=True)
        sys.exit(2)
    with current_app.test_request_context("/"):
        session["lang"] = "en" if lang == "en" else "zh_CN"
        g.org = db.get(Organization, e.org_id)
        data = bundle_mod.build(db, e, lang)
    output.write_bytes(data)
    click.echo(f"✔ {output}: {len(data)} bytes. To verify: unzip it, then run python3 verify.py in its folder.")
