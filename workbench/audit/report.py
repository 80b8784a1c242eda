"""The audit report: everything an engagement produced, gathered once for the printable page and the xlsx.

The xlsx has one sheet per part: scope, samples (rule, seed, digest and the drawn records), the frozen
populations (so the samples can be re-drawn from the file alone), findings, coverage, readiness and the
departures of what was done from the written procedures over the period (两张皮, workbench.documents.departures).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from datetime import date, datetime

from flask_babel import gettext as _
from sqlmodel import Session, select

from forms import text
from workbench import clauses
from workbench.audit import coverage as coverage_mod
from workbench.audit import readiness as readiness_mod
from workbench.audit import seals as seals_mod
from workbench.audit import frames, issuance, sampling, service
from workbench.audit.models import Check, Engagement, Finding, Sample
from workbench.audit.report_models import AuditReport
from workbench.documents import departures as departures_mod
from workbench.models import Organization, ProcessTemplate, Record, User, utcnow

FONT = "Microsoft YaHei"


def audit_type_label(t: str) -> str:
    return {"initial": _("Initial certification"), "surveillance": _("Surveillance"),
            "recertification": _("Recertification")}.get(t, t)


def grade_label(g: str) -> str:
    return {"conformity": _("Conformity"), "observation": _("Observation / OFI"), "minor": _("Minor nonconformity"),
            "major": _("Major nonconformity")}.get(g, g)


def finding_status_label(s: str) -> str:
    return {"noted": _("noted"), "open": _("open"), "answered": _("answered"), "closed": _("verified closed")}.get(s, s)


def report_status_label(s: str) -> str:
    return {"draft": _("draft"), "issued": _("issued"), "superseded": _("superseded by a later revision")}.get(s, s)


def cause_label(n: int) -> str:
    """The name of an audit-abandonment cause (撤组情形), numbered as in the seed's list."""
    return {1: _("no management-system documents in force for the cycle"),
            2: _("no internal audit, management review or measured objectives in the cycle"),
            3: _("no production, inspection or service records in the cycle"),
            4: _("no production or inspection equipment for the certified scope"),
            5: _("special-equipment inspection certificates expired"),
            6: _("measuring-instrument calibration certificates expired"),
            7: _("no valid type-test report"),
            8: _("administrative licences expired"),
            9: _("scope changed beyond the audit team's competence"),
            10: _("headcount changed a lot and audit days not increased"),
            14: _("falsified permits or documents")}.get(n, "")


def departure_kind_label(kind: str) -> str:
    return {"frequency": _("Frequency"), "overdue": _("Past due"), "role": _("Responsibility"),
            "step": _("Step not as written"), "reversed": _("Step reversed"), "stuck": _("Stuck"),
            "fields": _("Fields empty"), "backfilled": _("Backfilled"), "burst": _("Burst before audit")}.get(kind, kind)


def severity_label(s: str) -> str:
    return {"high": _("high"), "medium": _("medium"), "low": _("low")}.get(s, s)


def readiness_status_label(s: str) -> str:
    return {"ok": _("OK"), "fail": _("Fails"), "warn": _("Check"), "not_tracked": _("Not tracked")}.get(s, s)


def definition_text(d: dict, titles: dict[str, str]) -> str:
    parts = [_("records dated %(start)s – %(end)s", start=d.get("start") or "…", end=d.get("end") or "…")]
    if d.get("process"):
        parts.append(_("process: %(p)s", p=titles.get(d["process"], d["process"])))
    if d.get("clause"):
        parts.append(_("clause: %(s)s %(c)s", s=d.get("standard") or "", c=d["clause"]))
    if d.get("state"):
        parts.append(_("state: %(s)s", s=d["state"]))
    if d.get("edited_after_signature"):
        parts.append(_("only records edited after signature"))
    return "; ".join(parts)


@dataclass
class Report:
    org: Organization
    engagement: Engagement
    lang: str
    team: list[User]
    samples: list[Sample]
    findings: list[Finding]
    checks: dict[int, Check]
    records: dict[int, Record]
    titles: dict[str, str]  # process key -> title
    users: dict[int, str]
    coverage: coverage_mod.Coverage
    readiness: readiness_mod.Readiness
    generated_at: datetime = field(default_factory=utcnow)
    seals: list = field(default_factory=list)  # the engagement's sealed chain heads (workbench.audit.seals)
    continuity: seals_mod.Continuity | None = None
    conclusion: AuditReport | None = None  # the newest report revision (draft or issued)
    signatures: list[tuple[str, datetime, bool]] = field(default_factory=list)  # (name, signed at, still valid)
    departures: departures_mod.Report | None = None  # written vs done over the period, processes in scope only

    def record_label(self, rid: int) -> str:
        r = self.records.get(rid)
        return f"#{rid} {r.title}" if r else f"#{rid}"

    def findings_of(self, rid: int) -> list[Finding]:
        return [f for f in self.findings if rid in (f.evidence or [])]


def gather(db: Session, org: Organization, e: Engagement, lang: str = "zh", today: date | None = None) -> Report:
    samples = list(db.exec(select(Sample).where(Sample.engagement_id == e.id).order_by(Sample.number)).all())
    findings = list(db.exec(select(Finding).where(Finding.engagement_id == e.id).order_by(Finding.number)).all())
    checks = {c.record_id: c for c in db.exec(select(Check).where(Check.engagement_id == e.id)).all()}
    ids = {i for s in samples for i in s.drawn} | {i for f in findings for i in f.evidence} | set(checks)
    ids |= {f.corrective_action_id for f in findings if f.corrective_action_id}
    departures = departures_mod.detect(db, org, e.period_start, e.period_end, lang)
    if e.scope_processes:
        departures.checks = [c for c in departures.checks if c.document.key in e.scope_processes]
        departures.unwritten = [k for k in departures.unwritten if k in e.scope_processes]
    ids |= {i for c in departures.checks for d in c.departures for i in d.record_ids}
    records, wanted = {}, sorted(ids)  # bounded: samples, findings, checks and the departures kept (SHOWN per check)
    for i in range(0, len(wanted), 500):  # in slices (SQLite's limit on variables)
        records.update((r.id, r) for r in db.exec(select(Record).where(Record.id.in_(wanted[i:i + 500]))).all())
    titles = {t.key: text(t.body.get("title"), lang, t.key) for t in db.exec(select(ProcessTemplate).where(
        (ProcessTemplate.org_id == org.id) | ProcessTemplate.org_id.is_(None))).all()}
    members = service.team(db, e, include_revoked=True)
    team = [db.get(User, m.user_id) for m in members if m.revoked_at is None]
    uids = {u for s in samples for u in [s.created_by]} | {f.created_by for f in findings} | {f.closed_by for f in findings}
    users = {u.id: u.name for u in db.exec(select(User).where(User.id.in_({u for u in uids if u}))).all()} if any(uids) else {}
    conclusion = issuance.current(db, e)
    sigs = []
    if conclusion is not None:
        digest = issuance.conclusion_digest(conclusion)
        names = {u.id: u.name for u in db.exec(select(User).where(User.id.in_(
            [s.user_id for s in issuance.signatures(db, conclusion)] or [0]))).all()}
        sigs = [(names.get(s.user_id, "—"), s.signed_at, s.digest == digest) for s in issuance.signatures(db, conclusion)]
    return Report(org=org, engagement=e, lang=lang, team=[u for u in team if u], samples=samples, findings=findings,
                  checks=checks, records=records, titles=titles, users=users, conclusion=conclusion, signatures=sigs,
                  coverage=coverage_mod.coverage(db, org, e.standards, e.period_start, e.period_end, e.scope_clauses or None,
                                                 e.scope_processes or None),
                  readiness=readiness_mod.check(db, org, e.period_start, e.period_end, e.standards,
                                                e.scope_processes or None, today=today),
                  seals=seals_mod.seals_of(db, e), continuity=seals_mod.continuity(db, org.id, e),
                  departures=departures)


# --- xlsx ---------------------------------------------------------------------------------------------------


def xlsx(rep: Report, db: Session | None = None) -> bytes:
    """The workbook, written in openpyxl's write-only mode (rows go to disk as they are appended); the frames of
    algorithm-2 samples are streamed from their stored chunks (needs `db`), so memory does not grow with them."""
    from copy import copy

    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Alignment, Font, PatternFill
    from openpyxl.utils import get_column_letter

    bold = Font(name=FONT, bold=True)
    plain = Font(name=FONT)
    title_font = Font(name=FONT, bold=True, size=14)
    head_fill = PatternFill("solid", fgColor="EEF2F7")
    empty_fill = PatternFill("solid", fgColor="FDECEA")
    fail_fill = PatternFill("solid", fgColor="FDECEA")
    warn_fill = PatternFill("solid", fgColor="FFF4E0")
    ok_fill = PatternFill("solid", fgColor="E3F4EA")
    wrap = Alignment(wrap_text=True, vertical="top")

    wb = Workbook(write_only=True)
    e = rep.engagement
    zone = service.org_tz(rep.org)

    def local(dt) -> str:
        return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M") if dt else ""

    def sheet(title: str, widths: list[int], first: bool = False):
        ws = wb.create_sheet(title[:31])
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = w
        return ws

    looks: dict[tuple[int, int], object] = {}  # (font, fill) -> its style array, registered with the workbook once

    def styled(ws, value, font=plain, fill=None):
        cell = WriteOnlyCell(ws, value=value)
        look = looks.get((id(font), id(fill)))
        if look is None:
            cell.font = font
            cell.alignment = wrap
            if fill is not None:
                cell.fill = fill
            looks[(id(font), id(fill))] = copy(cell._style)
        else:
            cell._style = copy(look)
        return cell

    def put(ws, row: list, font=plain, fill=None):
        ws.append([styled(ws, v, font, fill) for v in row])

    def more(n: int) -> str:
        return " … " + _("and %(n)s more", n=n) if n > 0 else ""

    def header(ws, row: list):
        put(ws, row, bold, head_fill)

    # scope
    ws = sheet(_("Scope"), [26, 90], first=True)
    put(ws, [_("Audit report"), e.title], title_font)
    put(ws, [_("Organization"), rep.org.name])
    put(ws, [_("Certification body"), e.audit_body or "—"])
    put(ws, [_("Standards"), "、".join(e.standards)])
    put(ws, [_("Audit type"), audit_type_label(e.audit_type)])
    put(ws, [_("Period under audit"), f"{e.period_start.isoformat()} – {e.period_end.isoformat()}"])
    put(ws, [_("Processes in scope"), "、".join(rep.titles.get(k, k) for k in e.scope_processes) or _("all processes")])
    put(ws, [_("Clauses in scope"), "、".join(f"{c['standard']} {c['clause']}" for c in e.scope_clauses) or _("all clauses of the standards")])
    put(ws, [_("Remote access window"), f"{local(e.access_from)} – {local(e.access_until)} ({rep.org.timezone})"])
    put(ws, [_("Audit team"), "、".join(f"{u.name} <{u.email}>" for u in rep.team) or "—"])
    put(ws, [_("Samples"), len(rep.samples)])
    put(ws, [_("Findings"), len(rep.findings)])
    put(ws, [_("Generated"), f"{local(rep.generated_at)} ({rep.org.timezone})"])
    for sl in rep.seals:
        put(ws, [_("Sealed chain head") + f" ({seals_mod.kind_label(sl.kind)})", f"#{sl.seq} {sl.hash} · {local(sl.sealed_at)}"])
    if rep.continuity is not None:
        put(ws, [_("Chain continuity"), rep.continuity.message], fill=fail_fill if rep.continuity.status == "broken" else None)

    # conclusion (the same as the report page: the newest revision, with its status and the team's signatures)
    c = rep.conclusion
    put(ws, [])
    put(ws, [_("Conclusion")], title_font)
    if c is None or not c.recommendation:
        put(ws, [_("Status"), _("no conclusion written yet")])
    else:
        put(ws, [_("Report revision"), f"{c.revision} · {report_status_label(c.status)}"])
        put(ws, [_("Recommendation"), issuance.recommendation_label(c.recommendation)])
        put(ws, [_("Statement of the audit team"), c.statement])
        put(ws, [_("Issue date"), c.issue_date.isoformat() if c.issue_date else "—"])
        if c.reason:
            put(ws, [_("Reason for this revision"), c.reason])
        for name, at, valid in rep.signatures:
            put(ws, [_("Signed by"), f"{name} · {local(at)}" + ("" if valid else " · " + _("void: the conclusion changed after signing"))])
        if c.digest:
            put(ws, [_("Issued report digest (SHA-256)"), c.digest])

    # samples
    ws = sheet(_("Samples"), [12, 12, 22, 40, 14, 14, 26, 30])
    for s in rep.samples:
        put(ws, [_("Sample %(n)s", n=s.number)], title_font)
        put(ws, [_("Population"), definition_text(s.definition, rep.titles)])
        put(ws, [_("Population size"), s.population_size])
        put(ws, [_("Rule"), sampling.describe_rule(s.rule) + (f" ({sampling.sample_size_note(s)})" if sampling.sample_size_note(s) else "")])
        put(ws, [_("Seed"), str(s.seed)])
        put(ws, [_("Algorithm"), s.rule.get("algorithm", sampling.ALGORITHM)])
        put(ws, [_("Drawn by"), rep.users.get(s.created_by, "—"), _("at"), local(s.created_at)])
        put(ws, [_("Draws"), " + ".join(str(d["count"]) for d in s.draws)])
        put(ws, [_("Sample digest (SHA-256)"), s.digest])
        header(ws, [_("Position"), _("Record"), _("Process"), _("Title"), _("Date"), _("State"), _("Verdict"), _("Findings")])
        for pos, rid in enumerate(s.drawn, start=1):
            r = rep.records.get(rid)
            check = rep.checks.get(rid)
            fs = rep.findings_of(rid)
            put(ws, [pos, rid, rep.titles.get(r.template_key, r.template_key) if r else "", r.title if r else "",
                     r.record_date.isoformat() if r and r.record_date else "", r.state if r else "",
                     _("conforming") if check else "", "、".join(f"#{f.number} {grade_label(f.grade)}" for f in fs)])
        put(ws, [])

    # frozen populations
    ws = sheet(_("Populations"), [12, 12, 16, 16])
    header(ws, [_("Sample"), _("Seed"), _("Record"), _("Stratum")])
    for s in rep.samples:
        if sampling.is_v2(s):
            if db is None:
                raise ValueError("the frame of an algorithm-2 sample is read from the database: pass db")
            for rid, stratum in frames.ids(db, s.id, bool(s.rule.get("stratify"))):
                ws.append([s.number, str(s.seed), rid, stratum or ""])
            continue
        for i, rid in enumerate(s.population_ids):
            ws.append([s.number, str(s.seed), rid, s.strata[i] if s.strata else ""])

    # findings
    ws = sheet(_("Findings"), [8, 20, 18, 10, 30, 60, 28, 16, 28, 30, 30])
    header(ws, ["#", _("Grade"), _("Standard"), _("Clause"), _("Clause title"), _("Statement"), _("Evidence"), _("Status"),
                _("Corrective action"), _("Answer"), _("Verification")])
    for f in rep.findings:
        fill = fail_fill if f.grade == "major" else warn_fill if f.grade == "minor" else None
        put(ws, [f.number, grade_label(f.grade), f.standard, f.clause, clauses.title(f.standard, f.clause, rep.lang),
                 f.statement, "、".join(rep.record_label(i) for i in f.evidence), finding_status_label(f.status),
                 rep.record_label(f.corrective_action_id) if f.corrective_action_id else "", f.answer_note, f.closure_note], fill=fill)

    # coverage
    cov = rep.coverage
    ws = sheet(_("Coverage"), [16, 10, 36, 30] + [9] * len(cov.months) + [9])
    header(ws, [_("Standard"), _("Clause"), _("Clause title"), _("Processes")] + cov.months + [_("Total")])
    for row in cov.rows:
        ws.append([styled(ws, v) for v in [row.standard, row.clause, row.title.get(rep.lang) or row.title.get("zh"),
                                           "、".join(rep.titles.get(k, k) for k in row.templates)
                                           or _("no process serves this clause")]]
                  + [styled(ws, n, fill=empty_fill if n == 0 else None) for n in row.counts] + [styled(ws, row.total)])

    # readiness
    ws = sheet(_("Readiness"), [30, 8, 12, 26, 20, 60, 40])
    rd = rep.readiness
    put(ws, [_("Readiness on %(d)s", d=rd.today.isoformat()),
             _("passed: no cause for abandoning the audit found") if rd.passed else _("not ready: causes for abandoning the audit found")],
        title_font)
    header(ws, [_("Check"), _("Cause"), _("Status"), _("Process"), _("Subject"), _("Finding"), _("Evidence")])
    for it in rd.items:
        fill = {"fail": fail_fill, "warn": warn_fill, "ok": ok_fill}.get(it.status)
        put(ws, [readiness_mod.check_title(it.check), it.cause, readiness_status_label(it.status),
                 rep.titles.get(it.template_key, it.template_key), it.subject or "", it.message,
                 "、".join(f"#{r.id} {r.title}" for r in it.records[:10]) + more(it.count - 10) or "—"], fill=fill)

    # departures: what was done against what the procedures in force say, over the period (两张皮)
    ws = sheet(_("Departures"), [22, 30, 18, 10, 70, 50])
    dep = rep.departures
    put(ws, [_("Departures from the written procedures"), f"{e.period_start.isoformat()} – {e.period_end.isoformat()}"],
        title_font)
    header(ws, [_("Procedure"), _("Process"), _("Type"), _("Severity"), _("Description"), _("Records")])
    sev_fill = {"high": fail_fill, "medium": warn_fill}
    for c in (dep.checks if dep else []):
        for d in c.departures:
            put(ws, [c.document.number, c.title, departure_kind_label(d.kind), severity_label(d.severity), d.message,
                     "、".join(rep.record_label(i) for i in d.record_ids) or "—"], fill=sev_fill.get(d.severity))
        if c.omitted:  # the check kept its first departures (departures.SHOWN); the rest are counted
            put(ws, [c.document.number, c.title, "", "", more(c.count - len(c.departures)).strip(" …")])
    if dep is not None and not dep.checks:
        put(ws, [_("No procedure was in force in this period. Approve the generated procedures first.")])
    elif dep is not None and not dep.count:
        put(ws, [_("No departures: what is done matches what is written.")], fill=ok_fill)
    if dep is not None and dep.unwritten:
        put(ws, [_("Adopted processes without a procedure in force in this period: %(n)s", n=len(dep.unwritten)),
                 "、".join(rep.titles.get(k, k) for k in dep.unwritten)])

    # audit time (IAF MD 5 / MD 11), as stored on the engagement
    if e.audit_time:
        from workbench.cb.programme import slot_label

        ws = sheet(_("Audit time"), [50, 14, 50])
        put(ws, [_("Audit time (IAF MD 5 / IAF MD 11), auditor-days"),
                 slot_label(e.programme_slot) if e.programme_slot else ""], title_font)
        for step in e.audit_time.get("steps", []):
            put(ws, [step.get("label", ""), step.get("value", ""), step.get("note", "")])
        put(ws, [_("Initial / surveillance / recertification"), f"{e.audit_time.get('initial')} / "
                 f"{e.audit_time.get('surveillance')} / {e.audit_time.get('recertification')}"], bold)

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
