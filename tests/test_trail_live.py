"""`trail verify` on a live database and at scale (issue #9.4), and finding numbers under concurrency (#10.15):
- verification reads one consistent snapshot: while four threads keep creating and transitioning records it
  reports zero problems (SQLite and PostgreSQL);
- it streams the chain and checks records in batches: its peak memory hardly grows from 2,000 to 20,000
  records (and it never builds an IN (...) over all ids);
- eight auditors raising findings at once get numbers 1…8, no duplicate, no gap (SQLite and PostgreSQL)."""
from __future__ import annotations

import threading
import tracemalloc
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import event as sa_event
from sqlmodel import Session, select

from bench.chain_data import synthetic_records
from tests.conftest import PASSWORD, World, load_fixture
from tests.test_postgres import pg_app, pg_url  # noqa: F401  (the throw-away PostgreSQL cluster)
from workbench import records, trail, workflow
from workbench.audit import service
from workbench.audit.models import Finding
from workbench.models import Event, Organization, ProcessTemplate, Record, User

KS = load_fixture("kitchen-sink.json")


class Actor:
    def __init__(self, user):
        self.id, self.name = user.id, user.name


def _writers(app, engine, org_id, tpl_id, user, stop, errors, counts):
    def work(n):
        with Session(engine, expire_on_commit=False) as db:
            org, tpl = db.get(Organization, org_id), db.get(ProcessTemplate, tpl_id)
            i = 0
            while not stop.is_set():
                try:
                    with app.app_context():
                        rec = records.create(db, org, tpl, {"batch_no": f"T{n}-{i}", "inspected_on": "2026-01-05",
                                                            "result": "pass", "quantity": i + 1}, user)
                        db.commit()
                        workflow.take(db, rec, tpl.body, "submit", user, {"member"}, password=PASSWORD)
                        db.commit()
                    counts[n] += 1
                except Exception as exc:  # noqa: BLE001 - reported below
                    db.rollback()
                    errors.append(repr(exc))
                    return
                i += 1
    return [threading.Thread(target=work, args=(n,)) for n in range(4)]


def check_live(app, engine, org_id, tpl_id, user, rounds=4):
    stop, errors, counts = threading.Event(), [], [0, 0, 0, 0]
    threads = _writers(app, engine, org_id, tpl_id, user, stop, errors, counts)
    for t in threads:
        t.start()
    try:
        results = []
        while len(results) < rounds or sum(counts) < 20:
            with trail.snapshot(engine) as s:
                results.append(trail.verify(s, org_id))
            if errors:
                break
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert not errors, errors[:3]
    assert sum(counts) >= 20, counts
    for v in results:
        assert v.ok, [str(p) for p in v.problems[:5]]
    with trail.snapshot(engine) as s:
        final = trail.verify(s, org_id)
    assert final.ok and final.events >= 2 * sum(counts)
    assert len({v.head_seq for v in results}) > 1, "the writers should have moved the head between verifications"


def test_verify_reads_one_snapshot_while_four_threads_write_sqlite(app, db, world):
    tpl = world.add_template(KS, world.acme)
    check_live(app, app.extensions["workbench.engine"], world.acme.id, tpl.id, Actor(world.users["member"]))


@pytest.mark.postgres
def test_verify_reads_one_snapshot_while_four_threads_write_postgres(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        w = World(db)
        tpl = w.add_template(KS, w.acme)
        check_live(pg_app, pg_app.extensions["workbench.engine"], w.acme.id, tpl.id, Actor(w.users["member"]))


def test_cli_verify_uses_a_snapshot(app, db, world):
    """The command runs verification inside trail.snapshot (one BEGIN, every read inside it)."""
    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from workbench.cli import main

    statements = []
    engine = app.extensions["workbench.engine"]
    sa_event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2].strip().split()[0].upper()))
    out = CliRunner().invoke(main, ["trail", "verify"], obj=ScriptInfo(create_app=lambda: app))
    assert out.exit_code == 0, out.output
    assert statements[0] == "BEGIN" and statements.count("BEGIN") == 1


def _peak_verify(db, org_id) -> tuple[int, int]:
    db.expire_all()
    tracemalloc.start()
    try:
        v = trail.verify(db, org_id)
        _cur, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert v.ok, v.problems[:3]
    return v.events, peak


def test_verify_memory_does_not_grow_with_the_organization(app, db, world):
    tpl = world.add_template(KS, world.acme)
    user = world.users["member"]
    small = world.org("small", "小")
    synthetic_records(db, small, tpl, 2_000, user, scheme=1)  # scheme 1 hashes 10× faster; same shape
    big = world.org("big", "大")
    synthetic_records(db, big, tpl, 20_000, user, scheme=1)
    with app.app_context():
        n_small, peak_small = _peak_verify(db, small.id)
        n_big, peak_big = _peak_verify(db, big.id)
    assert (n_small, n_big) == (2_000, 20_000)
    # linear growth would be 10×; streaming keeps it within a small factor (batches, caches)
    assert peak_big < 2.5 * peak_small, (peak_small, peak_big)
    assert peak_big < 40 * 2**20


def test_verify_never_binds_all_ids_at_once(app, db, world):
    """SQLite allows 32,766 bound variables (fewer in older builds): count the largest IN list used."""
    tpl = world.add_template(KS, world.acme)
    synthetic_records(db, world.acme, tpl, 3_000, world.users["member"])
    widest = []
    engine = app.extensions["workbench.engine"]

    def track(conn, cursor, statement, params, context, executemany):
        if not executemany and isinstance(params, (tuple, list)):
            widest.append(len(params))
    sa_event.listen(engine, "before_cursor_execute", track)
    try:
        with app.app_context(), trail.snapshot(engine) as s:
            assert trail.verify(s, world.acme.id).ok
    finally:
        sa_event.remove(engine, "before_cursor_execute", track)
    assert max(widest) <= 1_001


# --- finding numbers under concurrency ----------------------------------------------------------------------


def raise_concurrently(app, engine, org_id, auditor_id, n=8) -> list[int]:
    with Session(engine, expire_on_commit=False) as db:
        org = db.get(Organization, org_id)
        now = datetime.now(timezone.utc)
        with app.test_request_context():
            e = service.create_engagement(db, org, None, title="race", audit_body="", standards=["ISO 9001:2015"],
                                          audit_type="surveillance", period_start=now.date() - timedelta(days=30),
                                          period_end=now.date(), scope_processes=[], scope_clauses=[],
                                          access_from=now - timedelta(days=1), access_until=now + timedelta(days=1))
            db.commit()
        eid = e.id
    barrier, errors = threading.Barrier(n), []

    def one(i):
        with Session(engine, expire_on_commit=False) as db:
            from workbench.audit.models import Engagement

            e = db.get(Engagement, eid)
            user = db.get(User, auditor_id)
            barrier.wait()
            try:
                with app.test_request_context():
                    service.raise_finding(db, e, user, grade="observation", standard="ISO 9001:2015", clause="8.5.1",
                                          statement=f"finding {i}", evidence=[])
                    db.commit()
            except Exception as exc:  # noqa: BLE001
                errors.append(repr(exc))
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    with Session(engine) as db:
        numbers = sorted(f.number for f in db.exec(select(Finding).where(Finding.engagement_id == eid)).all())
        assert trail.verify(db, org_id).ok
    return numbers


def test_finding_numbers_unique_and_gapless_under_concurrency_sqlite(app, db, world):
    assert raise_concurrently(app, app.extensions["workbench.engine"], world.acme.id, world.users["auditor"].id) == list(range(1, 9))


@pytest.mark.postgres
def test_finding_numbers_unique_and_gapless_under_concurrency_postgres(pg_app):  # noqa: F811
    engine = pg_app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        w = World(db)
    assert raise_concurrently(pg_app, engine, w.acme.id, w.users["auditor"].id) == list(range(1, 9))


def test_the_database_refuses_a_duplicate_finding_number(app, db, world):
    from sqlalchemy.exc import IntegrityError

    numbers = raise_concurrently(app, app.extensions["workbench.engine"], world.acme.id, world.users["auditor"].id, n=2)
    assert numbers == [1, 2]
    f = db.exec(select(Finding)).first()
    db.add(Finding(engagement_id=f.engagement_id, org_id=f.org_id, number=1, grade="observation", standard="ISO 9001:2015",
                   clause="8.5.1", statement="dup"))
    with pytest.raises(IntegrityError):
        db.commit()
    db.rollback()
