"""Certificates and the three-year programme; IAF MD 5 audit time; the unified social credit code."""
from __future__ import annotations

from datetime import date, datetime, timezone
from fractions import Fraction

import pytest

from workbench import trail
from workbench.cb import audit_time, certificates, programme, registry
from workbench.errors import Conflict, UserError


# --- programme -----------------------------------------------------------------------------------------

def test_certificate_issued_on_29_february():
    exp = programme.expiry(date(2024, 2, 29))
    assert exp == date(2027, 2, 28)
    s1, s2, rc = programme.slots(date(2024, 2, 29), exp)
    assert s1.due == date(2025, 2, 28)  # within 12 months of the decision (no 29 Feb in 2025)
    assert s2.due == date(2026, 2, 28)  # no surveillance interval over 12 months
    assert rc.due == date(2027, 2, 27)  # recertification completed before expiry


def test_due_dates_follow_when_surveillance_was_held():
    s1, s2, rc = programme.slots(date(2025, 3, 10), date(2028, 3, 9), {"surveillance1": (date(2025, 12, 1), 7)})
    assert s1.due == date(2026, 3, 10) and s1.held == date(2025, 12, 1) and s1.status(date(2026, 6, 1)) == "done"
    assert s2.due == date(2026, 12, 1)  # 12 months after surveillance 1 was held, not after it was due
    assert rc.due == date(2028, 3, 8)
    assert s2.status(date(2026, 12, 2)) == "overdue" and s2.status(date(2026, 10, 1)) == "due_soon"
    assert s2.status(date(2026, 1, 1)) == "planned"


def test_ordinary_expiry_and_slot_audit_types():
    assert programme.expiry(date(2026, 2, 28)) == date(2029, 2, 27)
    assert programme.expiry(date(2025, 6, 15)) == date(2028, 6, 14)
    assert programme.audit_type("surveillance2") == "surveillance"
    assert programme.audit_type("stage2") == "initial"
    assert programme.audit_type("recertification") == "recertification"


def test_certificate_history_is_in_the_chain(app, db, world):
    with app.test_request_context():
        c = certificates.issue(db, world.acme, world.users["manager"], standard="ISO 9001:2015", number="CB-Q-001",
                               scope="机加工", issue_date=date(2024, 2, 29), headcount=40)
        db.commit()
        assert c.expiry_date == date(2027, 2, 28)
        with pytest.raises(Conflict):
            certificates.issue(db, world.acme, world.users["manager"], standard="ISO 9001:2015", number="CB-Q-001",
                               scope="", issue_date=date(2024, 3, 1))
        with pytest.raises(UserError):
            certificates.set_status(db, c, "suspended", world.users["manager"], "")
        certificates.set_status(db, c, "suspended", world.users["manager"], "监督审核逾期")
        db.commit()
        hist = certificates.history(db, c)
        assert [(e.from_state, e.to_state) for e in hist] == [(None, "valid"), ("valid", "suspended")]
        assert hist[1].comment == "监督审核逾期"
        assert trail.verify(db, world.acme.id).ok and not certificates.tampered(db, c)
        c.scope = "changed behind the service's back"  # an insider with database access
        db.add(c)
        db.commit()
        assert certificates.tampered(db, c)
        assert certificates.effective_status(c, date(2027, 3, 1)) == "suspended"


def test_programme_items_overdue_first(app, db, world):
    from workbench.audit.models import Engagement

    with app.test_request_context():
        c = certificates.issue(db, world.acme, None, standard="ISO 14001:2015", number="E-1", scope="",
                               issue_date=date(2025, 1, 10))
        db.add(Engagement(org_id=world.acme.id, title="S1", standards=["ISO 14001:2015"], audit_type="surveillance",
                          period_start=date(2025, 1, 1), period_end=date(2025, 12, 31), certificate_id=c.id,
                          programme_slot="surveillance1", access_from=datetime(2025, 12, 20, tzinfo=timezone.utc),
                          access_until=datetime(2025, 12, 22, tzinfo=timezone.utc)))
        db.commit()
        items = certificates.programme_items(db, world.acme.id, date(2027, 11, 1))
        assert [(s.slot, st) for _c, s, st in items] == [("surveillance2", "overdue"), ("recertification", "due_soon")]


# --- IAF MD 5 ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("persons,days", [(1, "1.5"), (5, "1.5"), (6, "2"), (15, "2.5"), (16, "3"), (26, "4"), (45, "4"),
                                          (46, "5"), (85, "6"), (86, "7"), (125, "7")])
def test_qms_rows(persons, days):
    assert audit_time.table_days("ISO 9001:2015", persons) == Fraction(days)


# every band of both tables, upper rows included (MD 5:2019 Tables QMS 1 and OH&SMS 1, each band's lower and upper end)
QMS_TABLE = [(1, 5, 1.5), (6, 10, 2), (11, 15, 2.5), (16, 25, 3), (26, 45, 4), (46, 65, 5), (66, 85, 6), (86, 125, 7),
             (126, 175, 8), (176, 275, 9), (276, 425, 10), (426, 625, 11), (626, 875, 12), (876, 1175, 13),
             (1176, 1550, 14), (1551, 2025, 15), (2026, 2675, 16), (2676, 3450, 17), (3451, 4350, 18), (4351, 5450, 19),
             (5451, 6800, 20), (6801, 8500, 21), (8501, 10700, 22)]
OHS_UPPER = [(626, 875, 17, 13, 10), (876, 1175, 19, 15, 11), (1176, 1550, 20, 16, 12), (1551, 2025, 21, 17, 12),
             (2026, 2675, 23, 18, 13), (2676, 3450, 25, 19, 14), (3451, 4350, 27, 20, 15), (4351, 5450, 28, 21, 16),
             (5451, 6800, 30, 23, 17), (6801, 8500, 32, 25, 19), (8501, 10700, 34, 27, 20)]


def test_every_band_of_the_qms_and_ohs_tables():
    for lo, hi, days in QMS_TABLE:
        for n in (lo, hi):
            assert audit_time.table_days("ISO 9001:2015", n) == Fraction(str(days)), n
    for lo, hi, high, med, low in OHS_UPPER:
        for n in (lo, hi):
            for cat, v in (("high", high), ("medium", med), ("low", low)):
                assert audit_time.table_days("ISO 45001:2018", n, cat) == Fraction(str(v)), (n, cat)


@pytest.mark.parametrize("persons,high,med,low", [(3, 3, 2.5, 2.5), (8, 3.5, 3, 3), (12, 4.5, 3.5, 3), (20, 5.5, 4.5, 3.5),
                                                  (30, 7, 5.5, 4), (50, 8, 6, 4.5), (70, 9, 7, 5), (100, 11, 8, 5.5),
                                                  (150, 12, 9, 6), (200, 13, 10, 7), (300, 15, 11, 8), (500, 16, 12, 9)])
def test_ohs_rows_as_in_the_document(persons, high, med, low):
    for cat, v in (("high", high), ("medium", med), ("low", low)):
        assert audit_time.table_days("ISO 45001:2018", persons, cat) == Fraction(str(v))


def test_effective_personnel_reductions_cap_and_cycle():
    r = audit_time.calculate(full_time=40, part_time_hours=100, shifts=2,
                             standards=[{"standard": "ISO 9001:2015"}],
                             adjustments=[{"percent": -20, "reason": "低风险、重复性作业"},
                                          {"percent": -15, "reason": "无设计开发"}])
    # 40 + ⌈100/40⌉ = 43 persons → 26–45 band: 4 days; reductions 35 % capped at 30 % → 2.8 → 3 half-days up
    assert r.steps[0].value == "43"
    assert r.initial == "3" and r.surveillance == "1" and r.recertification == "2"
    assert any("30" in w for w in r.warnings)
    with pytest.raises(UserError):
        audit_time.calculate(full_time=10, standards=[{"standard": "ISO 9001:2015"}],
                             adjustments=[{"percent": -10, "reason": " "}])


def test_integrated_audit_worked_example():
    """QMS + EMS (medium) + OH&SMS (medium), 60 effective personnel, 15 % integration (IAF MD 11):
    5 + 6 + 6 = 17 days; × 0.85 = 14.45 → 14.5 initial; surveillance 14.5/3 = 4.83 → 5; recertification 9.67 → 10."""
    r = audit_time.calculate(full_time=60, standards=[{"standard": "ISO 9001:2015"},
                                                      {"standard": "ISO 14001:2015", "complexity": "medium"},
                                                      {"standard": "ISO 45001:2018", "complexity": "medium"}],
                             integration_percent=15, integration_reason="一体化手册、联合内审与管理评审")
    assert r.per_standard == {"ISO 9001:2015": "5", "ISO 14001:2015": "6", "ISO 45001:2018": "6"}
    assert (r.initial, r.surveillance, r.recertification) == ("14.5", "5", "10")
    labels = [s.label for s in r.steps]
    assert any("IAF MD 11" in lbl for lbl in labels)
    with pytest.raises(UserError):
        audit_time.calculate(full_time=60, standards=[{"standard": "ISO 9001:2015"}, {"standard": "ISO 14001:2015"}],
                             integration_percent=25, integration_reason="x")


def test_headcount_band():
    assert audit_time.band_index(40) == audit_time.band_index(26)
    assert audit_time.band_index(46) != audit_time.band_index(45)


# --- credit code ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("code", ["91350100M000100Y43", "91110000600037341L"])
def test_credit_code_valid(code):
    assert registry.is_valid(code) and registry.validate(code.lower()) == code


@pytest.mark.parametrize("code", ["91350100M000100Y44", "91350100M000100Y4", "9135010OM000100Y43", "", "x" * 500])
def test_credit_code_invalid(app, code):
    with app.test_request_context():
        assert not registry.is_valid(code)
        with pytest.raises(UserError):
            registry.validate(code)


@pytest.mark.parametrize("bad", [dict(full_time="1e999999"), dict(full_time="٣"), dict(part_time_hours="1e99999"),
                                 dict(full_time="-1"), dict(shifts="0"), dict(sites="x"), dict(full_time="12.5"),
                                 dict(adjustments=[{"percent": "1e9999", "reason": "x"}]),
                                 dict(adjustments=[{"percent": "1 0", "reason": "x"}])])
def test_audit_time_rejects_malformed_input_without_crashing(app, bad):
    kw = dict(full_time="10", standards=[{"standard": "ISO 9001:2015"}])
    kw.update(bad)
    with app.test_request_context(), pytest.raises(UserError):
        audit_time.calculate(**kw)
