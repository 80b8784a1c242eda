"""Judgement samples (ISO 19011 A.6): the auditor's picks and rationale are recorded, chained and re-verified
like random samples (page and `workbench audit verify`); the square-root rule is presented by analogy with
IAF MD 1; stratification drawing more than the rule says why."""
from __future__ import annotations

import pytest
from flask_babel import force_locale
from sqlmodel import select

from test_audit_sampling import DEFINITION, populated  # noqa: F401  (fixture)
from test_audit_views import acme, draw, engaged, token  # noqa: F401  (fixtures)
from workbench.audit import sampling
from workbench.audit.models import Sample


def test_judgement_rule_parsing_and_validation(app):
    with app.test_request_context(), force_locale("en"):
        rule = sampling.make_rule("judgement", picked="#12, 15，18 12", rationale="上次审核不符合项涉及的批次")
        assert rule["picked"] == [12, 15, 18] and rule["kind"] == "judgement"
        for bad in [dict(picked="", rationale="投诉"), dict(picked="1 2", rationale=""), dict(picked="1 x", rationale="risk"),
                    dict(picked="١٢", rationale="risk"), dict(picked=" ".join(str(i) for i in range(600)), rationale="risk")]:
            with pytest.raises(ValueError):
                sampling.make_rule("judgement", **bad)
        assert "by analogy with IAF MD 1" in sampling.describe_rule(sampling.make_rule("sqrt", audit_type="initial"))
        assert "analogy" in sampling.make_rule("sqrt", audit_type="surveillance")["basis"]


def test_judgement_sample_is_recorded_and_reverifies(app, db, world, populated):  # noqa: F811
    pop = sampling.population(db, world.acme.id, DEFINITION)
    picks = [pop.ids[7], pop.ids[2], pop.ids[40]]
    with app.test_request_context(), force_locale("en"):
        rule = sampling.make_rule("judgement", picked=picks, rationale="客户投诉涉及的批次")
        s = sampling.create_sample(db, populated, DEFINITION, rule, 1, world.users["auditor"])
        db.commit()
        assert s.drawn == picks and s.rule["rationale"] == "客户投诉涉及的批次"
        assert sampling.verify_sample(db, s).ok
        with pytest.raises(ValueError):
            sampling.extend_sample(db, s, 2, world.users["auditor"])
        with pytest.raises(ValueError):  # a pick outside the population
            sampling.create_sample(db, populated, DEFINITION, sampling.make_rule("judgement", picked=[999999], rationale="risk"),
                                   1, world.users["auditor"])
        db.rollback()
        stored = db.get(Sample, s.id)
        stored.drawn = [pop.ids[7], pop.ids[3], pop.ids[40]]  # someone swaps a pick behind the application's back
        db.add(stored)
        db.commit()
        check = sampling.verify_sample(db, stored)
        assert not check.ok and any("picks" in p for p in check.problems)


def test_judgement_sample_through_the_web_and_the_command(acme, engaged, db, app):  # noqa: F811
    _manager, auditor, eid = engaged
    ids = sorted(db.exec(select(Sample.id)).all())
    from workbench.models import Record

    recs = db.exec(select(Record.id).where(Record.template_key == "kitchen-sink").order_by(Record.id)).all()
    sid = draw(auditor, eid, kind="judgement", picked=f"{recs[3]}, {recs[0]}", rationale="高风险工序，上次有不符合")
    s = db.get(Sample, sid)
    assert s.drawn == [recs[3], recs[0]] and sid not in ids
    page = auditor.get(f"/o/acme/audit/e/{eid}/s/{sid}").get_data(as_text=True)
    assert "高风险工序" in page
    cli = app.test_cli_runner()
    ok = cli.invoke(args=["audit", "verify", "--sample", str(sid)])
    assert ok.exit_code == 0 and "1 verified, 0 failed" in ok.output
    # no rationale: the form says so, nothing is drawn
    resp = auditor.post(f"/o/acme/audit/e/{eid}/samples/new",
                        data={"csrf_token": token(auditor, f"/o/acme/audit/e/{eid}/samples/new"), "process": "kitchen-sink",
                              "start": "2000-01-01", "end": "2100-01-01", "kind": "judgement", "picked": str(recs[1]),
                              "rationale": "", "_action": "draw"})
    assert resp.status_code == 422


def test_stratification_that_draws_more_says_why(app):
    with app.test_request_context(), force_locale("en"):
        rule = sampling.make_rule("fixed", n=2, stratify="month")
        note = sampling.size_note(rule, 100, 5, ["a", "b", "c", "d", "e"] * 20)
        assert note and "5" in note and "2" in note
        assert sampling.size_note(sampling.make_rule("fixed", n=6, stratify="month"), 100, 6, ["a"] * 100) is None


def test_judgement_sample_in_an_evidence_bundle_verifies(app, db, world, tmp_path):
    """The evidence bundle's standalone verify.py accepts a judgement sample (checked against its chain event)."""
    from datetime import date, timedelta

    from click.testing import CliRunner
    from flask.cli import ScriptInfo

    from tests.conftest import load_fixture
    from tests.test_evidence_bundle import run_verify
    from tests.test_trail_anchoring import Actor, engagement
    from workbench import records

    tpl = world.add_template(load_fixture("kitchen-sink.json"), world.acme)
    member, auditor = Actor(world.users["member"]), Actor(world.users["auditor"])
    today = date.today()
    with app.test_request_context():
        recs = [records.create(db, world.acme, tpl, {"batch_no": f"J{i}", "inspected_on": (today - timedelta(days=5 * i)).isoformat(),
                                                     "result": "pass", "quantity": 1}, member) for i in range(8)]
        db.commit()
        e = engagement(db, world)
        sampling.create_sample(db, e, {"start": (today - timedelta(days=365)).isoformat(), "end": today.isoformat(),
                                       "process": "kitchen-sink"},
                               sampling.make_rule("judgement", picked=[recs[5].id, recs[1].id], rationale="投诉涉及"), 1,
                               auditor)
        db.commit()
    from workbench.cli import main

    path = tmp_path / "bundle.zip"
    out = CliRunner().invoke(main, ["audit", "bundle", str(e.id), "-o", str(path)], obj=ScriptInfo(create_app=lambda: app))
    assert out.exit_code == 0, out.output
    res = run_verify(path)
    assert res.returncode == 0, res.stdout + res.stderr
