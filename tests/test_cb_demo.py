"""`make demo` shows the portfolio working: a certification body, three granted clients, one with every
planted anomaly; demo credit codes pass GB 32100-2015; the demo engagement sits in its programme slot."""
from __future__ import annotations

from datetime import date

from sqlmodel import select

from workbench.audit.models import Engagement
from workbench.cb import portfolio, registry
from workbench.cb.models import Certificate
from workbench.demo import seed
from workbench.models import Organization, User

TODAY = date(2026, 11, 24)


def test_demo_portfolio(app, db):
    with app.test_request_context():
        seed(today=TODAY)
        again = seed(today=TODAY)  # idempotent
        assert again.records == 0
        cb = db.exec(select(Organization).where(Organization.slug == "huaren")).one()
        staff = db.exec(select(User).where(User.email == "cb@huaren.example")).one()
        rows = portfolio.portfolio(db, cb, staff, TODAY)
        assert {r.org.slug for r in rows} == {"demo", "lvyuan", "hengtai"}
        hengtai = next(r for r in rows if r.org.slug == "hengtai")
        assert {a.kind for a in hengtai.anomalies} >= {"backfilled", "burst", "silent", "rapid_fire"}
        assert rows[0].org.slug == "hengtai" and hengtai.risk_level == "high"
        assert hengtai.overdue  # surveillance 1 of a certificate issued 400 days ago, never held
        for o in db.exec(select(Organization)).all():
            if o.credit_code:
                assert registry.is_valid(o.credit_code), o.slug
        leap = db.exec(select(Certificate).where(Certificate.number == "HR-Q-2024-0229")).one()
        assert leap.expiry_date == date(2027, 2, 28)
        slots = {e.programme_slot: e for e in db.exec(select(Engagement).where(Engagement.certificate_id == leap.id)).all()}
        assert set(slots) == {"surveillance1", "surveillance2", "recertification"}
        assert slots["recertification"].audit_time["initial"]
        demo = next(r for r in rows if r.org.slug == "demo")
        assert not [d for d in demo.overdue if d[0].id == leap.id]
