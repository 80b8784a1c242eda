"""Readiness never says "ready" falsely (#9.5): validity only from accepted, passing records; lapses in the
period with their dates; registered instruments without calibration; internal audit / management review per
standard; licences not checked against the original; programme, permit, scope and headcount signals."""
from __future__ import annotations

from datetime import date

from test_audit_readiness import Org, items

from workbench.cb import certificates


def fails(result, check):
    return [(i.code, i.subject, i.params) for i in items(result, check) if i.status == "fail"]


def set_result(value):
    def change(data):
        data["result"] = value
    return change


def test_a_draft_failing_special_equipment_record_is_not_valid(app, db, world):
    org = Org(app, db, world, **{"special-equipment": [dict(on=date(2026, 5, 1), due=date(2027, 5, 1), final=False,
                                                            change=set_result("fail"))]})
    result = org.check()
    [(code, subject, _p)] = fails(result, "special_equipment")
    assert code == "no_valid_record" and subject
    assert not result.passed


def test_a_later_failed_calibration_ends_validity_and_the_earlier_pass_is_not_used(app, db, world):
    org = Org(app, db, world, **{"calibration-record": [dict(on=date(2026, 3, 1), due=date(2027, 3, 1)),
                                                        dict(on=date(2026, 9, 1), due=date(2027, 9, 1),
                                                             change=set_result("limited"))]})
    [(code, _s, p)] = fails(org.check(), "calibration")
    assert code == "failed_result" and p["date"] == "2026-09-01"


def test_a_later_draft_pass_never_extends_validity(app, db, world):
    org = Org(app, db, world, **{"calibration-record": [dict(on=date(2025, 12, 1), due=date(2026, 12, 1)),
                                                        dict(on=date(2026, 12, 10), due=date(2027, 12, 10), final=False)]})
    [(code, _s, p)] = fails(org.check(), "calibration")
    assert code == "expired" and p["due"] == "2026-12-01"


def test_a_lapse_inside_the_period_is_reported_with_its_dates(app, db, world):
    org = Org(app, db, world, **{"calibration-record": [dict(on=date(2025, 6, 1), due=date(2026, 6, 1)),
                                                        dict(on=date(2026, 8, 15), due=date(2027, 8, 15))]})
    result = org.check()
    [(code, _s, p)] = fails(result, "calibration")
    assert code == "lapsed" and (p["from"], p["to"]) == ("2026-06-02", "2026-08-14")
    assert "2026-06-02" in items(result, "calibration")[0].message
    assert not result.passed


def test_a_registered_instrument_without_calibration_is_flagged(app, db, world):
    from workbench.templates import shipped_library

    org = Org(app, db, world)
    org.tpl["measuring-equipment"] = world.add_template(shipped_library()["measuring-equipment"])
    with app.app_context():
        reg = org.make("measuring-equipment", on=date(2026, 1, 5), final=False,
                       change=lambda d: d.update(instrument_no="JL-9999"))
        db.commit()
    result = org.check()
    bad = [i for i in items(result, "calibration") if i.status == "fail"]
    assert [(i.code, i.subject) for i in bad] == [("no_valid_record", "JL-9999")] and bad[0].records == [reg]


def test_internal_audit_and_review_must_cover_each_engagement_standard(app, db, world):
    def only_9001(data):
        data["standards"] = ["iso9001"]

    org = Org(app, db, world, **{"internal-audit": [dict(on=date(2026, 6, 10), change=only_9001)]})
    result = org.check(standards=["ISO 9001:2015", "ISO 14001:2015"])
    assert fails(result, "internal_audit") == [("standard_not_covered", None, {"standard": "ISO 14001:2015"})]
    assert org.check(standards=["ISO 9001:2015"]).passed


def test_licence_not_checked_against_original_warns(app, db, world):
    org = Org(app, db, world, **{"licence-permit": [dict(on=date(2026, 2, 1), due=date(2028, 1, 1)),
                                                    dict(on=date(2026, 10, 1), due=date(2029, 1, 1), final=False,
                                                         change=lambda d: d.update(licence_no="NEW-1"))]})
    result = org.check()
    warn = [i for i in items(result, "licence") if i.code == "original_not_verified"]
    assert warn and warn[0].cause == 14 and warn[0].records[0].state != "approved"


def test_certificate_signals_programme_headcount_scope_permit(app, db, world):
    org = Org(app, db, world)
    world.acme.headcount = 60
    world.acme.discharge_permit_no, world.acme.discharge_permit_expiry = "91320506MA1XYZ1234001W", date(2026, 11, 1)
    db.add(world.acme)
    with app.test_request_context():
        certificates.issue(db, world.acme, None, standard="ISO 9001:2015", number="Q-1", scope="",
                           issue_date=date(2025, 1, 10), headcount=40, scope_processes=["production-inspection"])
        db.commit()
        result = org.check(standards=["ISO 9001:2015"], processes=["production-inspection", "design-development"])
        codes = {(i.check, i.code, i.status) for i in result.items}
    assert ("programme", "audit_overdue", "fail") in codes  # surveillance 1 due by 2026-01-10, never held
    assert ("headcount", "headcount_changed", "warn") in codes  # 40 (26–45) → 60 (46–65)
    assert ("scope", "scope_changed", "warn") in codes
    assert ("licence", "permit_expired", "fail") in codes
    assert not result.passed
