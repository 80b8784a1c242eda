"""Each anomaly detector finds what was planted, and nothing on ordinary data (SQLite; PostgreSQL in test_cb_postgres)."""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from workbench import anomalies
from workbench.models import Record
from workbench.templates import shipped_library

TODAY = date(2026, 11, 30)


def at(d: date, hh=9, mm=0, ss=0) -> datetime:
    return datetime(d.year, d.month, d.day, hh, 0, 0, tzinfo=timezone.utc) + timedelta(minutes=mm, seconds=ss)


class Planted:
    def __init__(self, db, world):
        self.db, self.world = db, world
        lib = shipped_library()
        self.tpl = {k: world.add_template(lib[k]) for k in ("production-inspection", "internal-audit", "training-record")}
        self.normal = []
        # an ordinary year: two production records a month, entered the same day
        d = date(2025, 12, 1)
        while d < TODAY:
            self.normal.append(self.rec("production-inspection", d, at(d, 10)))
            self.normal.append(self.rec("production-inspection", d + timedelta(days=14), at(d + timedelta(days=14), 10)))
            d = (d.replace(day=28) + timedelta(days=4)).replace(day=1)
        self.internal = self.rec("internal-audit", date(2026, 3, 1), at(date(2026, 3, 1)))

    def rec(self, key, on, created, user="member"):
        t = self.tpl[key]
        r = Record(org_id=self.world.acme.id, template_id=t.id, template_key=key, state="draft", data={}, title=key,
                   record_date=on, created_at=created, updated_at=created, created_by=self.world.users[user].id)
        self.db.add(r)
        self.db.commit()
        return r


def test_backfilled_found_and_ordinary_records_not(db, world):
    p = Planted(db, world)
    late = [p.rec("training-record", date(2026, 2, 1) + timedelta(days=i), at(date(2026, 11, 20), 9, i)) for i in range(4)]
    found = anomalies.backfilled(db, world.acme.id, date(2026, 1, 1), TODAY, 30)
    assert [a.kind for a in found] == ["backfilled"]
    assert sorted(found[0].record_ids) == sorted(r.id for r in late)
    assert found[0].params["n"] == 4 and found[0].params["max_days"] >= 290
    # a threshold larger than the lag: nothing
    assert anomalies.backfilled(db, world.acme.id, date(2026, 1, 1), TODAY, 400) == []
    # another organization's view is empty
    assert anomalies.backfilled(db, world.other.id, date(2026, 1, 1), TODAY, 30) == []


def test_burst_before_audit(db, world):
    p = Planted(db, world)
    audit = date(2026, 11, 25)
    burst = [p.rec("production-inspection", audit - timedelta(days=3), at(audit - timedelta(days=3), 8, i)) for i in range(12)]
    found = anomalies.bursts(db, world.acme.id, audit, 14, 3)
    assert len(found) == 1 and found[0].params["key"] == "production-inspection"
    assert set(r.id for r in burst) <= set(found[0].record_ids)
    assert found[0].params["expected"] <= 1.5
    # the ordinary rate alone is no burst
    assert anomalies.bursts(db, world.acme.id, date(2026, 10, 1), 14, 3) == []


def test_silent_processes(db, world):
    p = Planted(db, world)
    found = {a.params["key"]: a for a in anomalies.silent_processes(db, world.acme.id, TODAY, 6)}
    assert set(found) == {"internal-audit"}  # training-record was never used: a readiness matter, not an anomaly
    assert found["internal-audit"].record_ids == [p.internal.id]
    assert found["internal-audit"].params["last"] == "2026-03-01"
    assert found["internal-audit"].params["title"]["zh"]  # named by the process's title
    assert "internal-audit" not in {a.params["key"] for a in anomalies.silent_processes(db, world.acme.id, TODAY, 12)}


def test_rapid_fire_one_person_many_records_in_minutes(db, world):
    p = Planted(db, world)
    day = date(2026, 11, 10)
    fast = [p.rec("training-record", day, at(day, 14, 0, 20 * i), user="manager") for i in range(15)]  # 15 in 5 min
    # another person's records spread over the afternoon: not an anomaly
    for i in range(15):
        p.rec("training-record", day, at(day, 15, 3 * i), user="member")
    found = anomalies.rapid_fire(db, world.acme.id, date(2026, 11, 1), TODAY, 10, 10)
    assert len(found) == 1, [a.params for a in found]
    assert sorted(found[0].record_ids) == sorted(r.id for r in fast)
    assert found[0].params["who"] == world.users["manager"].name and found[0].params["n"] == 15
    assert anomalies.rapid_fire(db, world.acme.id, date(2026, 11, 1), TODAY, 20, 10) == []


def test_messages_in_both_languages(app, db, world):
    p = Planted(db, world)
    from flask_babel import force_locale

    found = anomalies.silent_processes(db, world.acme.id, TODAY, 6)
    with app.test_request_context():
        with force_locale("en"):
            assert "No record of" in found[0].message and "internal-audit" not in found[0].message
        with force_locale("zh_CN"):
            assert "No record of" not in found[0].message


def test_rapid_fire_separate_episodes_and_a_window_across_minute_boundaries(db, world):
    p = Planted(db, world)
    day = date(2026, 11, 12)
    morning = [p.rec("training-record", day, at(day, 8, 59, 50 + 30 * i), user="manager") for i in range(10)]  # 8:59:50–9:04:20
    evening = [p.rec("training-record", day, at(day, 18, 0, 10 * i), user="manager") for i in range(12)]
    found = anomalies.rapid_fire(db, world.acme.id, date(2026, 11, 1), TODAY, 10, 5)
    assert [sorted(a.record_ids) for a in found] == [sorted(r.id for r in morning), sorted(r.id for r in evening)]
    assert [a.params["n"] for a in found] == [10, 12]
    assert len(anomalies.rapid_fire(db, world.acme.id, date(2026, 11, 1), TODAY, 11, 4)) == 1  # only the evening


def test_burst_wording_has_a_floor():
    """No "the usual rate would give 0.0": nothing before the window, or less than one record expected, in words."""
    p = {"key": "k", "n": 6, "window_days": 14, "before": "2026-11-30", "baseline_days": 180}
    assert "none in the 180 days before that" in anomalies.Anomaly("burst", params={**p, "base": 0, "expected": 0.0}).message
    assert "fewer than one" in anomalies.Anomaly("burst", params={**p, "base": 3, "expected": 0.2}).message
    assert "would give 2.3" in anomalies.Anomaly("burst", params={**p, "base": 30, "expected": 2.3}).message
