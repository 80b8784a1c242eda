"""Coverage matrix: clauses × months of the audited period, expected against actual.

A record counts for a clause when the template version it was made with serves that clause — lists it or
one of its sub-clauses (a record of a template listing 9.2.2 counts for 9.2).

What is *expected* in a month follows each serving process's schedule:
- `every_months` N (internal audit, management review): one record when it falls due — N months after the
  last completed one (never done before the period: due at its start); done early or on time, the
  expectation sits in the month it was done; missed, in the month it fell due (red);
- `due_field` (calibration, licences…): per subject, a renewal by each due date inside the period;
- no schedule (production, inspection…): records every month ("continuous").
A month in which nothing was due is not red; the current month is partial and months after today are not
judged yet. Cells say "expected N, found M".
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date

from sqlalchemy import and_, literal, or_, union_all
from sqlmodel import Session, func, select

from workbench import clauses as catalogue


@dataclass
class Row:
    standard: str
    clause: str
    title: dict
    templates: list[str] = field(default_factory=list)  # adopted processes serving the clause
    counts: list[int] = field(default_factory=list)  # per month
    system: dict | None = None  # {zh, en} when the documented system itself serves the clause (clauses.json)
    counts: list[int] = field(default_factory=list)  # per month: found
    expected: list[int] = field(default_factory=list)  # per month: due by a schedule
    continuous: bool = False  # an unscheduled process serves the clause: records expected every month

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def depth(self) -> int:
        return self.clause.count(".")


@dataclass
class Cell:
    status: str  # ok | missing | not_due | partial | future
    found: int
    expected: int | None  # None: "records every month"


@dataclass
class Coverage:
    months: list[str]
    rows: list[Row]
    current: int | None = None  # index of the current (partial) month
    judged_until: int | None = None  # months after this index are in the future

    def cell(self, row: Row, i: int) -> Cell:
        found = row.counts[i]
        exp = row.expected[i] if row.expected else 0
        wanted = None if row.continuous and not exp else exp
        if self.judged_until is not None and i > self.judged_until:
            return Cell("future", found, wanted)
        short = found < (1 if wanted is None else wanted)
        if self.current == i and short:
            return Cell("partial", found, wanted)
        if wanted is not None and wanted == 0:
            return Cell("ok" if found else "not_due", found, 0)
        return Cell("missing" if short else "ok", found, wanted)

    def grid(self, row: Row) -> list[Cell]:
        """The row's cells (computed once per row: the page reads them twice)."""
        memo = self.__dict__.setdefault("_grids", {})
        if id(row) not in memo:
            memo[id(row)] = (row, [self.cell(row, i) for i in range(len(self.months))])
        return memo[id(row)][1]

    @property
    def empty_cells(self) -> int:
        """Cells where something was expected and not found (not-due, partial and future months aside)."""
        return sum(1 for r in self.rows for i in range(len(self.months)) if self.cell(r, i).status == "missing")

    def groups(self) -> list[tuple[str, str, list[Row]]]:
        """Rows grouped by standard and top-level clause (4 … 10), for collapsible sections."""
        out: list[tuple[str, str, list[Row]]] = []
        for r in self.rows:
            top = r.clause.split(".")[0]
            if not out or out[-1][0] != r.standard or out[-1][1] != top:
                out.append((r.standard, top, []))
            out[-1][2].append(r)
        return out

    @property
    def cells(self) -> int:
        return len(self.rows) * len(self.months)

    @property
    def uncovered(self) -> list[Row]:
        """Clauses no adopted process serves and the catalogue does not mark as served by the system itself."""
        return [r for r in self.rows if not r.templates and not r.system]


def months_between(start: date, end: date) -> list[str]:
    out, y, m = [], start.year, start.month
    while (y, m) <= (end.year, end.month):
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def clause_rows(standards: Iterable[str], scope_clauses: list[dict] | None = None, detail: bool = False) -> list[tuple[str, str]]:
    """The (standard, clause) rows: the scope's clauses if given, else the catalogue's second-level clauses
    (4.1 … 10.3; with detail=True every sub-clause too)."""
    standards = [s for s in catalogue.STANDARDS if s in set(standards)]
    if scope_clauses:
        wanted = {(c["standard"], c["clause"]) for c in scope_clauses if c.get("standard") in standards or not standards}
        return sorted(wanted, key=lambda sc: (catalogue.STANDARDS.index(sc[0]), catalogue.sort_key(sc[1])))
    out = []
    for s in standards:
        for c in catalogue.catalogue()[s]["clauses"]:
            if c.count(".") >= 1 and (detail or c.count(".") == 1):
                out.append((s, c))
    return sorted(out, key=lambda sc: (catalogue.STANDARDS.index(sc[0]), catalogue.sort_key(sc[1])))


def expected_dates(schedule: dict | None, recs: list[tuple], start: date, end: date) -> list[date] | None:
    """The dates in [start, end] on which one record of a process is expected (see the module docstring).
    recs: (record date, subject, due date, completed[, how many such records]) of the process, also from before
    the period (identical records may come grouped, with their number). None: no schedule — records are
    expected every month."""
    from workbench.schedules import add_months

    if not schedule:
        return None
    out: list[date] = []
    if schedule.get("every_months"):
        n = int(schedule["every_months"])
        done = sorted(d for d, _s, _due, final, *_n in recs if final and d)
        before = [d for d in done if d < start]
        anchor = before[-1] if before else None
        due = add_months(anchor, n) if anchor else start
        while due <= end and n > 0:
            on_time = next((d for d in done if (anchor is None or d > anchor) and d <= due and d >= start), None)
            if on_time:
                out.append(on_time)
                anchor = on_time
            else:
                out.append(due)
                anchor = next((d for d in done if d > due), due)
            due = add_months(anchor, n)
        return out
    if schedule.get("due_field"):
        by_subject: dict[str, list[tuple[date, date | None, int]]] = {}
        for d, subject, due, final, *n in recs:
            if d and final:
                by_subject.setdefault(subject or "", []).append((d, due, n[0] if n else 1))
        for rs in by_subject.values():
            rs.sort()
            for d, due, times in rs:
                if due is None or not start <= due <= end:
                    continue
                renewal = next((d2 for d2, _, _n in rs if d < d2 <= due), None)
                out += [renewal if renewal and renewal >= start else due] * times
        return out
    return None


def served_clauses(clauses: list[dict]) -> set[tuple[str, str]]:
    """The (standard, clause) pairs a template's clause list serves: each clause and every parent (8.5.1 → 8.5, 8)."""
    return {(c["standard"], ".".join(parts[:n])) for c in clauses
            for parts in [c["clause"].split(".")] for n in range(1, len(parts) + 1)}


def compute(rows: list[tuple[str, str]], months: list[str], records: Iterable[tuple[int, date]],
            template_clauses: dict[int, list[dict]], adopted: dict[str, list[dict]],
            expected: dict[str, list[date] | None] | None = None, today: date | None = None) -> Coverage:
    """Pure: records are (template id, record date[, how many records of that template in that date's month]);
    template_clauses maps template id -> its clauses;
    adopted maps adopted process key -> its clauses (for naming the processes that serve a row);
    expected maps adopted process key -> expected dates (None: every month; see expected_dates); without
    it every month expects records (the matrix before schedules were considered)."""
    index = {(int(m[:4]), int(m[5:7])): i for i, m in enumerate(months)}
    per_template: dict[int, list[int]] = {}
    for tid, d, *n in records:
        i = index.get((d.year, d.month)) if d else None
        if i is None:
            continue
        per_template.setdefault(tid, [0] * len(months))[i] += n[0] if n else 1
    # what each template version serves
    served = {tid: served_clauses(template_clauses.get(tid, [])) for tid in per_template}
    # which adopted processes serve each (standard, clause) (as sampling.serves answers it, for every row at once)
    serving: dict[tuple[str, str], set[str]] = {}
    for k, cl in adopted.items():
        for sc in served_clauses(cl):
            serving.setdefault(sc, set()).add(k)
    out = []
    for standard, clause in rows:
        row = Row(standard, clause, dict(zh=catalogue.title(standard, clause, "zh"), en=catalogue.title(standard, clause, "en")),
                  templates=sorted(serving.get((standard, clause), ())), counts=[0] * len(months),
                  system=catalogue.served_by_system(standard, clause))
        for tid, counts in per_template.items():
            if (standard, clause) in served[tid]:
                row.counts = [a + b for a, b in zip(row.counts, counts)]
        row.expected = [0] * len(months)
        if expected is None:
            row.continuous = True
        for key in row.templates:
            dates = (expected or {}).get(key)
            if dates is None:
                row.continuous = True
                continue
            for d in dates:
                i = index.get((d.year, d.month))
                if i is not None:
                    row.expected[i] += 1
        out.append(row)
    cov = Coverage(months, out)
    if today is not None:
        cur = today.strftime("%Y-%m")
        cov.current = index.get((today.year, today.month))
        cov.judged_until = cov.current if cov.current is not None else (len(months) - 1 if months and months[0] <= cur else -1)
    return cov


MAX_PAIRS = 400  # (process, final state) pairs joined as a UNION ALL (SQLite: at most 500 compound terms)


def coverage(db: Session, org, standards: Iterable[str], start: date, end: date, scope_clauses: list[dict] | None = None,
             scope_processes: list[str] | None = None, detail: bool = False, today: date | None = None) -> Coverage:
    """The matrix from the records counted per template version and day (record_day_tally, kept by triggers:
    workbench.tallies) and one aggregate query over the scheduled processes' records, their distinct (date,
    subject, due date, state) with their counts — no record is loaded."""
    from workbench import library, tallies
    from workbench.models import ProcessTemplate, Record
    from workbench.workflow import is_final

    # per month and template version, summed from the day rows in SQL
    recs = tallies.month_counts(db, org.id, start, end, scope_processes)
    tids = {t for t, _d, _n in recs}
    everything = library.processes(db, org)
    procs = [t for t in everything if not scope_processes or t.key in scope_processes]
    adopted = {t.key: t.body.get("clauses") or [] for t in procs}
    scheduled = {t.key: t for t in procs if t.body.get("schedule")}
    tbodies = {t.id: t.body for t in everything}
    rows = []
    if scheduled:  # the scheduled processes' completed records, grouped on the few columns the schedule needs
        # (expected_dates counts only records in a final state: the states final in any version of the process,
        # so ix_record_todo (org, process, state, date) skips drafts and records under way)
        older = db.exec(select(ProcessTemplate).where(
            ProcessTemplate.key.in_(list(scheduled)), ProcessTemplate.id.not_in(list(tbodies)),
            or_(ProcessTemplate.org_id == org.id, ProcessTemplate.org_id.is_(None)))).all()
        tbodies.update({t.id: t.body for t in older})
        finals = sorted({(t.key, s) for t in [*older, *scheduled.values()]
                         for s, spec in t.body["workflow"]["states"].items() if spec.get("final")}) or [("", "")]
        # joined from the (process, state) pairs, so each is one range of the index (SQLite otherwise prefers
        # walking all the organization's records through ix_record_frame)
        cols = (Record.template_key, Record.template_id, Record.record_date, Record.subject, Record.due_date, Record.state)
        if len(finals) <= MAX_PAIRS:
            pairs = union_all(*(select(literal(k).label("k"), literal(s).label("s")) for k, s in finals)).subquery("ks")
            q = select(*cols, func.count()).select_from(pairs).join(Record, and_(
                Record.org_id == org.id, Record.template_key == pairs.c.k, Record.state == pairs.c.s))
        else:  # more than SQLite's compound SELECT takes
            q = select(*cols, func.count()).where(Record.org_id == org.id, Record.template_key.in_(list(scheduled)),
                                                  Record.state.in_({s for _k, s in finals}))
        rows = db.exec(q.where(Record.record_date <= end).group_by(*cols)).all()
    # template versions: the adopted ones are loaded already; one query for older versions that records still use
    need = (tids | {r[1] for r in rows}) - set(tbodies)
    tbodies.update({t.id: t.body for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.id.in_(need or {0}))).all()})
    bodies = {tid: tbodies[tid].get("clauses") or [] for tid in tids if tid in tbodies}
    history: dict[str, list] = {k: [] for k in scheduled}
    for key, tid, d, subject, due, state, n in rows:
        history[key].append((d, subject, due, is_final(tbodies.get(tid) or scheduled[key].body, state), n))
    expected = {k: expected_dates(t.body.get("schedule"), history.get(k, []), start, end) for k, t in
                {t.key: t for t in procs}.items()}
    return compute(clause_rows(standards, scope_clauses, detail), months_between(start, end), recs, bodies, adopted,
                   expected, today or date.today())
