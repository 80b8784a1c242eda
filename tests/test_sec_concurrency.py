"""Independence under concurrency (issue #10 item 2): a request making a person a member and one putting
them on an audit team, at the same moment, never both succeed — on SQLite and on PostgreSQL (threads,
as several workers would)."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlmodel import Session, select

from tests.conftest import World
from tests.test_postgres import pg_app, pg_url  # noqa: F401  (fixtures: a throw-away cluster)
from workbench import members
from workbench.audit import service
from workbench.models import Membership, User, utcnow

ROUNDS = 4


def race(app) -> list[set[str]]:
    engine = app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        w = World(db)
        now = utcnow()
        e = service.create_engagement(db, w.acme, w.users["manager"], title="race", standards=["ISO 9001:2015"],
                                      audit_type="surveillance", period_start=now.date(), period_end=now.date(),
                                      scope_processes=[], scope_clauses=[], access_from=now - timedelta(days=1),
                                      access_until=now + timedelta(days=5))
        db.commit()
        people = [w.user(f"p{i}@race.test", f"p{i}", None, None).id for i in range(ROUNDS)]
        org_id, eid, manager_id = w.acme.id, e.id, w.users["manager"].id
    outcomes = []
    for uid in people:
        barrier = threading.Barrier(2)

        def as_member():
            with app.app_context(), Session(engine, expire_on_commit=False) as db:
                from workbench.models import Organization

                barrier.wait()
                try:
                    members.grant(db, db.get(Organization, org_id), db.get(User, uid), "member", by=db.get(User, manager_id))
                    db.commit()
                except members.MembershipError:
                    db.rollback()

        def as_auditor():
            with app.app_context(), Session(engine, expire_on_commit=False) as db:
                from workbench.audit.models import Engagement

                barrier.wait()
                try:
                    service.grant_auditor(db, db.get(Engagement, eid), db.get(User, uid), db.get(User, manager_id))
                    db.commit()
                except service.AuditError:
                    db.rollback()

        threads = [threading.Thread(target=as_member), threading.Thread(target=as_auditor)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        with Session(engine) as db:
            outcomes.append({m.role for m in db.exec(select(Membership).where(Membership.user_id == uid)).all()})
    return outcomes


def test_member_and_auditor_at_once_on_sqlite(app):
    for roles in race(app):
        assert roles in ({"member"}, {"auditor"}), roles


@pytest.mark.postgres
def test_member_and_auditor_at_once_on_postgres(pg_app):  # noqa: F811
    for roles in race(pg_app):
        assert roles in ({"member"}, {"auditor"}), roles
