"""Demo data for the certification body's side: 华认认证中心 (a certification body) with two staff, three
client organizations granting it access — the demo's 示例精密制造 and 苏州绿源, and 恒泰阀门 with planted
anomalies (records backfilled months later, a burst just before its audit, one person entering many records
within minutes, a silent process) — certificates (one issued on 29 February), registry facts, and the demo
engagement placed in its programme slot with an audit-time calculation. Idempotent."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from sqlmodel import Session, select

from workbench import library, records
from workbench.cb import audit_time, certificates, grants
from workbench.models import Membership, Organization, User, utcnow

CB = ("huaren", "华认认证中心（示例认证机构）", "12100000400012345P")
CB_USERS = [("cb@huaren.example", "李明（审核组长）", "member"), ("cbmanager@huaren.example", "刘洋（认证决定）", "manager")]
CLIENT = ("hengtai", "浙江恒泰阀门有限公司", 38, "91320583MA1T4RGH86")
CREDIT = {"demo": "91320506MA1W8K3Q29", "lvyuan": "91320505MA1MUYXN69"}


def _org(db: Session, slug: str, name: str, headcount: int | None = None, kind: str = "client") -> Organization:
    org = db.exec(select(Organization).where(Organization.slug == slug)).first()
    if org is None:
        org = Organization(slug=slug, name=name, headcount=headcount, kind=kind)
        db.add(org)
        db.flush()
    return org


def _user(db: Session, email: str, name: str, org: Organization, role: str, password_hash: str) -> User:
    user = db.exec(select(User).where(User.email == email)).first()
    if user is None:
        user = User(email=email, name=name, password_hash=password_hash)
        db.add(user)
        db.flush()
    if not db.exec(select(Membership).where(Membership.user_id == user.id, Membership.org_id == org.id)).first():
        db.add(Membership(user_id=user.id, org_id=org.id, role=role))
    return user


def _at(d: date, hh: int, mm: int = 0, ss: int = 0) -> datetime:
    return datetime.combine(d, time(hh, 0), tzinfo=timezone.utc) + timedelta(minutes=mm, seconds=ss)


def _planted(db: Session, org: Organization, people: dict[str, User], today: date) -> int:
    """A client whose records show each anomaly the portfolio looks for."""
    from workbench.demo import record_from_example

    tpl = {t.key: t for t in library.processes(db, org)}
    made = 0

    def make(key: str, on: date, at: datetime, who: User, example: int = 0) -> None:
        nonlocal made
        body = tpl[key].body
        data = record_from_example(body, body["examples"][example % len(body["examples"])], on)
        records.create(db, org, tpl[key], data, who, at=at)
        made += 1

    # an ordinary year of production inspection: two a month, entered the same day
    for m in range(12, 0, -1):
        d = today - timedelta(days=30 * m)
        make("production-inspection", d, _at(d, 2), people["member"], m)
        make("production-inspection", d + timedelta(days=12), _at(d + timedelta(days=12), 3), people["member"], m + 1)
    # internal audit 9 months ago, nothing since: a silent process
    d = today - timedelta(days=270)
    make("internal-audit", d, _at(d, 6), people["manager"])
    # training records entered 5 days ago for sessions held about 7 months earlier: backfilled
    for i in range(4):
        on = today - timedelta(days=215 - 7 * i)
        make("training-record", on, _at(today - timedelta(days=5), 7, i), people["manager"], i)
    # a burst of inspection records in the 10 days before the audit (the audit starts in 3 days)
    for i in range(12):
        d = today - timedelta(days=9) + timedelta(days=i % 9)
        make("production-inspection", d, _at(d, 8, i), people["member"], i)
    # 15 supplier evaluations by one person within five minutes
    for i in range(15):
        make("supplier-evaluation", today - timedelta(days=60 + i), _at(today - timedelta(days=2), 9, 0, 20 * i),
             people["member"], i)
    return made


def seed(db: Session, today: date, password_hash: str) -> int:
    """Create the certification body, its staff, the third client and the grants, certificates and registry
    facts. Returns the number of records created (0 when already seeded)."""
    if db.exec(select(Organization).where(Organization.slug == CB[0])).first() is not None:
        return 0
    cb = _org(db, CB[0], CB[1], kind="cb")
    cb.credit_code = CB[2]
    staff = {role: _user(db, email, name, cb, role, password_hash) for email, name, role in CB_USERS}
    client = _org(db, CLIENT[0], CLIENT[1], CLIENT[2])
    client.credit_code = CLIENT[3]
    library.adopt_library(db, client)
    boss = _user(db, "manager@hengtai.example", "吴刚（管理者代表）", client, "manager", password_hash)
    clerk = _user(db, "member@hengtai.example", "郑丽（质检员）", client, "member", password_hash)
    db.flush()
    made = _planted(db, client, {"manager": boss, "member": clerk}, today)
    demo = db.exec(select(Organization).where(Organization.slug == "demo")).first()
    lvyuan = db.exec(select(Organization).where(Organization.slug == "lvyuan")).first()
    for slug, code in CREDIT.items():
        o = demo if slug == "demo" else lvyuan
        if o is not None:
            o.credit_code = code
    if lvyuan is not None:
        lvyuan.discharge_permit_no, lvyuan.discharge_permit_expiry = "91320505MA1MUYXN69001V", today + timedelta(days=45)
    decider = staff["manager"]
    issued = []
    for org, standard, number, issue, headcount in [
        (demo, "ISO 9001:2015", "HR-Q-2024-0229", date(2024, 2, 29), 120),
        (demo, "ISO 14001:2015", "HR-E-2025-0310", today - timedelta(days=300), 120),
        (lvyuan, "ISO 14001:2015", "HR-E-2025-0612", today - timedelta(days=200), 45),
        (client, "ISO 9001:2015", "HR-Q-2025-0088", today - timedelta(days=400), 30),
    ]:
        if org is None:
            continue
        issued.append(certificates.issue(db, org, decider, standard=standard, number=number, issue_date=issue,
                                         scope="精密机械零件的加工与检验" if org is not lvyuan else "环保材料的生产",
                                         sites=[org.name], headcount=headcount, cb_org=cb))
    for org in (demo, lvyuan, client):
        if org is not None:
            manager = db.exec(select(User).join(Membership, Membership.user_id == User.id).where(
                Membership.org_id == org.id, Membership.role == "manager")).first()
            grants.grant(db, org, cb.slug, manager)
    # 恒泰's overdue first surveillance, starting in three days (the burst came just before it)
    from workbench.audit.models import Engagement
    from workbench.audit.service import create_engagement

    hengtai_cert = next((c for c in issued if c.org_id == client.id), None)
    now = utcnow()
    create_engagement(db, client, boss, title=f"{today.year} 年第一次监督审核（质量）", audit_body=cb.name,
                      standards=["ISO 9001:2015"], audit_type="surveillance", period_start=today - timedelta(days=365),
                      period_end=today, scope_processes=[], scope_clauses=[], access_from=now + timedelta(days=3),
                      access_until=now + timedelta(days=10), programme_slot="surveillance1",
                      certificate_id=hengtai_cert.id if hengtai_cert else None)
    # the demo's 9001 cycle (certificate of 29 February 2024): both surveillances held, recertification now
    demo_boss = db.exec(select(User).where(User.email == "manager@demo.example")).first()
    for slot, held in (("surveillance1", date(2025, 2, 10)), ("surveillance2", date(2026, 2, 5))):
        if demo is None or not issued or held > today:
            continue
        start = datetime.combine(held, time(1), tzinfo=timezone.utc)
        create_engagement(db, demo, demo_boss, title=f"{held.year} 年监督审核（质量）", audit_body=cb.name,
                          standards=["ISO 9001:2015"], audit_type="surveillance", period_start=held - timedelta(days=365),
                          period_end=held, scope_processes=[], scope_clauses=[], access_from=start,
                          access_until=start + timedelta(days=2), programme_slot=slot, certificate_id=issued[0].id)
    # the demo's current engagement: the recertification of that certificate, with its audit time

    e = db.exec(select(Engagement).where(Engagement.org_id == demo.id)).first() if demo else None
    if e is not None and issued:
        e.certificate_id, e.programme_slot = issued[0].id, "recertification"
        e.audit_time = audit_time.calculate(
            full_time=110, part_time_hours=260, shifts=2,
            standards=[{"standard": "ISO 9001:2015"}, {"standard": "ISO 14001:2015", "complexity": "medium"},
                       {"standard": "ISO 45001:2018", "complexity": "medium"}],
            adjustments=[{"percent": -10, "reason": "无设计开发（8.3 不适用）", "standard": "ISO 9001:2015"}],
            integration_percent=15, integration_reason="一体化管理手册、联合内审与管理评审").as_dict()
        db.add(e)
    db.commit()
    return made
