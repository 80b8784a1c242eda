"""Readiness: each detectable cause of an abandoned audit is found on a constructed organization; a healthy
organization passes; processes the organization does not use are "not tracked", never a crash."""
from __future__ import annotations

from datetime import date

import pytest

from workbench import records
from workbench.audit import readiness
from workbench.audit.coverage import clause_rows, compute, months_between
from workbench.demo import record_from_example
from workbench.templates import shipped_library

START, END, TODAY = date(2026, 1, 1), date(2026, 12, 31), date(2026, 12, 15)
USED = ["internal-audit", "management-review", "quality-objectives", "calibration-record", "special-equipment",
        "licence-permit", "type-test-report", "production-inspection"]
FINAL = {"internal-audit": "closed", "management-review": "closed", "quality-objectives": "approved",
         "calibration-record": "confirmed", "special-equipment": "approved", "licence-permit": "approved",
         "type-test-report": "approved", "production-inspection": None}


class Org:
    """An organization using USED (minus `skip`), with a healthy year of records unless told otherwise."""

    def __init__(self, app, db, world, skip=(), **overrides):
        self.app, self.db, self.world = app, db, world
        lib = shipped_library()
        self.tpl = {k: world.add_template(lib[k]) for k in USED if k not in skip}
        healthy = {
            "internal-audit": [dict(on=date(2026, 6, 10))],
            "management-review": [dict(on=date(2026, 7, 1))],
            "quality-objectives": [dict(on=date(2026, 3, 31))],
            "calibration-record": [dict(on=date(2026, 6, 1), due=date(2027, 6, 1))],
            "special-equipment": [dict(on=date(2026, 5, 1), due=date(2027, 5, 1))],
            "licence-permit": [dict(on=date(2026, 2, 1), due=date(2028, 1, 1))],
            "type-test-report": [dict(on=date(2026, 4, 1), due=date(2029, 1, 1))],
            "production-inspection": [dict(on=date(2026, 5, 5)), dict(on=date(2026, 9, 9))],
        }
        healthy.update(overrides)
        self.recs = {}
        with app.app_context():
            for key, specs in healthy.items():
                if key in self.tpl:
                    self.recs[key] = [self.make(key, **spec) for spec in specs]
            db.commit()

    def make(self, key, on, due=None, final=True, change=None, example=0):
        tpl = self.tpl[key]
        data = record_from_example(tpl.body, tpl.body["examples"][example], on, due)
        if change:
            change(data)
        rec = records.create(self.db, self.world.acme, tpl, data, self.world.users["member"])
        if final and FINAL[key]:
            rec.state = FINAL[key]
        self.db.add(rec)
        return rec

    def check(self, **kw):
        return readiness.check(self.db, self.world.acme, START, END, today=TODAY, **kw)


def items(result, check):
    return [i for i in result.items if i.check == check]


def test_healthy_organization_passes(app, db, world):
    org = Org(app, db, world)
    result = org.check()
    assert result.passed and result.healthy, [(i.check, i.status, i.message) for i in result.items if i.status != "ok"]
    assert {i.check for i in result.items} == {"internal_audit", "management_review", "objectives", "operation", "calibration",
                                               "special_equipment", "licence", "type_test"}
    ia = items(result, "internal_audit")[0]
    assert ia.records == org.recs["internal-audit"]  # the evidence, not only a verdict


@pytest.mark.parametrize("overrides,check,cause,code", [
    ({"internal-audit": []}, "internal_audit", 2, "none_in_period"),
    ({"internal-audit": [dict(on=date(2025, 11, 3))]}, "internal_audit", 2, "none_in_period"),  # last cycle's
    ({"internal-audit": [dict(on=date(2026, 6, 10), final=False)]}, "internal_audit", 2, "not_completed"),
    ({"management-review": []}, "management_review", 2, "none_in_period"),
    ({"quality-objectives": []}, "objectives", 2, "no_objectives"),
    ({"production-inspection": [dict(on=date(2025, 12, 30))]}, "operation", 3, "no_operation_records"),
    ({"calibration-record": [dict(on=date(2025, 12, 1), due=date(2026, 12, 1))]}, "calibration", 6, "expired"),
    ({"special-equipment": [dict(on=date(2025, 12, 1), due=date(2026, 11, 30))]}, "special_equipment", 5, "expired"),
    ({"type-test-report": [dict(on=date(2021, 4, 1), due=date(2026, 4, 1))]}, "type_test", 7, "expired"),
    ({"licence-permit": [dict(on=date(2023, 2, 1), due=date(2026, 10, 31))]}, "licence", 8, "expired"),
])
def test_each_detectable_cause_is_found(app, db, world, overrides, check, cause, code):
    org = Org(app, db, world, **overrides)
    result = org.check()
    assert not result.passed
    failing = [i for i in result.items if i.status == "fail"]
    assert [(i.check, i.cause, i.code) for i in failing] == [(check, cause, code)]
    item = failing[0]
    assert item.message != item.code and " " in item.message  # a sentence, not a code
    if code in ("expired", "not_completed"):
        assert item.records and item.records[0].org_id == world.acme.id  # links to its evidence
    if code == "expired":
        assert item.subject and item.params["due"] < TODAY.isoformat()


def test_unmeasured_objectives_name_the_record_and_the_objective(app, db, world):
    def blank_actual(data):
        data["objectives"][1]["actual"] = ""

    org = Org(app, db, world, **{"quality-objectives": [dict(on=date(2026, 3, 31)),
                                                        dict(on=date(2026, 6, 30), change=blank_actual)]})
    [item] = items(org.check(), "objectives")
    bad = org.recs["quality-objectives"][1]
    assert item.status == "fail" and item.code == "objectives_unmeasured" and item.records == [bad]
    assert f"#{bad.id}" in item.message and bad.data["objectives"][1]["objective"] in item.message


def test_renewed_certificate_clears_the_old_one_and_soon_expiring_is_a_warning(app, db, world):
    org = Org(app, db, world, **{"calibration-record": [dict(on=date(2025, 6, 1), due=date(2026, 6, 1)),
                                                        dict(on=date(2026, 5, 28), due=date(2027, 5, 28))],
                                 "licence-permit": [dict(on=date(2024, 1, 2), due=date(2027, 1, 20))]})
    result = org.check()
    assert result.passed and not result.healthy
    assert [i.status for i in items(result, "calibration")] == ["ok"]
    [lic] = items(result, "licence")
    assert lic.status == "warn" and lic.code == "expires_soon"


def test_processes_not_adopted_are_not_tracked(app, db, world):
    org = Org(app, db, world, skip=("special-equipment", "type-test-report", "internal-audit"))
    result = org.check()
    untracked = {i.template_key for i in result.items if i.status == "not_tracked"}
    assert {"special-equipment", "type-test-report", "internal-audit"} <= untracked
    assert result.passed  # the system cannot tell: reported, not failed


def test_not_tracked_even_without_the_library_in_the_database(app, db, world):
    """An organization with nothing adopted at all: every check says "not tracked"; nothing crashes."""
    result = readiness.check(db, world.other, START, END, today=TODAY)
    assert result.items and {i.status for i in result.items} == {"not_tracked"}


def test_process_without_records_warns_unless_it_is_an_operation(app, db, world):
    org = Org(app, db, world)
    world.add_template(shipped_library()["training-record"])
    result = org.check()
    [training] = [i for i in result.items if i.template_key == "training-record"]
    assert training.status == "warn" and training.code == "no_records"
    assert result.passed


def test_checks_follow_the_engagement_standards(app, db, world):
    org = Org(app, db, world, **{"type-test-report": [dict(on=date(2021, 4, 1), due=date(2026, 4, 1))]})
    assert not org.check(standards=["ISO 9001:2015"]).passed  # an expired type test: a 9001 matter
    env = org.check(standards=["ISO 14001:2015"])
    assert not items(env, "type_test") and env.passed


def test_adopted_but_never_recorded_is_a_question_not_a_failure(app, db, world):
    """No type-test report at all: the system cannot know whether the products need one, so it asks."""
    result = Org(app, db, world, **{"type-test-report": []}).check()
    assert [(i.status, i.code) for i in items(result, "type_test")] == [("warn", "no_subjects")] and result.passed


def test_coverage_counts_records_per_clause_and_month():
    rows = clause_rows(["ISO 9001:2015"])
    assert ("ISO 9001:2015", "9.2") in rows and ("ISO 9001:2015", "9.2.2") not in rows and ("ISO 9001:2015", "9") not in rows
    assert len(clause_rows(["ISO 9001:2015"], detail=True)) > len(rows)
    months = months_between(date(2025, 11, 20), date(2026, 2, 3))
    assert months == ["2025-11", "2025-12", "2026-01", "2026-02"]
    ia = [{"standard": "ISO 9001:2015", "clause": "9.2.2"}]
    cov = compute([("ISO 9001:2015", "9.2"), ("ISO 9001:2015", "9.3")], months,
                  [(1, date(2025, 12, 5)), (1, date(2025, 12, 20)), (1, date(2026, 2, 1)), (1, date(2024, 1, 1))],
                  {1: ia}, {"internal-audit": ia})
    assert cov.rows[0].counts == [0, 2, 0, 1] and cov.rows[0].templates == ["internal-audit"]
    assert cov.rows[1].counts == [0, 0, 0, 0] and cov.rows[1].templates == []
    assert cov.empty_cells == 6 and cov.uncovered == [cov.rows[1]]
