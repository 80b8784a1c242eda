"""Coverage compares expected with actual: a 12-monthly process is not red in the months it was not due;
subject-based schedules expect a renewal by each due date; unscheduled processes expect records every month;
the current month is partial and later months are not judged."""
from __future__ import annotations

from datetime import date

from workbench.audit.coverage import compute, expected_dates, months_between

START, END = date(2026, 1, 1), date(2026, 12, 31)
MONTHS = months_between(START, END)
IA = [{"standard": "ISO 9001:2015", "clause": "9.2.2"}]
CAL = [{"standard": "ISO 9001:2015", "clause": "7.1.5.2"}]
PROD = [{"standard": "ISO 9001:2015", "clause": "8.5.1"}]


def grid(cov, row=0):
    return [(c.status, c.found, c.expected) for c in cov.grid(cov.rows[row])]


def test_yearly_process_is_red_only_when_it_fell_due():
    # last internal audit 2025-04-10, next due 2026-04-10, done late on 2026-06-20
    recs = [(date(2025, 4, 10), None, None, True), (date(2026, 6, 20), None, None, True)]
    due = expected_dates({"every_months": 12}, recs, START, END)
    assert due == [date(2026, 4, 10)]
    cov = compute([("ISO 9001:2015", "9.2")], MONTHS, [(1, date(2026, 6, 20))], {1: IA}, {"internal-audit": IA},
                  {"internal-audit": due}, today=date(2027, 1, 15))
    g = grid(cov)
    assert g[3] == ("missing", 0, 1)  # April: expected 1, found 0
    assert g[5] == ("ok", 1, 0)  # June: done (late)
    assert [st for st, _f, _e in g].count("missing") == 1
    assert {st for i, (st, _f, _e) in enumerate(g) if i not in (3, 5)} == {"not_due"}
    assert cov.empty_cells == 1


def test_yearly_done_early_sits_in_the_month_it_was_done():
    recs = [(date(2025, 9, 1), None, None, True), (date(2026, 8, 5), None, None, True), (date(2026, 7, 1), None, None, False)]
    assert expected_dates({"every_months": 12}, recs, START, END) == [date(2026, 8, 5)]
    # never done before the period: due at its start
    assert expected_dates({"every_months": 12}, [], START, END)[0] == START


def test_monthly_schedule_and_current_partial_month():
    recs = [(date(2026, m, 3), None, None, True) for m in range(1, 6)]  # done Jan–May, then stopped
    due = expected_dates({"every_months": 1}, [(date(2025, 12, 3), None, None, True)] + recs, START, END)
    assert len(due) >= 7
    cov = compute([("ISO 9001:2015", "9.2")], MONTHS, [(1, d) for d, *_ in recs], {1: IA}, {"p": IA}, {"p": due},
                  today=date(2026, 8, 12))
    g = grid(cov)
    assert [st for st, *_ in g[:5]] == ["ok"] * 5
    assert g[5][0] == "missing" and g[6][0] == "missing"  # June, July
    assert g[7][0] == "partial"  # August: the month is not over
    assert {st for st, *_ in g[8:]} == {"future"}
    assert cov.current == 7


def test_subject_based_schedule_expects_a_renewal_by_each_due_date():
    recs = [(date(2025, 3, 1), "JL-1", date(2026, 3, 1), True), (date(2026, 2, 20), "JL-1", date(2027, 2, 20), True),
            (date(2025, 9, 1), "JL-2", date(2026, 9, 1), True),
            (date(2026, 8, 25), "JL-2", date(2027, 8, 25), False)]  # a draft renewal does not count
    due = expected_dates({"due_field": "next_due_date"}, recs, START, END)
    assert sorted(due) == [date(2026, 2, 20), date(2026, 9, 1)]
    cov = compute([("ISO 9001:2015", "7.1")], MONTHS, [(1, date(2026, 2, 20)), (1, date(2026, 8, 25))], {1: CAL},
                  {"calibration-record": CAL}, {"calibration-record": due}, today=date(2027, 1, 5))
    g = grid(cov)
    assert g[1] == ("ok", 1, 1) and g[8] == ("missing", 0, 1)
    assert g[7] == ("ok", 1, 0)  # August has the draft: found, nothing due then


def test_unscheduled_processes_expect_records_every_month():
    cov = compute([("ISO 9001:2015", "8.5")], MONTHS, [(1, date(2026, 1, 5))], {1: PROD}, {"production": PROD},
                  {"production": None}, today=date(2027, 1, 1))
    g = grid(cov)
    assert g[0] == ("ok", 1, None) and g[1] == ("missing", 0, None)
    assert cov.rows[0].continuous
    groups = cov.groups()
    assert [(s, top) for s, top, _r in groups] == [("ISO 9001:2015", "8")]
