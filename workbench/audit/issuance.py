"""Issuing the audit report: the team's conclusion, their e-signatures, issue, and revisions after issue.

One service function per user action; the view owns the transaction.

- `save_conclusion` — recommendation (certify / continue / suspend), the team's statement and the issue date,
  on the current draft revision (revision 1 is made on first use). An issued revision cannot be changed.
- `sign` — a member of the audit team re-enters the password (as for record e-signatures); the signature
  stores the digest of the conclusion it signed. Changing the conclusion afterwards voids it (it no longer
  matches), so what was signed is what is issued.
- `issue` — needs a conclusion, an issue date and a valid signature of every current team member; freezes the
  revision: the rendered report and its SHA-256 are stored and shown from then on; the chain head is sealed
  for the report (`workbench.audit.seals`, kind "report") before the report is drawn, so it prints the seal.
- `new_revision` — after issue, any change needs a new revision with a reason; the issued one is kept
  (superseded) and the new one starts as a draft carrying the conclusion, unsigned.
"""
from __future__ import annotations

import hashlib
import json
from datetime import date
from typing import Callable

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench.audit import seals, service
from workbench.audit.models import Engagement
from workbench.audit.report_models import RECOMMENDATIONS, AuditReport, ReportSignature
from workbench.auth import verify_password
from workbench.errors import Conflict, Forbidden, UserError
from workbench.models import User, utcnow

MAX_STATEMENT = 10_000


def recommendation_label(r: str) -> str:
    return {"certify": _("Recommend certification (or its continuation after the audit)"),
            "continue": _("Recommend certification once the nonconformities are closed (corrective actions verified)"),
            "suspend": _("Recommend suspension or refusal")}.get(r, r or "—")


def revisions(db: Session, e: Engagement) -> list[AuditReport]:
    return list(db.exec(select(AuditReport).where(AuditReport.engagement_id == e.id)
                        .order_by(AuditReport.revision)).all())


def current(db: Session, e: Engagement) -> AuditReport | None:
    """The newest revision (draft or issued), or None before the team wrote a conclusion."""
    return db.exec(select(AuditReport).where(AuditReport.engagement_id == e.id)
                   .order_by(AuditReport.revision.desc())).first()


def latest_issued(db: Session, e: Engagement) -> AuditReport | None:
    return db.exec(select(AuditReport).where(AuditReport.engagement_id == e.id, AuditReport.status == "issued")
                   .order_by(AuditReport.revision.desc())).first()


def conclusion_digest(rep: AuditReport) -> str:
    """SHA-256 of what a team member signs: engagement, revision, recommendation, statement, issue date."""
    doc = {"engagement": rep.engagement_id, "revision": rep.revision, "recommendation": rep.recommendation,
           "statement": rep.statement, "issue_date": rep.issue_date.isoformat() if rep.issue_date else None}
    return hashlib.sha256(json.dumps(doc, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def signatures(db: Session, rep: AuditReport) -> list[ReportSignature]:
    return list(db.exec(select(ReportSignature).where(ReportSignature.report_id == rep.id)
                        .order_by(ReportSignature.signed_at, ReportSignature.id)).all())


def valid_signatures(db: Session, rep: AuditReport) -> list[ReportSignature]:
    digest = conclusion_digest(rep)
    return [s for s in signatures(db, rep) if s.digest == digest]


def missing_signers(db: Session, e: Engagement, rep: AuditReport) -> list[int]:
    signed = {s.user_id for s in valid_signatures(db, rep)}
    return [m.user_id for m in service.team(db, e) if m.user_id not in signed]


def _draft(db: Session, e: Engagement, user: User) -> AuditReport:
    rep = current(db, e)
    if rep is None:
        rep = AuditReport(engagement_id=e.id, org_id=e.org_id, revision=1, created_by=user.id)
        db.add(rep)
        db.flush()
    elif rep.status != "draft":
        raise Conflict(_("Revision %(n)s of the report is issued and cannot be changed: start a new revision, "
                         "with the reason.", n=rep.revision))
    return rep


def save_conclusion(db: Session, e: Engagement, user: User, recommendation: str, statement: str,
                    issue_date: date | None) -> AuditReport:
    if recommendation not in RECOMMENDATIONS:
        raise UserError(_("Choose the team's recommendation."), field="recommendation")
    statement = (statement or "").strip()
    if not statement:
        raise UserError(_("Write the team's statement: the conclusion and what it rests on."), field="statement")
    if len(statement) > MAX_STATEMENT:
        raise UserError(_("The statement is too long (at most %(n)s characters).", n=MAX_STATEMENT), field="statement")
    rep = _draft(db, e, user)
    rep.recommendation, rep.statement, rep.issue_date = recommendation, statement, issue_date
    db.add(rep)
    return rep


def sign(db: Session, e: Engagement, user: User, password: str, meaning: str = "audit team") -> ReportSignature:
    """A team member signs the current draft's conclusion (password re-entered)."""
    if not service.on_team(db, e, user.id):
        raise Forbidden(_("Only the audit team signs the report."))
    rep = current(db, e)
    if rep is None or not rep.recommendation:
        raise UserError(_("Save the conclusion before signing."))
    if rep.status != "draft":
        raise Conflict(_("Revision %(n)s of the report is issued and cannot be changed: start a new revision, "
                         "with the reason.", n=rep.revision))
    account = db.get(User, user.id)
    if account is None or not password or not verify_password(account.password_hash, password):
        raise UserError(_("The signature password is not correct."), field="password")
    row = db.exec(select(ReportSignature).where(ReportSignature.report_id == rep.id,
                                                ReportSignature.user_id == user.id)).first()
    if row is None:
        row = ReportSignature(report_id=rep.id, user_id=user.id, digest="")
    row.meaning, row.digest, row.signed_at = meaning[:64], conclusion_digest(rep), utcnow()
    db.add(row)
    return row


def issue(db: Session, e: Engagement, user: User, render: Callable[[], str]) -> AuditReport:
    """Freeze the current draft: it becomes "issued", then `render()` draws the report (from the same data the
    page shows, now with the issued status) and that HTML and its SHA-256 are stored."""
    if not service.on_team(db, e, user.id):
        raise Forbidden(_("Only the audit team issues the report."))
    rep = current(db, e)
    if rep is None or not rep.recommendation or not rep.statement:
        raise UserError(_("Write the conclusion before issuing the report."))
    if rep.status != "draft":
        raise Conflict(_("Revision %(n)s of the report is issued already.", n=rep.revision))
    if rep.issue_date is None:
        raise UserError(_("Give the issue date."), field="issue_date")
    missing = missing_signers(db, e, rep)
    if missing:
        names = "、".join(u.name for u in db.exec(select(User).where(User.id.in_(missing))).all())
        raise UserError(_("Every member of the audit team signs the conclusion before it is issued; missing: "
                          "%(names)s.", names=names))
    rep.status, rep.issued_at, rep.issued_by = "issued", utcnow(), user.id
    db.add(rep)
    db.flush()
    seals.seal(db, e, "report", user)  # the chain head at issue, also printed in the report (section 5)
    rep.content_html = render()
    rep.digest = hashlib.sha256(rep.content_html.encode("utf-8")).hexdigest()
    db.add(rep)
    return rep


def new_revision(db: Session, e: Engagement, user: User, reason: str) -> AuditReport:
    if not service.on_team(db, e, user.id):
        raise Forbidden(_("Only the audit team revises the report."))
    reason = (reason or "").strip()
    if not reason:
        raise UserError(_("Give the reason for the new revision."), field="reason")
    rep = current(db, e)
    if rep is None or rep.status != "issued":
        raise Conflict(_("The report is not issued yet: change the draft instead."))
    rep.status = "superseded"
    db.add(rep)
    new = AuditReport(engagement_id=e.id, org_id=e.org_id, revision=rep.revision + 1, recommendation=rep.recommendation,
                      statement=rep.statement, issue_date=None, reason=reason[:MAX_STATEMENT], created_by=user.id)
    db.add(new)
    db.flush()
    return new
