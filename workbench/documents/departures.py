"""The 两张皮 detector: what each procedure in force says, against what the records show over a period.

For every procedure in force during [start, end] (the written side is that procedure's template version):
- frequency: intervals between completed records longer than "every N months" (+ grace); subjects past due;
- responsibilities: each transition taken by someone who did not hold a written role at the time (role
  history from current memberships, their validity windows and the chain's membership_add / _remove events);
- steps: records whose chain skips a state, returns to an earlier state (reversed), or has stayed in a
  non-final state longer than `stuck_days`;
- records: fields the written version requires (plainly or when applicable) left empty in records made
  under older versions;
- backfilled records (activity date long before creation) and bursts of records created just before the
  audit: `workbench.anomalies`, with the messages in the page's language (`lang`).
Thresholds are the organization's settings (`DocumentSettings.thresholds`), defaulting to `DEFAULTS`.
Every departure names the records it is about.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import force_locale
from sqlmodel import Session, select

from workbench.actions import Action
from workbench.documents import control
from workbench.documents.models import PROCEDURE, ControlledDocument
from workbench.documents.rules import txt
from workbench.documents.words import role_name
from workbench.models import Event, Membership, Organization, ProcessTemplate, Record, User
from workbench.schedules import add_months, subject_items
from workbench.workflow import is_final

DEFAULTS = {"frequency_grace_days": 30, "stuck_days": 90, "backfill_days": 30, "burst_window_days": 14,
            "burst_factor": 3.0, "burst_min": 5}
KINDS = ("frequency", "overdue", "role", "step", "reversed", "stuck", "fields", "backfilled", "burst")


def thresholds(db: Session, org: Organization) -> dict:
    out = dict(DEFAULTS)
    for k, v in (control.settings(db, org).thresholds or {}).items():
        if k in DEFAULTS and isinstance(v, (int, float)) and v >= 0:
            out[k] = v
    return out


@dataclass
class Departure:
    kind: str
    key: str
    message: str
    record_ids: list[int] = field(default_factory=list)
    severity: str = "medium"  # low | medium | high


SHOWN = 200  # departures kept per procedure check (the rest are counted in `omitted`)
CHUNK = 500  # records read (with their events) at a time
ROWS = 5000  # rows of (id, dates, version, state) read at a time


@dataclass
class ProcedureCheck:
    document: ControlledDocument
    template: ProcessTemplate
    title: str
    departures: list[Departure] = field(default_factory=list)  # the first SHOWN
    facts: list[str] = field(default_factory=list)  # what was compared, in words
    omitted: dict[str, int] = field(default_factory=dict)  # kind -> departures found beyond the first SHOWN

    def add(self, found: list[Departure]) -> None:
        room = max(0, SHOWN - len(self.departures))
        self.departures += found[:room]
        for d in found[room:]:
            self.omitted[d.kind] = self.omitted.get(d.kind, 0) + 1

    @property
    def count(self) -> int:
        return len(self.departures) + sum(self.omitted.values())


@dataclass
class Report:
    start: date
    end: date
    thresholds: dict
    checks: list[ProcedureCheck]
    unwritten: list[str]  # adopted processes with no procedure in force during the period

    @property
    def count(self) -> int:
        return sum(c.count for c in self.checks)

    def by_kind(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for c in self.checks:
            for d in c.departures:
                out[d.kind] += 1
            for k, n in c.omitted.items():
                out[k] += n
        return dict(out)


def _day_end(d: date) -> datetime:
    return datetime.combine(d, time.max, tzinfo=timezone.utc)


def _day_start(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def procedures_in_force(db: Session, org: Organization, start: date, end: date) -> list[ControlledDocument]:
    """Per process, the newest procedure version in force at some moment of [start, end]."""
    best: dict[str, ControlledDocument] = {}
    for d in db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id,
                                                      ControlledDocument.kind == PROCEDURE)).all():
        if d.approved_at is None or _aware(d.approved_at) > _day_end(end):
            continue
        if d.superseded_at is not None and _aware(d.superseded_at) < _day_start(start):
            continue
        if d.key not in best or d.version > best[d.key].version:
            best[d.key] = d
    return sorted(best.values(), key=lambda d: d.number)


def detect(db: Session, org: Organization, start: date, end: date, lang: str = "zh",
           limits: dict | None = None) -> Report:
    """Per procedure in force, its process's records are read in batches of CHUNK (with their events), never the
    whole history at once; each check keeps its first SHOWN departures and counts the rest."""
    limits = {**thresholds(db, org), **(limits or {})}
    docs = procedures_in_force(db, org, start, end)
    from workbench import library

    unwritten = [t.key for t in library.processes(db, org) if t.key not in {d.key for d in docs}]
    keys = [d.key for d in docs]
    bodies = {t.id: t for t in db.exec(select(ProcessTemplate).where(
        (ProcessTemplate.key.in_(keys) & ((ProcessTemplate.org_id == org.id) | ProcessTemplate.org_id.is_(None)))
        | ProcessTemplate.id.in_({d.template_id for d in docs if d.template_id} | {0}))).all()} if keys else {}
    members = _memberships(db, org) if keys else {}
    admins = {u.id for u in db.exec(select(User).where(User.is_admin == True)).all()} if keys else set()  # noqa: E712
    checks = []
    for d in docs:
        tpl = bodies.get(d.template_id)
        if tpl is None:
            continue
        check = ProcedureCheck(d, tpl, txt(tpl.body.get("title"), lang, d.key))
        freq, done_in_period = _frequency(db, org.id, tpl, bodies, start, end, limits, lang)
        check.add(freq)
        roles, steps, fields, n, moves = _Tally(), _Tally(), _Tally(), 0, 0
        for chunk in _in_period(db, org.id, d.key, start, end):
            events: dict[int, list[Event]] = defaultdict(list)
            for e in db.exec(select(Event).where(Event.org_id == org.id, Event.record_id.in_([r.id for r in chunk]))
                             .order_by(Event.seq)).all():
                events[e.record_id].append(e)
            n += len(chunk)
            moves += _moves(chunk, events, start, end)
            # each kind keeps at most SHOWN (+ its count): the check's order is frequency, roles, steps, fields
            roles.add(_responsibilities(chunk, events, bodies, members, admins, start, end, lang))
            steps.add(_steps(chunk, events, bodies, end, limits, lang))
            fields.add(_fields(tpl, chunk, lang))
        for t in (roles, steps, fields):
            check.add(t.kept)
            for k, more in t.omitted.items():
                check.omitted[k] = check.omitted.get(k, 0) + more
        check.facts = _facts(tpl, n, moves, done_in_period, lang)
        checks.append(check)
    _anomalies(db, org, checks, start, end, limits, lang)
    return Report(start, end, limits, checks, unwritten)


class _Tally:
    """The first SHOWN departures of one kind group, and how many more of each kind were found."""

    def __init__(self) -> None:
        self.kept: list[Departure] = []
        self.omitted: dict[str, int] = {}

    def add(self, found: list[Departure]) -> None:
        room = max(0, SHOWN - len(self.kept))
        self.kept += found[:room]
        for d in found[room:]:
            self.omitted[d.kind] = self.omitted.get(d.kind, 0) + 1


def _in_period(db: Session, org_id: int, key: str, start: date, end: date):
    """The process's records of the period (created by its end, and dated in it or created during it), in id
    order, as lists of CHUNK."""
    q = select(Record).where(Record.org_id == org_id, Record.template_key == key,
                             Record.created_at <= _day_end(end),
                             ((Record.record_date >= start) & (Record.record_date <= end))
                             | (Record.created_at >= _day_start(start))).order_by(Record.id)
    return db.exec(q.execution_options(yield_per=CHUNK)).partitions(CHUNK)


# --- frequency ------------------------------------------------------------------------------------------------


def _frequency(db: Session, org_id: int, tpl: ProcessTemplate, bodies: dict, start: date, end: date, limits: dict,
               lang: str) -> tuple[list[Departure], _Done]:
    """Departures from the written frequency, and the completed records dated in the period (for the facts).
    Reads the process's (id, dates, version, state) in date order, not its records."""
    sched = tpl.body.get("schedule") or {}
    grace = timedelta(days=int(limits["frequency_grace_days"]))
    out: list[Departure] = []
    zh = lang == "zh"
    done_in_period = _Done()
    cols = (Record.id, Record.record_date, Record.template_id, Record.state)
    if "every_months" in sched:
        n = int(sched["every_months"])
        rows = db.exec(select(*cols).where(Record.org_id == org_id, Record.template_key == tpl.key,
                                           Record.record_date.is_not(None), Record.record_date <= end)
                       .order_by(Record.record_date, Record.id).execution_options(yield_per=ROWS))
        a = None
        for b in rows:
            if b.template_id not in bodies or not is_final(bodies[b.template_id].body, b.state):
                continue
            if b.record_date >= start:
                done_in_period.add(b.record_date)
            if a is not None and b.record_date >= start and b.record_date > add_months(a.record_date, n) + grace:
                days = (b.record_date - a.record_date).days
                out.append(Departure("frequency", tpl.key,
                                     f"书面规定每 {n} 个月一次，实际间隔 {days} 天（{a.record_date} → {b.record_date}）" if zh else
                                     f"Written: every {n} months; actual interval {days} days ({a.record_date} → {b.record_date})",
                                     [a.id, b.id], "high"))
            a = b
        last = a
        if last is None and (end - start).days > n * 30:
            out.append(Departure("frequency", tpl.key, f"书面规定每 {n} 个月一次，期间内无已完成的记录" if zh else
                                 f"Written: every {n} months; no completed record in the period", [], "high"))
        elif last is not None and add_months(last.record_date, n) + grace < end:
            out.append(Departure("overdue", tpl.key, f"最近一次完成于 {last.record_date}，已超过 {n} 个月的书面频次" if zh else
                                 f"Last completed on {last.record_date}: past the written {n}-month frequency",
                                 [last.id], "high"))
    elif "due_field" in sched:
        rows = db.exec(select(Record.id, Record.subject, Record.due_date, Record.record_date).where(
            Record.org_id == org_id, Record.template_key == tpl.key, Record.record_date.is_(None) | (Record.record_date <= end))
            .execution_options(yield_per=ROWS))
        for item in subject_items(tpl, rows, end):  # keeps the latest row per subject, not the records
            if item.status == "overdue" and item.due + grace < end:
                out.append(Departure("overdue", tpl.key, f"「{item.subject}」已于 {item.due} 到期，期末仍无新记录" if zh else
                                     f"“{item.subject}” fell due on {item.due}; no newer record by the period's end",
                                     [item.last_record.id] if item.last_record else [], "high"))
    return out, done_in_period


class _Done:
    """Completed records' dates in the period, in order: their number and the first SHOWN intervals."""

    def __init__(self) -> None:
        self.n, self.last, self.gaps = 0, None, []

    def add(self, d: date) -> None:
        if self.last is not None and len(self.gaps) < SHOWN:
            self.gaps.append(str((d - self.last).days))
        self.n, self.last = self.n + 1, d


def _moves(recs, events, start, end) -> int:
    """Workflow steps (transitions, signatures) taken in the period on these records."""
    return sum(1 for r in recs for e in events.get(r.id, [])
               if e.action in (Action.TRANSITION, Action.SIGN) and _day_start(start) <= _aware(e.at) <= _day_end(end))


def _facts(tpl, n_in_period: int, steps: int, done: _Done, lang) -> list[str]:
    """The written side and what the records show, for the reader (no judgement)."""
    zh = lang == "zh"
    out = [f"期间内记录 {n_in_period} 条，流程步骤 {steps} 次" if zh else
           f"{n_in_period} records and {steps} workflow steps in the period"]
    sched = tpl.body.get("schedule") or {}
    if "every_months" in sched:
        gaps = done.gaps + (["…"] if done.n - 1 > len(done.gaps) else [])
        n = sched["every_months"]
        out.append((f"书面：每 {n} 个月；期间内完成 {done.n} 次" + (f"，间隔 {'、'.join(gaps)} 天" if gaps else "")) if zh else
                   (f"Written: every {n} months; done {done.n} times in the period" +
                    (f", intervals {', '.join(gaps)} days" if gaps else "")))
    return out


# --- responsibilities -------------------------------------------------------------------------------------------


@dataclass
class Tenure:
    """A role a user held in the organization from `start` to `end` (None: open), within its validity window."""
    role: str
    start: datetime | None
    end: datetime | None


def _memberships(db: Session, org: Organization) -> dict[int, list[Tenure]]:
    """Role history per user: current memberships (from their `membership_add` event if the chain has one)
    and removed ones (`membership_remove` events), so a step is judged by the roles held when it was taken."""
    added: dict[int, datetime] = {}
    out: dict[int, list[Tenure]] = defaultdict(list)
    history = db.exec(select(Event).where(Event.org_id == org.id,
                                          Event.action.in_(("membership_add", "membership_remove")))
                      .order_by(Event.seq)).all()
    for e in history:
        d = e.detail or {}
        if not isinstance(d.get("membership"), int):
            continue
        if e.action == "membership_add":
            added[d["membership"]] = _aware(e.at)
        elif isinstance(d.get("user"), int) and isinstance(d.get("role"), str):
            out[d["user"]].append(Tenure(d["role"], added.get(d["membership"]), _aware(e.at)))
    for m in db.exec(select(Membership).where(Membership.org_id == org.id)).all():
        start = added.get(m.id)
        if m.valid_from is not None:
            start = max(start, _aware(m.valid_from)) if start else _aware(m.valid_from)
        out[m.user_id].append(Tenure(m.role, start, _aware(m.valid_until) if m.valid_until else None))
    return out


def roles_at(members: dict[int, list[Tenure]], user_id: int | None, at: datetime) -> set[str]:
    return {t.role for t in members.get(user_id or 0, []) if (t.start is None or t.start <= at) and (t.end is None or t.end >= at)}


def _spec(body: dict, name: str | None) -> dict | None:
    return next((t for t in body["workflow"]["transitions"] if t["name"] == name), None)


def _responsibilities(recs, events, bodies, members, admins, start, end, lang) -> list[Departure]:
    out = []
    zh = lang == "zh"
    for r in recs:
        body = bodies[r.template_id].body
        for e in events.get(r.id, []):
            if e.action not in (Action.TRANSITION, Action.SIGN) or not (_day_start(start) <= _aware(e.at) <= _day_end(end)):
                continue
            spec = _spec(body, (e.detail or {}).get("transition"))
            if spec is None:
                continue  # reported under steps
            held = roles_at(members, e.actor_id, _aware(e.at))
            if held & set(spec["roles"]):
                continue
            label = txt(spec.get("label"), lang, spec["name"])
            written = ("、" if zh else ", ").join(role_name(x, lang) for x in spec["roles"])
            actual = ("、" if zh else ", ").join(role_name(x, lang) for x in sorted(held)) or (
                role_name("admin", lang) if e.actor_id in admins else ("无角色" if zh else "no role"))
            who = e.actor_name or "?"
            out.append(Departure("role", r.template_key,
                                 f"「{label}」书面规定由{written}执行，实际由 {who}（当时角色：{actual}）执行" if zh else
                                 f"“{label}” is written for {written}; taken by {who} (role at the time: {actual})",
                                 [r.id], "high" if e.action == Action.SIGN else "medium"))
    return out


# --- steps --------------------------------------------------------------------------------------------------------


def _steps(recs, events, bodies, end, limits, lang) -> list[Departure]:
    out = []
    zh = lang == "zh"
    stuck_before = _day_end(end) - timedelta(days=int(limits["stuck_days"]))
    for r in recs:
        body = bodies[r.template_id].body
        states = body["workflow"]["states"]
        name = lambda s: txt((states.get(s) or {}).get("label"), lang, s or "")  # noqa: E731
        state, seen, last_at = None, [], None
        for e in events.get(r.id, []):
            if _aware(e.at) > _day_end(end):
                break
            if e.action == Action.CREATE:
                state, seen, last_at = e.to_state, [e.to_state], _aware(e.at)
                continue
            if e.action == Action.SIGNATURE_VOID:  # an edit after signature sent it back: the system's own step
                state, last_at = e.to_state or state, _aware(e.at)
                continue
            if e.action not in (Action.TRANSITION, Action.SIGN):
                continue
            spec = _spec(body, (e.detail or {}).get("transition"))
            if spec is None or e.from_state != state or e.from_state not in spec["from"] or e.to_state != spec["to"]:
                out.append(Departure("step", r.template_key,
                                     f"记录从「{name(state)}」跳到「{name(e.to_state)}」，不符合书面流程" if zh else
                                     f"Record went from “{name(state)}” to “{name(e.to_state)}”, not a written step",
                                     [r.id], "high"))
            elif e.to_state in seen:
                out.append(Departure("reversed", r.template_key,
                                     f"记录退回到已经过的步骤「{name(e.to_state)}」" if zh else
                                     f"Record went back to an earlier step “{name(e.to_state)}”", [r.id], "low"))
            state, last_at = e.to_state, _aware(e.at)
            seen.append(e.to_state)
        if state and not is_final(body, state) and last_at and last_at < stuck_before:
            days = (_day_end(end) - last_at).days
            out.append(Departure("stuck", r.template_key,
                                 f"记录停留在「{name(state)}」已 {days} 天（超过 {int(limits['stuck_days'])} 天）" if zh else
                                 f"Record has stayed in “{name(state)}” for {days} days (over {int(limits['stuck_days'])})",
                                 [r.id], "medium"))
    return out


# --- records made under older versions ----------------------------------------------------------------------------


def _fields(tpl: ProcessTemplate, recs: list[Record], lang: str) -> list[Departure]:
    from workbench.documents.rules import missing_required

    props = tpl.body["schema"].get("properties") or {}
    out = []
    for r in recs:
        if r.template_id == tpl.id:
            continue
        missing = missing_required(tpl.body, r.data)
        if missing:
            labels = ("、" if lang == "zh" else ", ").join(txt((props.get(m) or {}).get("label"), lang, m) for m in missing)
            out.append(Departure("fields", r.template_key,
                                 f"旧版本表单的记录缺少现行程序要求的字段：{labels}" if lang == "zh" else
                                 f"Record made with an older form lacks fields the procedure in force requires: {labels}",
                                 [r.id], "medium"))
    return out


# --- backfilled records and bursts (workbench.anomalies) ---------------------------------------------------------


def _anomalies(db, org, checks, start, end, limits, lang) -> None:
    """Backfilled records and bursts from `workbench.anomalies` (the organization's thresholds, `burst_min`
    included), each attached to the procedure check of its process, with the message in the page's language.
    Each anomaly is about one process (its `key`) and names at most anomalies.MAX_IDS of its records."""
    from workbench import anomalies

    by_key = {c.document.key: c for c in checks}
    if not by_key:  # nothing to attach them to: the two aggregates over the period are not run
        return
    found = [("backfilled", a) for a in anomalies.backfilled(db, org.id, start, end, int(limits["backfill_days"]))]
    before = end + timedelta(days=1)  # `before` is exclusive; the period's last day counts
    found += [("burst", a) for a in anomalies.bursts(db, org.id, before, int(limits["burst_window_days"]),
                                                     float(limits["burst_factor"]), minimum=int(limits["burst_min"]))]
    with force_locale("en" if lang == "en" else "zh_CN"):
        for kind, dep in found:
            k = dep.params.get("key")
            if k in by_key and dep.record_ids:
                by_key[k].add([Departure(kind, k, dep.message, list(dep.record_ids), dep.severity)])
