"""Issue #11: record_day_tally and process_tally are kept by triggers on `record` (migration 0021,
workbench.tallies), so the coverage matrix reads counts instead of grouping the period's records. Whatever writes
the records — the service, an edit that moves the date, raw UPDATEs (date set to NULL, template version moved),
an organization purged and restored from its archive, two writers at once — the tallies equal a GROUP BY over the
records and coverage equals the brute-force count, on SQLite and PostgreSQL; `trail verify` reports a tally
edited by hand; the coverage page's statements do not grow with the organization nor read all its records."""
from __future__ import annotations

import random
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import text, update
from sqlmodel import Session, select

from bench.scale import populate
from tests.conftest import World, load_fixture, login
from tests.test_coverage_sql import END, KEYS, START, brute_force
from tests.test_org_backup import _export, _import
from tests.test_postgres import pg_app, pg_url  # noqa: F401  (fixtures: a throw-away cluster)
from tests.test_scale_shape import MIN_MAX, WHOLE_ORG, page_shape, plans, scaled  # noqa: F401  (fixture)
from workbench import archive, integrity, records, tallies
from workbench.audit import coverage as cov_mod
from workbench.models import Organization, Record
from workbench.templates import shipped_library

KS = load_fixture("kitchen-sink.json")
DATA = {"batch_no": "B1", "inspected_on": "2025-04-05", "result": "pass", "quantity": 10}
STANDARDS = ["ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018"]


def group_by(db, org_id: int) -> tuple[dict, dict]:
    """What the tallies must hold: the records counted by day and template version, and by process."""
    days = {(d, t): n for d, t, n in db.execute(text(
        "SELECT record_date, template_id, count(*) FROM record WHERE org_id = :o AND record_date IS NOT NULL "
        "GROUP BY record_date, template_id"), {"o": org_id})}
    procs = dict(db.execute(text("SELECT template_key, count(*) FROM record WHERE org_id = :o GROUP BY template_key"),
                            {"o": org_id}).all())
    return days, procs


def kept(db, org_id: int) -> tuple[dict, dict]:
    days = {(d, t): n for d, t, n in db.execute(text(
        "SELECT record_date, template_id, records FROM record_day_tally WHERE org_id = :o"), {"o": org_id})}
    procs = dict(db.execute(text("SELECT template_key, records FROM process_tally WHERE org_id = :o"), {"o": org_id}).all())
    return days, procs


def assert_right(db, org) -> None:
    db.expire_all()
    days, procs = kept(db, org.id)
    want_days, want_procs = group_by(db, org.id)
    assert {(str(d), t): n for (d, t), n in days.items()} == {(str(d), t): n for (d, t), n in want_days.items()}
    assert procs == want_procs
    assert tallies.problems(db, org.id) == []
    for today in (date(2025, 9, 15), date(2027, 1, 1)):
        want = brute_force(db, org, STANDARDS, START, END, today)
        got = cov_mod.coverage(db, org, STANDARDS, START, END, detail=True, today=today)
        assert [(r.clause, r.counts, r.expected, r.continuous) for r in got.rows] == \
               [(r.clause, r.counts, r.expected, r.continuous) for r in want.rows]
        assert any(r.total for r in got.rows)
    scoped = cov_mod.coverage(db, org, STANDARDS, START, END, scope_processes=["calibration-record"], detail=True)
    assert sum(r.total for r in scoped.rows) <= sum(r.total for r in got.rows)


def scenario(app, db, world, tmp_path) -> None:
    lib = shipped_library()
    for k in KEYS:
        world.add_template(lib[k], world.acme)
    ks = world.add_template(KS, world.acme)
    ks2 = world.add_template(dict(KS, version=KS["version"] + 1), world.acme)
    user = world.users["member"]
    with app.test_request_context("/"):  # (before the bulk rows: PostgreSQL's id sequence does not see those)
        made = [records.create(db, world.acme, ks2, dict(DATA, inspected_on=f"2025-0{i + 3}-10"), user) for i in range(6)]
        db.commit()
        populate(db, world.acme, user, 150, scheme=1)
        assert_right(db, world.acme)
        for i, rec in enumerate(made[:4]):  # an edit moving the record to another day (and one to the same day)
            records.edit(db, rec, ks2, dict(rec.data, inspected_on="2025-11-20" if i < 3 else rec.data["inspected_on"],
                                            quantity=99), user)
            db.commit()
    assert_right(db, world.acme)
    # purge and restore: the organization from its archive (--replace deletes every record, then inserts them)
    ks_id, ks_key = ks.id, ks.key
    db.commit()
    path = _export(app, tmp_path)
    r = _import(app, path, "--replace")
    assert r.exit_code == 0, r.output
    db.expire_all()
    org = db.exec(select(Organization).where(Organization.slug == "acme")).one()
    assert_right(db, org)
    rnd = random.Random(5)
    ids = db.exec(select(Record.id, Record.template_key).where(Record.org_id == org.id)).all()
    for rid, key in ids:  # raw UPDATEs: dates scattered, some NULL and back; a template version moved
        day = START + timedelta(days=rnd.randrange(-200, 400))
        values = dict(record_date=None if rnd.random() < 0.05 else day,
                      due_date=day + timedelta(days=rnd.choice([90, 365])) if rnd.random() < 0.8 else None)
        if key == ks_key and rnd.random() < 0.5:
            values["template_id"] = ks_id
        db.exec(update(Record).where(Record.id == rid).values(**values))
    db.commit()
    assert_right(db, org)
    nulls = db.exec(update(Record).where(Record.org_id == org.id, Record.record_date.is_(None)).values(
        record_date=START + timedelta(days=40))).rowcount  # and back from NULL to a date
    db.commit()
    assert nulls and tallies.problems(db, org.id) == []
    assert_right(db, org)
    with app.extensions["workbench.engine"].begin() as conn:  # purged alone: no row of it is left
        archive.delete_org(conn, org.id)
    assert kept(db, org.id) == ({}, {})


def test_tallies_follow_edits_deletes_and_restores(app, db, world, tmp_path):
    scenario(app, db, world, tmp_path)


@pytest.mark.postgres
def test_tallies_follow_edits_deletes_and_restores_on_postgres(pg_app, tmp_path):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        scenario(pg_app, db, World(db), tmp_path)


def test_verify_reports_a_tally_edited_by_hand(app, db, world):
    tpl = world.add_template(KS, world.acme)
    user = world.users["member"]
    for i in range(5):
        records.create(db, world.acme, tpl, dict(DATA, inspected_on=f"2025-05-0{i % 2 + 1}"), user)
    db.commit()
    assert integrity.verify_org(db, world.acme.id).ok
    db.execute(text("UPDATE record_day_tally SET records = records + 1 WHERE record_date = '2025-05-01'"))
    db.execute(text("INSERT INTO record_day_tally (org_id, record_date, template_id, records) "
                    "VALUES (:o, '2024-01-01', :t, 3)"), {"o": world.acme.id, "t": tpl.id})
    db.execute(text("DELETE FROM process_tally"))
    db.commit()
    found = {p.where: p.reason for p in integrity.verify_org(db, world.acme.id).problems}
    assert found == {
        f"record_day_tally records of template version {tpl.id} on 2024-01-01": "counts 3, the records are 0 (tally edited)",
        f"record_day_tally records of template version {tpl.id} on 2025-05-01": "counts 4, the records are 3 (tally edited)",
        f"process_tally records of process {tpl.key}": "counts 0, the records are 5 (tally edited)"}, found


@pytest.mark.postgres
def test_two_writers_at_once_count_every_record_on_postgres(pg_app):  # noqa: F811
    """Both writers insert the first record of the same day at the same moment (the upsert's conflict), each
    row in its own transaction, and one of them also in a transaction of many rows."""
    engine = pg_app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        world = World(db)
        tpl = world.add_template(KS, world.acme)
        org_id, tid, key = world.acme.id, tpl.id, tpl.key
    barrier, errors = threading.Barrier(2), []
    row = dict(org_id=org_id, template_id=tid, template_key=key, state="draft", revision=1, data={}, title="t")
    insert = Record.__table__.insert()

    def writer(many: bool) -> None:
        try:
            for i in range(30):
                barrier.wait(timeout=30)
                with engine.begin() as c:
                    c.execute(insert, [dict(row, record_date=date(2025, 1, 1) + timedelta(days=i + k))
                                       for k in range(5 if many else 1)])
        except Exception as e:  # noqa: BLE001 (reported below)
            errors.append(e)
            barrier.abort()
    threads = [threading.Thread(target=writer, args=(m,)) for m in (False, True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with Session(engine) as db:
        assert kept(db, org_id) == group_by(db, org_id)
        assert kept(db, org_id)[1] == {key: 180}
        assert tallies.problems(db, org_id) == []


def test_coverage_reads_no_statement_over_all_the_records(app, world, scaled):  # noqa: F811
    grow, _nc, eid = scaled
    client = app.test_client()
    assert login(client, world.users["manager"].email).status_code == 302
    grow(300)
    url = f"/o/acme/audit/e/{eid}/coverage"
    assert client.get(url).status_code == 200
    seen = plans(app, lambda: client.get(url))
    bad = [(" ".join(s.split())[:300], line) for s, line in seen
           if WHOLE_ORG.search(line) and not MIN_MAX.match(" ".join(s.split()))]
    assert not bad, bad
    assert any("record_day_tally" in line for _s, line in seen), seen


@pytest.mark.postgres
def test_coverage_statements_do_not_grow_on_postgres(pg_app):  # noqa: F811
    from tests.test_scale_shape import KEYS as SHAPE_KEYS
    from workbench.audit.models import Engagement

    lib = shipped_library()
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        for k in SHAPE_KEYS:
            world.add_template(lib[k], world.acme)
        world.open_engagement_for_auditor()
        eid = db.exec(select(Engagement.id).where(Engagement.org_id == world.acme.id)).first()
        client = pg_app.test_client()
        assert login(client, world.users["manager"].email).status_code == 302
        shapes = {}
        for n in (100, 1_000):
            have = len(db.exec(select(Record.id).where(Record.org_id == world.acme.id)).all())
            populate(db, world.acme, world.users["member"], n - have, scheme=1)
            shapes[n] = page_shape(pg_app, client, f"/o/acme/audit/e/{eid}/coverage")
        assert shapes[100][0] == shapes[1_000][0], shapes


def test_many_final_states_fall_back_to_in_lists(app, db, world, monkeypatch):
    """More (process, final state) pairs than a UNION ALL takes: the IN-list form gives the same matrix."""
    from tests.test_coverage_sql import (
        test_sql_aggregates_equal_a_brute_force_count as same_as_brute_force,
    )

    monkeypatch.setattr(cov_mod, "MAX_PAIRS", 0)
    same_as_brute_force(app, db, world, 2)
