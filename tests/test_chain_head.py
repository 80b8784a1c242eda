"""Issue #11, record creation near its floor: the chain head lives on the organization's row (migration 0018) and
trail.append advances it with one compare-and-set UPDATE. Shape, not time: creating one record through the
service runs a fixed, small number of SQL statements that does not grow with the chain (100 vs 1,000 records);
concurrent appends from threads and from processes (as gunicorn workers) still make one gapless chain, on SQLite
and PostgreSQL; a head that disagrees with the chain is reported by `trail verify`; the migration backfills it."""
from __future__ import annotations

import multiprocessing
import re
import threading

import pytest
from sqlalchemy import event as sa_event, text
from sqlmodel import Session, select
from werkzeug.datastructures import MultiDict

import forms
from bench.chain_data import synthetic_records
from tests.conftest import World, load_fixture
from tests.test_postgres import pg_app, pg_url  # noqa: F401  (fixtures: a throw-away cluster)
from workbench import library, records, trail
from workbench.db import make_engine
from workbench.migrate import upgrade
from workbench.models import Event, Organization, Record
from workbench.services import records as service

KS = load_fixture("kitchen-sink.json")
DATA = {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": 10}
# one record through the form's code path: its row, its first revision, the chain head, its event, the webhooks
# record_value: list sort/filter values (process_tally and record_day_tally: triggers on record, workbench.tallies)
CREATE = ["INSERT INTO record", "INSERT INTO record_value", "INSERT INTO revision", "UPDATE organization", "INSERT INTO event", "SELECT api_webhook"]


def statements(engine, fn) -> list[str]:
    seen: list[str] = []

    def count(conn, cursor, statement, params, context, executemany):
        m = re.match(r"\s*(INSERT INTO|UPDATE|SELECT .*?\sFROM)\s+\"?(\w+)", statement, re.S)
        seen.append(f"{m.group(1).split()[0]}{' INTO' if m.group(1).startswith('INSERT') else ''} {m.group(2)}"
                    if m else statement[:40])
    sa_event.listen(engine, "before_cursor_execute", count)
    try:
        fn()
    finally:
        sa_event.remove(engine, "before_cursor_execute", count)
    return seen


def create_through_service(app, db, org, tpl, user):
    values = MultiDict(forms.flatten(tpl.body["schema"], DATA))
    with app.test_request_context("/"):
        res = service.submit(db, org, tpl, service.Submission(values), user)
        assert isinstance(res, service.Saved), res
        db.commit()
    return res.record


def test_creating_a_record_runs_six_statements_whatever_the_chain_length(app, db, world):
    engine = app.extensions["workbench.engine"]
    tpl = world.add_template(KS, world.acme)
    user = world.users["member"]
    counts = {}
    for size in (100, 1000):
        have = len(db.exec(select(Record.id).where(Record.org_id == world.acme.id)).all())
        synthetic_records(db, world.acme, tpl, size - have, user, scheme=1)
        create_through_service(app, db, world.acme, tpl, user)  # after the bulk rows: the head is read under the lock
        counts[size] = statements(engine, lambda: create_through_service(app, db, world.acme, tpl, user))
    assert counts[100] == counts[1000] == CREATE, counts
    assert trail.verify(db, world.acme.id).ok


def test_a_head_moved_elsewhere_costs_one_more_statement_and_the_chain_continues(app, db, world, monkeypatch):
    """Another worker appended since this process last did: the guessed head fails, the head is read under the
    lock (UPDATE … RETURNING) and its new hash stored."""
    engine = app.extensions["workbench.engine"]
    tpl = world.add_template(KS, world.acme)
    create_through_service(app, db, world.acme, tpl, world.users["member"])
    monkeypatch.setitem(trail._heads, world.acme.id, (1, "f" * 64))  # a stale guess (as after a rollback)
    seen = statements(engine, lambda: create_through_service(app, db, world.acme, tpl, world.users["member"]))
    assert seen == CREATE[:3] + ["UPDATE organization"] * 3 + CREATE[4:], seen
    v = trail.verify(db, world.acme.id)
    assert v.ok and v.head_seq == 2, v.problems
    assert db.exec(select(Organization.head_seq)).all()[0] == 2


def test_a_rolled_back_append_leaves_the_head_and_the_next_one_continues(app, db, world):
    tpl = world.add_template(KS, world.acme)
    records.create(db, world.acme, tpl, DATA, world.users["member"])
    db.commit()
    records.create(db, world.acme, tpl, DATA, world.users["member"])  # guessed head is now #2 …
    db.rollback()  # … which never happened
    records.create(db, world.acme, tpl, DATA, world.users["member"])
    db.commit()
    seqs = [e.seq for e in db.exec(select(Event).where(Event.org_id == world.acme.id).order_by(Event.seq)).all()]
    assert seqs == [1, 2]
    assert trail.verify(db, world.acme.id).ok


# --- concurrency: threads with one shared guess, threads each with its own (as processes), real processes ----------


class _PerThread(dict):
    """`trail._heads` as separate processes have it: each thread guesses from its own appends only."""

    def __init__(self):
        super().__init__()
        self.local = threading.local()

    def _d(self) -> dict:
        if not hasattr(self.local, "d"):
            self.local.d = {}
        return self.local.d

    def get(self, key, default=None):
        return self._d().get(key, default)

    def __setitem__(self, key, value):
        self._d()[key] = value


def create_in_threads(app, org_id: int, user_id: int, threads: int = 6, each: int = 5) -> list[BaseException]:
    engine = app.extensions["workbench.engine"]
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def work(i):
        try:
            with app.app_context(), Session(engine, expire_on_commit=False) as db:
                from workbench.models import User

                org, user = db.get(Organization, org_id), db.get(User, user_id)
                tpl = library.adopted(db, org, "kitchen-sink")
                barrier.wait()
                for j in range(each):
                    records.create(db, org, tpl, dict(DATA, batch_no=f"T{i}-{j}"), user)
                    db.commit()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return errors


def one_chain(engine, org_id: int, n: int) -> None:
    with Session(engine) as db:
        seqs = [e.seq for e in db.exec(select(Event).where(Event.org_id == org_id).order_by(Event.seq)).all()]
        assert seqs == list(range(1, n + 1))
        v = trail.verify(db, org_id)
        assert v.ok, v.problems
        assert db.get(Organization, org_id).head_seq == n


@pytest.mark.parametrize("guesses", ["shared", "per thread"])
def test_concurrent_appends_keep_one_chain_sqlite(app, db, world, monkeypatch, guesses):
    world.add_template(KS, world.acme)
    if guesses == "per thread":
        monkeypatch.setattr(trail, "_heads", _PerThread())
    assert create_in_threads(app, world.acme.id, world.users["member"].id) == []
    one_chain(app.extensions["workbench.engine"], world.acme.id, 30)


@pytest.mark.parametrize("guesses", ["shared", "per thread"])
def test_concurrent_appends_keep_one_chain_postgres(pg_app, monkeypatch, guesses):  # noqa: F811
    engine = pg_app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        w = World(db)
        w.add_template(KS, w.acme)
        org_id, user_id = w.acme.id, w.users["member"].id
    if guesses == "per thread":
        monkeypatch.setattr(trail, "_heads", _PerThread())
    assert create_in_threads(pg_app, org_id, user_id, threads=8) == []
    one_chain(engine, org_id, 40)


def _worker(url: str, org_id: int, user_id: int, k: int, start, done) -> None:
    from workbench import create_app
    from workbench.models import User

    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "t", "TESTING": True})
    engine = app.extensions["workbench.engine"]
    start.wait()
    with app.app_context(), Session(engine, expire_on_commit=False) as db:
        org, user = db.get(Organization, org_id), db.get(User, user_id)
        tpl = library.adopted(db, org, "kitchen-sink")
        for j in range(k):
            records.create(db, org, tpl, dict(DATA, batch_no=f"P{j}"), user)
            db.commit()
    done.put(k)


def processes_append(url: str, org_id: int, user_id: int, workers: int = 4, k: int = 8) -> int:
    ctx = multiprocessing.get_context("spawn")  # fresh processes, as gunicorn workers: no shared guess
    start, done = ctx.Event(), ctx.Queue()
    procs = [ctx.Process(target=_worker, args=(url, org_id, user_id, k, start, done)) for _ in range(workers)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(300)
    assert all(p.exitcode == 0 for p in procs), [p.exitcode for p in procs]
    return sum(done.get(timeout=5) for _ in procs)


def test_four_processes_appending_keep_one_chain_sqlite(app, db, world):
    world.add_template(KS, world.acme)
    url = str(app.extensions["workbench.engine"].url)
    n = processes_append(url, world.acme.id, world.users["member"].id)
    one_chain(app.extensions["workbench.engine"], world.acme.id, n)


def test_four_processes_appending_keep_one_chain_postgres(pg_app, pg_url):  # noqa: F811
    engine = pg_app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        w = World(db)
        w.add_template(KS, w.acme)
        org_id, user_id = w.acme.id, w.users["member"].id
    n = processes_append(pg_url, org_id, user_id)
    one_chain(engine, org_id, n)


# --- the head against the chain ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sql", ["UPDATE organization SET head_seq = head_seq + 1 WHERE slug = 'acme'",
                                 "UPDATE organization SET head_hash = :h WHERE slug = 'acme'",
                                 "DELETE FROM event WHERE seq = (SELECT max(seq) FROM event WHERE org_id = "
                                 "(SELECT id FROM organization WHERE slug = 'acme'))"])
def test_verify_reports_a_head_that_disagrees_with_the_chain(app, db, world, sql):
    tpl = world.add_template(KS, world.acme)
    for i in range(3):
        records.create(db, world.acme, tpl, dict(DATA, batch_no=f"H{i}"), world.users["member"])
    db.commit()
    assert trail.verify(db, world.acme.id).ok
    db.execute(text("PRAGMA foreign_keys=OFF"))
    db.execute(text(sql), {"h": "e" * 64})
    db.commit()
    problems = [str(p) for p in trail.verify(db, world.acme.id).problems]
    assert any(p.startswith(f"organization {world.acme.id}: its chain head") for p in problems), problems
    assert trail.verify(db, world.other.id).ok


def test_the_bulk_generator_moves_the_head(app, db, world):
    tpl = world.add_template(KS, world.acme)
    records.create(db, world.acme, tpl, DATA, world.users["member"])
    db.commit()
    synthetic_records(db, world.acme, tpl, 25, world.users["member"], chunk=10)
    records.create(db, world.acme, tpl, DATA, world.users["member"])
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert v.ok and v.events == 27, v.problems


# --- migration 0018 ---------------------------------------------------------------------------------------------


def _old_database(engine) -> None:
    """Two organizations at 0003 (before the head existed): one with three events, one with none."""
    upgrade(engine, "0003")
    with engine.begin() as c:
        for oid in (1, 2):
            c.execute(text("INSERT INTO organization (id, slug, name, timezone, created_at) "
                           "VALUES (:i, :s, 'o', 'UTC', '2026-01-01')"), {"i": oid, "s": f"o{oid}"})
        for seq in (1, 2, 3):
            c.execute(text("INSERT INTO event (org_id, seq, actor_name, at, action, comment, detail, data_digest, "
                           "prev_hash, hash) VALUES (1, :s, 'a', '2026-01-01 00:00:00', 'note', '', '{}', '', 'p', :h)"),
                      {"s": seq, "h": f"{seq}" * 64})


def _heads_after_upgrade(engine) -> dict:
    upgrade(engine)
    with engine.connect() as c:
        return {r.id: (r.head_seq, r.head_hash) for r in c.execute(text("SELECT id, head_seq, head_hash FROM organization"))}


def test_migration_0018_backfills_the_head_sqlite(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    _old_database(engine)
    assert _heads_after_upgrade(engine) == {1: (3, "3" * 64), 2: (0, trail.GENESIS)}


def test_migration_0018_backfills_the_head_postgres(pg_url):  # noqa: F811
    from tests.test_postgres import empty_schema

    empty_schema(pg_url)
    engine = make_engine(pg_url)
    try:
        _old_database(engine)
        assert _heads_after_upgrade(engine) == {1: (3, "3" * 64), 2: (0, trail.GENESIS)}
    finally:
        engine.dispose()
