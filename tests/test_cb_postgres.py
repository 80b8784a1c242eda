"""The certification-body code on PostgreSQL: the anomaly detectors' date arithmetic (epoch / julianday
differ by dialect), and two managers issuing the same certificate number at once (one wins, one gets 409)."""
from __future__ import annotations

import threading
from datetime import date, datetime, timedelta, timezone

import pytest
from sqlmodel import Session

from tests.test_postgres import pg_app, pg_url  # noqa: F401  (fixtures: a throw-away cluster)
from tests.conftest import World
from workbench import anomalies
from workbench.cb import certificates
from workbench.errors import Conflict
from workbench.models import Record
from workbench.templates import shipped_library

pytestmark = pytest.mark.postgres
TODAY = date(2026, 11, 30)


def at(d: date, hh: int = 9, seconds: int = 0) -> datetime:
    return datetime(d.year, d.month, d.day, hh, tzinfo=timezone.utc) + timedelta(seconds=seconds)


def test_anomalies_on_postgres(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        w = World(db)
        t = w.add_template(shipped_library()["training-record"])
        p = w.add_template(shipped_library()["production-inspection"])

        def rec(tpl, on, created, user="member"):
            r = Record(org_id=w.acme.id, template_id=tpl.id, template_key=tpl.key, state="draft", data={}, title="x",
                       record_date=on, created_at=created, updated_at=created, created_by=w.users[user].id)
            db.add(r)
            return r

        for m in range(1, 12):  # an ordinary year
            d = date(2025, 12, 1) + timedelta(days=30 * m)
            rec(p, d, at(d))
        late = [rec(t, date(2026, 3, 1), at(date(2026, 11, 20), 8, i)) for i in range(3)]
        fast = [rec(p, date(2026, 11, 25), at(date(2026, 11, 25), 14, 15 * i), "manager") for i in range(12)]
        db.commit()
        [b] = anomalies.backfilled(db, w.acme.id, date(2026, 1, 1), TODAY, 30)
        assert sorted(b.record_ids) == sorted(r.id for r in late) and b.params["max_days"] >= 260
        [burst] = anomalies.bursts(db, w.acme.id, TODAY, 14, 3)
        assert set(r.id for r in fast) <= set(burst.record_ids)
        [rf] = anomalies.rapid_fire(db, w.acme.id, date(2026, 11, 1), TODAY, 10, 5)
        assert sorted(rf.record_ids) == sorted(r.id for r in fast)
        silent = anomalies.silent_processes(db, w.acme.id, TODAY, 6)
        assert [a.params["key"] for a in silent] == ["training-record"]


def test_concurrent_certificate_numbers_on_postgres(pg_app):  # noqa: F811
    engine = pg_app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        w = World(db)
        from workbench.models import Organization

        cb = Organization(slug="cqc", name="CB", kind="cb")
        db.add(cb)
        db.commit()
        acme_id, cb_id = w.acme.id, cb.id
    results: list[str] = []
    barrier = threading.Barrier(4)

    def issue():
        with pg_app.test_request_context(), Session(engine, expire_on_commit=False) as db:
            from workbench.models import Organization

            org, cb = db.get(Organization, acme_id), db.get(Organization, cb_id)
            barrier.wait()
            try:
                certificates.issue(db, org, None, standard="ISO 9001:2015", number="SAME-1", scope="",
                                   issue_date=date(2026, 1, 5), cb_org=cb)
                db.commit()
                results.append("ok")
            except Conflict:
                db.rollback()
                results.append("conflict")

    threads = [threading.Thread(target=issue) for _ in range(4)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(results) == ["conflict"] * 3 + ["ok"]
    with Session(engine) as db:
        from workbench import trail

        assert trail.verify(db, acme_id, record_id=-1).ok
