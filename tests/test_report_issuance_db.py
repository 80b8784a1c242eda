"""Report revisions under concurrency, on SQLite and PostgreSQL: two auditors starting a new revision of the
same issued report at the same moment make exactly one revision 2 (the other is refused, nothing half-made)."""
from __future__ import annotations

import threading
from datetime import date, timedelta

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from tests.conftest import PASSWORD, World
from tests.test_postgres import pg_app, pg_url, pg_world  # noqa: F401  (fixtures: a throw-away cluster)
from workbench.audit import issuance, service
from workbench.audit.report_models import AuditReport
from workbench.errors import UserError


def _issued_report(engine, world: World) -> int:
    with Session(engine, expire_on_commit=False) as db:
        today = date(2026, 12, 1)
        start, until = service.window(world.acme, today - timedelta(days=1), today + timedelta(days=30))
        e = service.create_engagement(db, world.acme, world.users["manager"], title="监督审核", standards=["ISO 9001:2015"],
                                      audit_type="surveillance", period_start=today - timedelta(days=365),
                                      period_end=today, access_from=start, access_until=until)
        db.commit()
        service.add_auditor(db, e, world.users["auditor"].email, world.users["manager"])
        db.commit()
        auditor = world.users["auditor"]
        issuance.save_conclusion(db, e, auditor, "certify", "体系有效。", today)
        issuance.sign(db, e, auditor, PASSWORD)
        issuance.issue(db, e, auditor, lambda: "<article>v1</article>")
        db.commit()
        return e.id


def _race(engine, world: World, eid: int) -> list[str]:
    from workbench.audit.models import Engagement

    barrier, outcomes = threading.Barrier(2), []

    def work(i: int) -> None:
        with Session(engine) as db:
            e = db.get(Engagement, eid)
            auditor = db.get(type(world.users["auditor"]), world.users["auditor"].id)
            barrier.wait()
            try:
                issuance.new_revision(db, e, auditor, f"原因 {i}")
                db.commit()
                outcomes.append("ok")
            except (IntegrityError, UserError):
                db.rollback()
                outcomes.append("refused")

    threads = [threading.Thread(target=work, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return outcomes


def _check(engine, eid: int, outcomes: list[str]) -> None:
    assert sorted(outcomes) == ["ok", "refused"], outcomes
    with Session(engine) as db:
        rows = db.exec(select(AuditReport).where(AuditReport.engagement_id == eid).order_by(AuditReport.revision)).all()
        assert [r.revision for r in rows] == [1, 2]
        assert rows[0].content_html == "<article>v1</article>" and rows[1].status == "draft"


def test_one_new_revision_at_a_time_sqlite(app, world):
    engine = app.extensions["workbench.engine"]
    eid = _issued_report(engine, world)
    _check(engine, eid, _race(engine, world, eid))


@pytest.mark.postgres
def test_one_new_revision_at_a_time_postgres(pg_app, pg_world):  # noqa: F811
    engine = pg_app.extensions["workbench.engine"]
    eid = _issued_report(engine, pg_world)
    _check(engine, eid, _race(engine, pg_world, eid))
