"""Issue #11: the coverage matrix is computed from SQL aggregates (records per template version and month; the
scheduled processes' records grouped with their counts). It must give exactly what counting the loaded records
one by one gives — checked here on random small organizations (dates, states, subjects and due dates shuffled)."""
from __future__ import annotations

import random
from datetime import date, timedelta

import pytest
from sqlalchemy import update
from sqlmodel import select

from bench.scale import populate
from workbench import library
from workbench.audit import coverage as cov_mod
from workbench.models import ProcessTemplate, Record
from workbench.templates import shipped_library
from workbench.workflow import is_final

KEYS = ("production-inspection", "internal-audit", "calibration-record", "energy-water", "management-review")
START, END = date(2025, 3, 1), date(2026, 2, 28)


def brute_force(db, org, standards, start, end, today):
    """The matrix the way it was computed before: every record in the period loaded, counted in Python."""
    recs = db.exec(select(Record.template_id, Record.record_date).where(
        Record.org_id == org.id, Record.record_date >= start, Record.record_date <= end)).all()
    tids = {t for t, _d in recs}
    bodies = {t.id: t.body.get("clauses") or [] for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.id.in_(tids or {0}))).all()}
    procs = library.processes(db, org)
    adopted = {t.key: t.body.get("clauses") or [] for t in procs}
    history = {t.key: [] for t in procs}
    for key, tid, d, subject, due, state in db.exec(select(Record.template_key, Record.template_id, Record.record_date,
                                                           Record.subject, Record.due_date, Record.state).where(
            Record.org_id == org.id, Record.record_date <= end)).all():
        if key in history:
            history[key].append((d, subject, due, is_final(db.get(ProcessTemplate, tid).body, state)))
    expected = {t.key: cov_mod.expected_dates(t.body.get("schedule"), history[t.key], start, end) for t in procs}
    return cov_mod.compute(cov_mod.clause_rows(standards, None, True), cov_mod.months_between(start, end), recs, bodies,
                           adopted, expected, today)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_sql_aggregates_equal_a_brute_force_count(app, db, world, seed):
    lib = shipped_library()
    for k in KEYS:
        world.add_template(lib[k], world.acme)
    populate(db, world.acme, world.users["member"], 150, scheme=1)
    rnd = random.Random(seed)
    ids = db.exec(select(Record.id, Record.template_key).where(Record.org_id == world.acme.id)).all()
    states = {t.key: list(t.body["workflow"]["states"]) for t in library.processes(db, world.acme)}
    for rid, key in ids:  # scatter the derived columns (the chain does not matter to coverage)
        day = START + timedelta(days=rnd.randrange(-200, 400))
        db.exec(update(Record).where(Record.id == rid).values(
            record_date=None if rnd.random() < 0.05 else day, state=rnd.choice(states[key]),
            subject=rnd.choice(["A", "B", "C", None]),  # identical rows: grouped and counted
            due_date=day + timedelta(days=rnd.choice([90, 180, 365])) if rnd.random() < 0.8 else None))
    db.commit()
    standards = ["ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018"]
    for today in (date(2025, 9, 15), date(2027, 1, 1)):
        want = brute_force(db, world.acme, standards, START, END, today)
        got = cov_mod.coverage(db, world.acme, standards, START, END, detail=True, today=today)
        assert got.months == want.months and got.current == want.current and got.judged_until == want.judged_until
        assert [(r.standard, r.clause, r.templates, r.counts, r.expected, r.continuous) for r in got.rows] == \
               [(r.standard, r.clause, r.templates, r.counts, r.expected, r.continuous) for r in want.rows]
        assert got.empty_cells == want.empty_cells
        assert any(r.total for r in got.rows) and any(any(r.expected) for r in got.rows)
