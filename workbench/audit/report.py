"""The audit report: everything an engagement produced, gathered once for the printable page and the xlsx.

The xlsx has one sheet per part: scope, samples (rule, seed, digest and the drawn records), the frozen
populations (so the samples can be re-drawn from the file alone), findings, coverage and readiness.
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
from workbench.audit import sampling, service
from workbench.audit.models import Check, Engagement, Finding, Sample
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
    records = {r.id: r for r in db.exec(select(Record).where(Record.id.in_(ids))).all()} if ids else {}
    titles = {t.key: text(t.body.get("title"), lang, t.key) for t in db.exec(select(ProcessTemplate).where(
        (ProcessTemplate.org_id == org.id) | ProcessTemplate.org_id.is_(None))).all()}
    members = service.team(db, e, include_revoked=True)
    team = [db.get(User, m.user_id) for m in members if m.revoked_at is None]
    uids = {u for s in samples for u in [s.created_by]} | {f.created_by for f in findings} | {f.closed_by for f in findings}
    users = {u.id: u.name for u in db.exec(select(User).where(User.id.in_({u for u in uids if u}))).all()} if any(uids) else {}
    return Report(org=org, engagement=e, lang=lang, team=[u for u in team if u], samples=samples, findings=findings,
                  checks=checks, records=records, titles=titles, users=users,
                  coverage=coverage_mod.coverage(db, org, e.standards, e.period_start, e.period_end, e.scope_clauses or None,
                                                 e.scope_processes or None),
                  readiness=readiness_mod.check(db, org, e.period_start, e.period_end, e.standards,
                                                e.scope_processes or None, today=today),
                  seals=seals_mod.seals_of(db, e), continuity=seals_mod.continuity(db, org.id, e))


# --- xlsx ---------------------------------------------------------------------------------------------------


def xlsx(rep: Report) -> bytes:
    from openpyxl import Workbook
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

    wb = Workbook()
    e = rep.engagement
    zone = service.org_tz(rep.org)

    def local(dt) -> str:
        return dt.astimezone(zone).strftime("%Y-%m-%d %H:%M") if dt else ""

    def sheet(title: str, widths: list[int], first: bool = False):
        ws = wb.active if first else wb.create_sheet()
        ws.title = title[:31]
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[get_column_letter(i)].width = w
        return ws

    def put(ws, row: list, font=plain, fill=None):
        ws.append(row)
        for cell in ws[ws.max_row]:
            cell.font = font
            cell.alignment = wrap
            if fill is not None:
                cell.fill = fill

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

    # samples
    ws = sheet(_("Samples"), [12, 12, 22, 40, 14, 14, 26, 30])
    for s in rep.samples:
        put(ws, [_("Sample %(n)s", n=s.number)], title_font)
        put(ws, [_("Population"), definition_text(s.definition, rep.titles)])
        put(ws, [_("Population size"), s.population_size])
        put(ws, [_("Rule"), sampling.describe_rule(s.rule)])
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
        put(ws, [row.standard, row.clause, row.title.get(rep.lang) or row.title.get("zh"),
                 "、".join(rep.titles.get(k, k) for k in row.templates) or _("no process serves this clause")]
            + row.counts + [row.total])
        for i, n in enumerate(row.counts):
            if n == 0:
                ws.cell(ws.max_row, 5 + i).fill = empty_fill

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
                 "、".join(f"#{r.id} {r.title}" for r in it.records[:10]) or "—"], fill=fill)

    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
