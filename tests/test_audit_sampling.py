"""Audit sampling: IAF MD 1 sizes in exact arithmetic, seeded and re-drawable samples, stratification,
"draw more" keeping the first draw, and verification catching a tampered stored sample."""
from __future__ import annotations

import math
from datetime import date, timedelta
from decimal import Decimal, getcontext

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlmodel import select

from tests.conftest import load_fixture
from tests.sample_frames import frame_of, redraw
from workbench import records
from workbench.audit import sampling
from workbench.audit.models import Engagement, Sample
from workbench.models import Event, ProcessTemplate, utcnow

IDS = list(range(101, 401))  # a population of 300 record ids


@pytest.mark.parametrize("audit_type,sizes", [
    ("initial", [1, 2, 4, 10, 32]),
    ("surveillance", [1, 1, 2, 6, 19]),
    ("recertification", [1, 2, 3, 8, 26]),
])
def test_square_root_sizes_are_exact(audit_type, sizes):
    assert [sampling.sqrt_size(n, audit_type) for n in (1, 2, 10, 100, 1000)] == sizes
    rule = sampling.make_rule("sqrt", audit_type=audit_type)
    assert [sampling.rule_size(rule, n) for n in (1, 2, 10, 100, 1000)] == sizes
    assert sampling.sqrt_size(0, audit_type) == 0


def test_square_root_sizes_match_high_precision_arithmetic():
    """No float drift anywhere (0.6·√100 is exactly 6; a float computation gives 6.000000000000001 → 7)."""
    getcontext().prec = 60
    factor = {"initial": Decimal(1), "surveillance": Decimal("0.6"), "recertification": Decimal("0.8")}
    for audit_type, f in factor.items():
        for n in list(range(1, 3000)) + [10**6, 10**6 + 1, 99_980_001, 10**10]:
            exact = math.ceil(f * Decimal(n).sqrt())
            assert sampling.sqrt_size(n, audit_type) == max(1, min(exact, n)), (audit_type, n)


def test_fixed_and_percentage_rules_are_bounded():
    fixed = sampling.make_rule("fixed", n="5")
    assert [sampling.rule_size(fixed, n) for n in (0, 1, 3, 5, 100)] == [0, 1, 3, 5, 5]
    pct = sampling.make_rule("percent", percent="12.5")
    assert [sampling.rule_size(pct, n) for n in (0, 1, 8, 9, 80, 81)] == [0, 1, 1, 2, 10, 11]
    assert sampling.rule_size(sampling.make_rule("percent", percent="100"), 7) == 7
    for bad in [dict(kind="fixed", n="0"), dict(kind="fixed", n="x"), dict(kind="percent", percent="0"),
                dict(kind="percent", percent="101"), dict(kind="percent", percent="abc"), dict(kind="sqrt", audit_type="x"),
                dict(kind="nope"), dict(kind="fixed", n="3", stratify="week")]:
        kind = bad.pop("kind")
        with pytest.raises(ValueError):
            sampling.make_rule(kind, **bad)


def test_same_population_and_seed_give_the_same_sample_different_seed_another():
    rule = sampling.make_rule("sqrt", audit_type="initial")
    a = sampling.draw(IDS, 424242, rule)
    assert a == sampling.draw(list(reversed(IDS)), 424242, rule)  # only the set of ids matters
    assert len(a) == 18 == len(set(a)) and set(a) <= set(IDS)
    assert sampling.draw(IDS, 424243, rule) != a
    # pinned: the algorithm must not change silently, or stored samples would no longer verify
    assert sampling.draw_order([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 7) == [3, 8, 5, 7, 9, 10, 1, 6, 2, 4]


def test_shuffle_never_uses_hash_randomisation():
    """The order depends on the seed only: same result in a fresh interpreter with another PYTHONHASHSEED."""
    import subprocess
    import sys

    code = "from workbench.audit import sampling; print(sampling.draw_order(list(range(50)), 99, ['m%d' % (i % 4) for i in range(50)]))"
    outs = {subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                           env={"PYTHONHASHSEED": h, "PATH": ""}).stdout for h in ("1", "2")}
    assert len(outs) == 1
    assert outs.pop().strip() == str(sampling.draw_order(list(range(50)), 99, ["m%d" % (i % 4) for i in range(50)]))


def test_stratification_covers_every_non_empty_stratum():
    strata = ["2026-01"] * 200 + ["2026-02"] * 60 + ["2026-03"] * 30 + ["2026-04"] * 9 + ["2026-05"]
    by_id = dict(zip(IDS, strata))
    rule = sampling.make_rule("fixed", n=3, stratify="month")
    s = sampling.draw(IDS, 5, rule, strata)
    assert {by_id[i] for i in s} == set(strata)  # 5 strata, though the rule says 3
    assert len(s) == 5
    # proportional beyond the first place of each stratum
    big = sampling.draw(IDS, 5, sampling.make_rule("fixed", n=30, stratify="month"), strata)
    counts = {k: sum(1 for i in big if by_id[i] == k) for k in set(strata)}
    assert counts == {"2026-01": 19, "2026-02": 6, "2026-03": 3, "2026-04": 1, "2026-05": 1}  # ideal 20 : 6 : 3 : 0.9 : 0.1
    # not stratified: the strata are ignored
    assert sampling.draw(IDS, 5, sampling.make_rule("fixed", n=3), strata) == sampling.draw(IDS, 5, sampling.make_rule("fixed", n=3))


@settings(max_examples=60, deadline=None)
@given(sizes=st.lists(st.integers(1, 40), min_size=1, max_size=8), seed=st.integers(1, 10**12), k=st.integers(1, 60),
       more=st.integers(1, 40))
def test_stratified_draws_are_prefix_stable_and_cover_strata(sizes, seed, k, more):
    ids, strata = [], []
    for s, n in enumerate(sizes):
        for _ in range(n):
            ids.append(len(ids) * 3 + 1)
            strata.append(f"s{s}")
    rule = sampling.make_rule("fixed", n=k, stratify="process")
    first = sampling.draw(ids, seed, rule, strata)
    assert len(first) == min(len(ids), max(k, len(sizes)))
    assert {strata[ids.index(i)] for i in first} == set(strata)
    extended = sampling.draw_more(ids, seed, rule, strata, first, more)
    assert extended[: len(first)] == first
    assert len(extended) == min(len(ids), len(first) + more) == len(set(extended))
    assert sampling.verify_draw(ids, strata, rule, seed, extended, len(first)) == []


def test_draw_more_keeps_the_first_draw_as_a_prefix():
    rule = sampling.make_rule("sqrt", audit_type="surveillance")
    first = sampling.draw(IDS, 77, rule)
    more = sampling.draw_more(IDS, 77, rule, None, first, 5)
    assert more[: len(first)] == first and len(more) == len(first) + 5
    assert sampling.draw_more(IDS, 77, rule, None, more, 10_000) == sampling.draw_order(IDS, 77)  # capped at n
    with pytest.raises(ValueError):
        sampling.draw_more(IDS, 77, rule, None, list(reversed(first)), 1)


def test_verify_draw_detects_tampering():
    rule = sampling.make_rule("percent", percent="5")
    s = sampling.draw(IDS, 9, rule)
    assert sampling.verify_draw(IDS, [], rule, 9, s, len(s), len(IDS)) == []
    swapped = [s[1], s[0], *s[2:]]
    assert sampling.verify_draw(IDS, [], rule, 9, swapped, len(s))
    replaced = [*s[:-1], next(i for i in IDS if i not in s)]
    assert sampling.verify_draw(IDS, [], rule, 9, replaced, len(s))
    assert sampling.verify_draw(IDS, [], rule, 10, s, len(s))  # another seed
    assert sampling.verify_draw(IDS[:-1], [], rule, 9, s, len(s), len(IDS))  # a record dropped from the population
    assert sampling.verify_draw(IDS, [], rule, 9, s[:-1], len(s) - 1)  # fewer than the rule gives


# --- samples stored in the database ------------------------------------------------------------------


@pytest.fixture
def populated(app, db, world):
    """60 kitchen-sink records over three months of 2026 in acme, and an engagement."""
    tpl = world.add_template(load_fixture("kitchen-sink.json"), world.acme)
    with app.app_context():
        for i in range(60):
            on = date(2026, 1, 5) + timedelta(days=i * 80 // 60)
            records.create(db, world.acme, tpl, {"batch_no": f"B{i}", "inspected_on": on.isoformat(), "result": "pass",
                                                 "quantity": 1}, world.users["member"])
        e = Engagement(org_id=world.acme.id, title="2026", standards=["ISO 9001:2015"], audit_type="surveillance",
                       period_start=date(2026, 1, 1), period_end=date(2026, 12, 31), access_from=utcnow(),
                       access_until=utcnow() + timedelta(days=5))
        db.add(e)
        db.commit()
    return e


DEFINITION = {"start": "2026-01-01", "end": "2026-03-31", "process": "kitchen-sink", "standard": None, "clause": None, "state": None}


def test_population_filters_by_period_process_clause_and_state(app, db, world, populated):
    pop = sampling.population(db, world.acme.id, DEFINITION)
    assert pop.size == 60 and pop.ids == sorted(pop.ids)
    assert sampling.population(db, world.acme.id, dict(DEFINITION, end="2026-01-31")).size < 60
    assert sampling.population(db, world.acme.id, dict(DEFINITION, process="other")).size == 0
    assert sampling.population(db, world.other.id, DEFINITION).size == 0  # another tenant's records never
    clause = sampling.population(db, world.acme.id, dict(DEFINITION, process=None, standard="ISO 9001:2015", clause="8"))
    assert clause.size == 60  # kitchen-sink serves 8.6, a sub-clause of 8
    assert sampling.population(db, world.acme.id, dict(DEFINITION, process=None, standard="ISO 9001:2015", clause="9")).size == 0
    assert sampling.population(db, world.acme.id, dict(DEFINITION, state="draft")).size == 60
    assert sampling.population(db, world.acme.id, dict(DEFINITION, state="released")).size == 0
    months = sampling.population(db, world.acme.id, DEFINITION, "month")
    assert set(months.strata) == {"2026-01", "2026-02", "2026-03"}


ALGORITHMS = [sampling.ALGORITHM, sampling.ALGORITHM_V2]


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_stored_sample_redraws_extends_and_detects_tampering(app, db, world, populated, algorithm):
    rule = sampling.make_rule("sqrt", audit_type="surveillance", stratify="month", algorithm=algorithm)
    with app.app_context():
        s = sampling.create_sample(db, populated, DEFINITION, rule, 123456789, world.users["auditor"])
        db.commit()
    ids, strata = frame_of(db, s)
    assert s.population_size == 60 and len(ids) == 60 and ids == sorted(ids)
    assert len(s.drawn) == 5  # ⌈0.6·√60⌉ = 5 ≥ 3 months
    assert s.drawn == redraw(db, s)
    assert {strata[ids.index(i)] for i in s.drawn} == {"2026-01", "2026-02", "2026-03"}
    ev = db.exec(select(Event).where(Event.action == "audit_sample")).one()
    assert ev.data_digest == s.digest and ev.detail["seed"] == 123456789
    assert sampling.verify_sample(db, s).ok

    first = list(s.drawn)
    with app.app_context():
        assert sampling.extend_sample(db, s, 4, world.users["auditor"]) == 4
        db.commit()
    assert s.drawn[:5] == first and len(s.drawn) == 9 and [d["count"] for d in s.draws] == [5, 4]
    assert sampling.verify_sample(db, s).ok

    # someone edits the stored sample behind the application's back
    stored = db.get(Sample, s.id)
    outsider = next(i for i in frame_of(db, stored)[0] if i not in stored.drawn)
    stored.drawn = [outsider, *stored.drawn[1:]]
    db.add(stored)
    db.commit()
    check = sampling.verify_sample(db, db.get(Sample, s.id))
    assert not check.ok and any("#%d" % outsider in p for p in check.problems)
    with app.app_context(), pytest.raises(ValueError):
        sampling.extend_sample(db, db.get(Sample, s.id), 1, world.users["auditor"])


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_tampered_seed_with_consistent_redraw_is_caught_by_the_chain(app, db, world, populated, algorithm):
    """Even a forger who re-draws consistently with a new seed is caught: the chain holds the digest."""
    rule = sampling.make_rule("fixed", n=6, algorithm=algorithm)
    with app.app_context():
        s = sampling.create_sample(db, populated, DEFINITION, rule, 1, world.users["auditor"])
        db.commit()
    s.seed = 2
    s.drawn = redraw(db, s)
    s.digest = sampling.sample_digest(s)
    db.add(s)
    db.commit()
    check = sampling.verify_sample(db, s)
    assert not check.ok and any("chain" in p for p in check.problems)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_population_changes_after_the_draw_are_reported_not_failed(app, db, world, populated, algorithm):
    with app.app_context():
        s = sampling.create_sample(db, populated, DEFINITION, sampling.make_rule("fixed", n=3, algorithm=algorithm), 5,
                                   world.users["auditor"])
        kit = db.exec(select(ProcessTemplate).where(ProcessTemplate.key == "kitchen-sink")).first()
        late = records.create(db, world.acme, kit, {"batch_no": "late", "inspected_on": "2026-02-02", "result": "pass",
                                                    "quantity": 1}, world.users["member"])
        db.commit()
    check = sampling.verify_sample(db, s)
    assert check.ok and check.population_now == 61 and check.added_since == [late.id]
