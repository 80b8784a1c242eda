"""Engagements, audit-team grants and findings (the views stay thin).

Access (IAF MD 4 remote audit): every auditor on an engagement's team holds one
`Membership(role="auditor")` in the organization, valid over the engagement's access window; it ends by
itself when `valid_until` passes (workbench.auth.active_memberships). An organization has one auditor
membership per user (a unique constraint), so it spans the windows of all engagements the user is
currently on; `sync_grant` recomputes it after every change. Grants, revocations and findings are written
to the organization's event chain, so who could see the records, and what the auditors concluded, is kept.
"""
from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench import clauses, trail
from workbench.audit.models import GRADES, NC_GRADES, Check, Engagement, Finding, Sample, TeamMember
from workbench.models import Membership, Organization, ProcessTemplate, Record, User, utcnow


class AuditError(ValueError):
    pass


def org_tz(org: Organization) -> ZoneInfo:
    try:
        return ZoneInfo(org.timezone)
    except Exception:  # noqa: BLE001 - unknown zone: China Standard Time
        return ZoneInfo("Asia/Shanghai")


def window(org: Organization, first_day: date, last_day: date) -> tuple[datetime, datetime]:
    """Access from the start of first_day to the end of last_day, in the organization's time zone."""
    tz = org_tz(org)
    return (datetime.combine(first_day, time.min, tzinfo=tz),
            datetime.combine(last_day + timedelta(days=1), time.min, tzinfo=tz))


def local_day(org: Organization, at: datetime, end: bool = False) -> date:
    """The organization's calendar day of `at` (for an exclusive end: the day before)."""
    d = at.astimezone(org_tz(org))
    return (d - timedelta(microseconds=1)).date() if end else d.date()


def status(e: Engagement, now: datetime | None = None) -> str:
    now = now or utcnow()
    if now < e.access_from:
        return "planned"
    return "active" if now < e.access_until else "ended"


# --- engagements ------------------------------------------------------------------------------------


def parse_clauses(text: str, standards: list[str]) -> tuple[list[dict], list[str]]:
    """Scope clauses as written by a manager: "9001 8.5.1", "ISO 14001:2015 6.1.2", or a bare "9.2" (for each
    chosen standard that has it), separated by commas, semicolons or new lines. Returns (clauses, errors)."""
    out: list[dict] = []
    errors: list[str] = []
    by_short = {v: k for k, v in clauses.SHORT.items()}
    for raw in [p.strip() for p in text.replace("；", ";").replace("，", ",").replace(";", "\n").replace(",", "\n").splitlines()]:
        if not raw:
            continue
        parts = raw.replace("ISO", "").replace(":2015", "").replace(":2018", "").split()
        if len(parts) == 2 and parts[0] in by_short:
            cands = [(by_short[parts[0]], parts[1])]
        elif len(parts) == 1:
            cands = [(s, parts[0]) for s in standards if clauses.exists(s, parts[0])]
        else:
            cands = []
        cands = [(s, c) for s, c in cands if clauses.exists(s, c) and (not standards or s in standards)]
        if not cands:
            errors.append(raw)
        for s, c in cands:
            if {"standard": s, "clause": c} not in out:
                out.append({"standard": s, "clause": c})
    return out, errors


def create_engagement(db: Session, org: Organization, user, **fields) -> Engagement:
    e = Engagement(org_id=org.id, created_by=getattr(user, "id", None), **fields)
    validate(e)
    db.add(e)
    db.flush()
    trail.append(db, org.id, "audit_engagement", actor=user, detail=_engagement_detail(e))
    from workbench.audit import seals

    seals.seal(db, e, "open", user)
    return e


def update_engagement(db: Session, e: Engagement, user, **fields) -> None:
    for k, v in fields.items():
        setattr(e, k, v)
    validate(e)
    db.add(e)
    trail.append(db, e.org_id, "audit_engagement", actor=user, detail=_engagement_detail(e))
    for m in team(db, e):
        sync_grant(db, e.org_id, m.user_id)


def _engagement_detail(e: Engagement) -> dict:
    return {"engagement": e.id, "title": e.title, "standards": e.standards, "audit_type": e.audit_type,
            "period": [e.period_start.isoformat(), e.period_end.isoformat()],
            "access": [e.access_from.isoformat(), e.access_until.isoformat()]}


def validate(e: Engagement) -> None:
    if not e.title.strip():
        raise AuditError(_("Give the engagement a title."))
    if not e.standards or any(s not in clauses.STANDARDS for s in e.standards):
        raise AuditError(_("Choose at least one standard."))
    if e.audit_type not in ("initial", "surveillance", "recertification"):
        raise AuditError(_("Choose the audit type."))
    if e.period_end < e.period_start:
        raise AuditError(_("The period under audit ends before it starts."))
    if e.access_until <= e.access_from:
        raise AuditError(_("The access window ends before it starts."))
    for c in e.scope_clauses:
        if c.get("standard") not in e.standards or not clauses.exists(c["standard"], c.get("clause", "")):
            raise AuditError(_("Unknown clause %(c)s.", c=f"{c.get('standard')} {c.get('clause')}"))


def engagements_for(db: Session, org: Organization, user, roles: set[str]) -> list[Engagement]:
    """Managers and admins see every engagement of the organization; auditors the ones they are on."""
    q = select(Engagement).where(Engagement.org_id == org.id).order_by(Engagement.access_from.desc(), Engagement.id.desc())
    rows = db.exec(q).all()
    if roles & {"manager", "admin"}:
        return list(rows)
    mine = {t.engagement_id for t in db.exec(select(TeamMember).where(TeamMember.user_id == user.id,
                                                                       TeamMember.revoked_at.is_(None))).all()}
    return [e for e in rows if e.id in mine]


def team(db: Session, e: Engagement, include_revoked: bool = False) -> list[TeamMember]:
    q = select(TeamMember).where(TeamMember.engagement_id == e.id)
    if not include_revoked:
        q = q.where(TeamMember.revoked_at.is_(None))
    return list(db.exec(q.order_by(TeamMember.id)).all())


def on_team(db: Session, e: Engagement, user_id: int) -> bool:
    return db.exec(select(TeamMember).where(TeamMember.engagement_id == e.id, TeamMember.user_id == user_id,
                                            TeamMember.revoked_at.is_(None))).first() is not None


def add_auditor(db: Session, e: Engagement, email: str, by) -> TeamMember:
    org = db.get(Organization, e.org_id)
    user = db.exec(select(User).where(User.email == (email or "").strip().lower())).first()
    if user is None:
        raise AuditError(_("No account with this email address. The auditor needs an account first."))
    other_roles = {m.role for m in db.exec(select(Membership).where(Membership.user_id == user.id,
                                                                    Membership.org_id == org.id)).all()} - {"auditor"}
    if other_roles:
        raise AuditError(_("%(name)s already works in this organization; an auditor must be independent.", name=user.name))
    row = db.exec(select(TeamMember).where(TeamMember.engagement_id == e.id, TeamMember.user_id == user.id)).first()
    if row is not None and row.revoked_at is None:
        raise AuditError(_("%(name)s is already on the audit team.", name=user.name))
    if row is None:
        row = TeamMember(engagement_id=e.id, user_id=user.id, added_by=getattr(by, "id", None))
    row.added_at, row.added_by, row.revoked_at, row.revoked_by = utcnow(), getattr(by, "id", None), None, None
    db.add(row)
    db.flush()
    sync_grant(db, org.id, user.id)
    trail.append(db, org.id, "audit_grant", actor=by, detail={"engagement": e.id, "auditor": user.id, "email": user.email,
                                                              "from": e.access_from.isoformat(), "until": e.access_until.isoformat()})
    return row


def revoke_auditor(db: Session, e: Engagement, user_id: int, by) -> None:
    row = db.exec(select(TeamMember).where(TeamMember.engagement_id == e.id, TeamMember.user_id == user_id,
                                           TeamMember.revoked_at.is_(None))).first()
    if row is None:
        raise AuditError(_("This auditor is not on the audit team."))
    row.revoked_at, row.revoked_by = utcnow(), getattr(by, "id", None)
    db.add(row)
    db.flush()
    sync_grant(db, e.org_id, user_id)
    trail.append(db, e.org_id, "audit_revoke", actor=by, detail={"engagement": e.id, "auditor": user_id})


def sync_grant(db: Session, org_id: int, user_id: int) -> Membership | None:
    """Make the user's auditor membership span the access windows of the engagements they are on now;
    with none left, end it at once (the row stays: it shows when access ended)."""
    now = utcnow()
    rows = db.exec(select(Engagement).join(TeamMember, TeamMember.engagement_id == Engagement.id)
                   .where(Engagement.org_id == org_id, TeamMember.user_id == user_id, TeamMember.revoked_at.is_(None))).all()
    m = db.exec(select(Membership).where(Membership.user_id == user_id, Membership.org_id == org_id,
                                         Membership.role == "auditor")).first()
    if not rows:
        if m is not None and (m.valid_until is None or m.valid_until > now):
            m.valid_until = now
            if m.valid_from is not None and m.valid_from > now:
                m.valid_from = now
            db.add(m)
        return m
    current = [e for e in rows if e.access_until > now] or rows
    latest = max(current, key=lambda e: (e.access_until, e.id))
    if m is None:
        m = Membership(user_id=user_id, org_id=org_id, role="auditor")
    m.valid_from = min(e.access_from for e in rows)
    m.valid_until = max(e.access_until for e in rows)
    m.engagement_id = latest.id
    db.add(m)
    return m


# --- checks and findings ---------------------------------------------------------------------------------


def mark_conforming(db: Session, e: Engagement, rec: Record, user, note: str = "") -> Check:
    row = db.exec(select(Check).where(Check.engagement_id == e.id, Check.record_id == rec.id)).first()
    if row is None:
        row = Check(engagement_id=e.id, org_id=e.org_id, record_id=rec.id)
    row.verdict, row.note, row.checked_at, row.checked_by = "conforming", (note or "").strip()[:2000], utcnow(), user.id
    db.add(row)
    db.flush()
    trail.append(db, e.org_id, "audit_check", actor=user, comment=row.note,
                 detail={"engagement": e.id, "record": rec.id, "verdict": "conforming"})
    return row


def finding_digest(f: Finding, scheme: int = trail.SCHEME) -> str:
    return trail.digest({"engagement": f.engagement_id, "number": f.number, "grade": f.grade, "standard": f.standard,
                         "clause": f.clause, "statement": f.statement, "evidence": f.evidence, "status": f.status,
                         "corrective_action_id": f.corrective_action_id, "answer_note": f.answer_note,
                         "closure_note": f.closure_note}, scheme)


def _chain_finding(db: Session, f: Finding, user, action: str, comment: str = "") -> None:
    trail.append(db, f.org_id, action, actor=user, comment=comment, data_digest=finding_digest(f),
                 detail={"engagement": f.engagement_id, "finding": f.id, "number": f.number, "grade": f.grade,
                         "status": f.status})


def raise_finding(db: Session, e: Engagement, user, *, grade: str, standard: str, clause: str, statement: str,
                  evidence: list[int], sample_id: int | None = None) -> Finding:
    grade, standard, clause, statement = (grade or "").strip(), (standard or "").strip(), (clause or "").strip(), (statement or "").strip()
    if grade not in GRADES:
        raise AuditError(_("Choose the grade of the finding."))
    if standard not in e.standards:
        raise AuditError(_("Choose one of the engagement's standards."))
    if not clauses.exists(standard, clause):
        raise AuditError(_("Clause %(clause)s does not exist in %(standard)s.", clause=clause or "—", standard=standard))
    if not statement:
        raise AuditError(_("Write the statement of the finding."))
    ids = []
    for rid in evidence:
        rec = db.get(Record, int(rid))
        if rec is None or rec.org_id != e.org_id:
            raise AuditError(_("Evidence must be records of this organization."))
        if rec.id not in ids:
            ids.append(rec.id)
    if sample_id is not None:
        s = db.get(Sample, sample_id)
        if s is None or s.engagement_id != e.id:
            sample_id = None
    number = next_finding_number(db, e)
    f = Finding(engagement_id=e.id, org_id=e.org_id, number=number, grade=grade, standard=standard, clause=clause,
                statement=statement[:5000], evidence=ids, sample_id=sample_id,
                status="open" if grade in NC_GRADES else "noted", created_by=user.id)
    db.add(f)
    db.flush()
    _chain_finding(db, f, user, "audit_finding")
    return f


def next_finding_number(db: Session, e: Engagement) -> int:
    """Take the engagement's next finding number: an atomic increment of its counter row, which write-locks
    the row until the transaction ends (SQLite: the database write lock; PostgreSQL: the row lock, and a
    waiting transaction re-reads the committed counter), so concurrent findings get 1, 2, 3 … with no
    duplicate and no gap. UNIQUE(engagement_id, number) backs it up."""
    from sqlalchemy import update
    from sqlalchemy.orm.attributes import set_committed_value

    db.flush()
    db.execute(update(Engagement).where(Engagement.id == e.id)
               .values(finding_counter=Engagement.finding_counter + 1).execution_options(synchronize_session=False))
    number = db.exec(select(Engagement.finding_counter).where(Engagement.id == e.id)).one()
    set_committed_value(e, "finding_counter", number)
    return number


def corrective_actions(db: Session, org_id: int) -> list[Record]:
    return list(db.exec(select(Record).where(Record.org_id == org_id, Record.template_key == "corrective-action")
                        .order_by(Record.id.desc()).limit(300)).all())


def answer_finding(db: Session, f: Finding, record_id: int, note: str, user) -> None:
    """The organization answers a nonconformity with one of its corrective-action records."""
    if not f.is_nc:
        raise AuditError(_("Only nonconformities are answered with a corrective action."))
    if f.status == "closed":
        raise AuditError(_("This finding is already closed."))
    rec = db.get(Record, int(record_id)) if str(record_id).isdigit() else None
    if rec is None or rec.org_id != f.org_id or rec.template_key != "corrective-action":
        raise AuditError(_("Choose a corrective-action record of this organization."))
    f.corrective_action_id, f.answer_note = rec.id, (note or "").strip()[:2000]
    f.status, f.answered_at, f.answered_by = "answered", utcnow(), user.id
    db.add(f)
    _chain_finding(db, f, user, "audit_finding_answer", f.answer_note)


def close_finding(db: Session, f: Finding, user, note: str, accept: bool) -> None:
    """The auditor verifies the corrective action: accept closes the finding, otherwise it is open again."""
    if f.status != "answered":
        raise AuditError(_("Only an answered nonconformity can be verified."))
    note = (note or "").strip()[:2000]
    if not accept and not note:
        raise AuditError(_("Say why the corrective action is not accepted."))
    f.closure_note = note
    if accept:
        f.status, f.closed_at, f.closed_by = "closed", utcnow(), user.id
    else:
        f.status = "open"
    db.add(f)
    _chain_finding(db, f, user, "audit_finding_close" if accept else "audit_finding_reopen", note)


def findings_for_record(db: Session, org_id: int, record_id: int) -> list[Finding]:
    return [f for f in db.exec(select(Finding).where(Finding.org_id == org_id).order_by(Finding.id)).all()
            if record_id in (f.evidence or []) or f.corrective_action_id == record_id]


# --- demo ------------------------------------------------------------------------------------------------


def seed_demo_engagement(db: Session, org: Organization, manager: User, auditor: User, today: date | None = None) -> Engagement | None:
    """The demo's surveillance audit: the demo auditor on the team, one month-stratified sample of the ISO 9001
    operation records, two records marked conforming and one minor nonconformity. Does nothing if the
    organization already has an engagement (idempotent)."""
    from workbench.audit import sampling

    if db.exec(select(Engagement).where(Engagement.org_id == org.id)).first() is not None:
        return None
    today = today or utcnow().date()
    now = utcnow()
    e = create_engagement(db, org, manager, title=f"{today.year} 年度监督审核（质量/环境/职业健康安全）",
                          audit_body="华信认证有限公司（示例）", standards=list(clauses.STANDARDS), audit_type="surveillance",
                          period_start=today - timedelta(days=365), period_end=today, scope_processes=[], scope_clauses=[],
                          access_from=now - timedelta(days=7), access_until=now + timedelta(days=60))
    add_auditor(db, e, auditor.email, manager)
    # population: the ISO 9001 operation records (clause 8) of the period, one or more from every month
    definition = {"start": e.period_start.isoformat(), "end": e.period_end.isoformat(), "process": None,
                  "standard": "ISO 9001:2015", "clause": "8", "state": None}
    rule = sampling.make_rule("sqrt", audit_type="surveillance", stratify="month")
    try:
        s = sampling.create_sample(db, e, definition, rule, 20260315, auditor)
    except ValueError:  # no records to sample
        db.commit()
        return e
    drawn = [db.get(Record, rid) for rid in s.drawn]
    first = next((r for r in drawn if r.template_key == "production-inspection"), drawn[0])
    for r in [r for r in drawn if r.id != first.id][:2]:
        mark_conforming(db, e, r, auditor, "记录完整，签字齐全")
    if first.template_key == "production-inspection":
        standard, clause = "ISO 9001:2015", "7.1.5.2"
        statement = (f"抽查生产检验记录 #{first.id}（{first.title}）：记录了测量结果，但未记录所用量具的编号，"
                     "无法追溯该次检验所用测量设备的校准状态。不符合 ISO 9001:2015 7.1.5.2 的要求。")
    else:
        tpl_clauses = db.get(ProcessTemplate, first.template_id).body.get("clauses") or [{}]
        standard, clause = tpl_clauses[0].get("standard", "ISO 9001:2015"), tpl_clauses[0].get("clause", "7.5.3")
        statement = f"抽查记录 #{first.id}（{first.title}）：记录未按规定完成审批即归档。"
    raise_finding(db, e, auditor, grade="minor", standard=standard, clause=clause, statement=statement,
                  evidence=[first.id], sample_id=s.id)
    db.commit()
    return e
