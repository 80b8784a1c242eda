"""Readiness: the causes of an abandoned certification audit that records and due dates can reveal.

From the list of common causes (docs: /work/shared/iso-hls.md), these are detected automatically:

2. no internal audit (internal-audit), no management review (management-review) or no objective-achievement
   statistics (quality-objectives with measured actual values) in the cycle;
3. no operation records (production, inspection, service…) in the cycle — any adopted process without records;
5. special-equipment inspection certificates expired (special-equipment);
6. measuring-instrument calibration expired (calibration-record);
7. no valid type-test report (type-test-report);
8. administrative licences expired (licence-permit).

Validity (5–8) comes only from records in a final, accepted state with a passing result (audit.validity):
a later failed or limited result ends it, a draft never extends it; a lapse at any time in the period is
reported with its dates; a registered instrument (measuring-equipment) or a subject whose records never
established validity is flagged. Internal audit and management review must cover every standard of the
engagement (the record's `standards` field). Also, where the data is there: documents past their review
date (1), production / inspection equipment (4), scope changed since certification (9), headcount moved out
of the certified audit-time band (10), licences whose originals are not yet verified (14), the
organization's discharge permit (8) and the certification programme's overdue audits.

Each item links to its evidence (records) or states the absence. A process the organization has not
adopted is reported as "not tracked" (the system cannot tell), never as a crash or a pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlmodel import Session, func, select

from workbench import library, signatures
from workbench.audit import seals, validity
from workbench.models import Organization, ProcessTemplate, Record
from workbench.workflow import is_final

OK, FAIL, WARN, NOT_TRACKED = "ok", "fail", "warn", "not_tracked"
STATUS_ORDER = {FAIL: 0, WARN: 1, NOT_TRACKED: 2, OK: 3}

PERIODIC = [("internal_audit", "internal-audit", 2), ("management_review", "management-review", 2)]
OBJECTIVES = ("objectives", "quality-objectives", 2)
EXPIRY = [("calibration", "calibration-record", 6), ("special_equipment", "special-equipment", 5),
          ("type_test", "type-test-report", 7), ("licence", "licence-permit", 8)]
OWN_CHECKS = {k for _c, k, _n in PERIODIC + EXPIRY} | {OBJECTIVES[1]}
# the values a record's `standards` field uses for each standard (internal audit: iso9001…; management review: qms…)
STANDARD_CODES = {"ISO 9001:2015": {"iso9001", "qms"}, "ISO 14001:2015": {"iso14001", "ems"},
                  "ISO 45001:2018": {"iso45001", "ohsms"}}
REGISTERS = {"calibration-record": ("measuring-equipment", "instrument_no", {"in_use", "limited"})}
EQUIPMENT = ("equipment-maintenance", "measuring-equipment")
EVIDENCE = 50  # evidence records an item keeps (Item.total says how many there are)
BATCH = 2000  # rows read at a time
CHECK_ORDER = ["programme", "internal_audit", "management_review", "objectives", "documents", "operation", "equipment",
               "calibration", "special_equipment", "type_test", "licence", "scope", "headcount"]


@dataclass
class Item:
    check: str  # internal_audit | management_review | objectives | operation | calibration | special_equipment | type_test | licence
    cause: int  # number in the list of abandonment causes
    status: str  # ok | fail | warn | not_tracked
    code: str  # what was found (see message)
    template_key: str
    subject: str | None = None
    records: list[Record] = field(default_factory=list)  # the evidence (the first EVIDENCE of them)
    params: dict = field(default_factory=dict)
    total: int | None = None  # how many records the evidence is, when `records` holds only the first of them

    @property
    def count(self) -> int:
        """The number of evidence records (more than len(records) when the list was capped)."""
        return len(self.records) if self.total is None else self.total

    @property
    def more(self) -> int:
        return self.count - len(self.records)

    @property
    def message(self) -> str:
        p = self.params
        texts = {
            "not_tracked": lambda: _("The process “%(key)s” is not adopted: the system cannot tell; check it on paper.", key=self.template_key),
            "completed": lambda: _("Completed in the period: %(n)s record(s).", n=p.get("n", 0)),
            "not_completed": lambda: _("Held in the period but not completed (no record in a final state)."),
            "none_in_period": lambda: _("No record in the period %(start)s – %(end)s.", start=p.get("start"), end=p.get("end")),
            "objectives_measured": lambda: _("Objective statistics in the period, all with measured actual values: %(n)s record(s).", n=p.get("n", 0)),
            "objectives_unmeasured": lambda: _("Objectives without a measured actual value: %(items)s.", items=p.get("items", "")),
            "no_objectives": lambda: _("No objective-achievement statistics in the period %(start)s – %(end)s.", start=p.get("start"), end=p.get("end")),
            "records_in_period": lambda: _("%(n)s record(s) in the period.", n=p.get("n", 0)),
            "in_force": lambda: _("No new record in the period, but a record in force during it."),
            "no_operation_records": lambda: _("No operation records in the period: production, inspection or service evidence is missing."),
            "no_records": lambda: _("No records in the period."),
            "expired": lambda: _("%(subject)s expired on %(due)s.", subject=self.subject, due=p.get("due")),
            "expires_soon": lambda: _("%(subject)s expires on %(due)s.", subject=self.subject, due=p.get("due")),
            "all_valid": lambda: _("All %(n)s valid.", n=p.get("n", 0)),
            "no_subjects": lambda: _("No records at all: if there are none, state it in the audit; otherwise evidence is missing."),
            "standard_not_covered": lambda: _("No completed record covers %(standard)s in the period.", standard=p.get("standard")),
            "lapsed": lambda: _("%(subject)s was not valid from %(start)s to %(end)s.", subject=self.subject, start=p.get("from"),
                        end=p.get("to")),
            "failed_result": lambda: _("%(subject)s: the latest accepted result (%(date)s) is not a pass; no valid record since.",
                               subject=self.subject, date=p.get("date")),
            "no_valid_record": lambda: _("%(subject)s is registered but has no accepted record with a passing result.",
                                 subject=self.subject),
            "original_not_verified": lambda: _("%(n)s licence record(s) not yet checked against the original.", n=p.get("n", 0)),
            "permit_expired": lambda: _("The pollutant-discharge permit %(no)s expired on %(due)s.", no=p.get("no"), due=p.get("due")),
            "permit_expires_soon": lambda: _("The pollutant-discharge permit %(no)s expires on %(due)s.", no=p.get("no"), due=p.get("due")),
            "documents_overdue": lambda: _("%(n)s document(s) past their review date.", n=p.get("n", 0)),
            "no_equipment": lambda: _("No production or inspection equipment is registered."),
            "equipment_registered": lambda: _("%(n)s piece(s) of equipment registered.", n=p.get("n", 0)),
            "scope_changed": lambda: _("The scope changed since certification %(number)s: added %(added)s; removed %(removed)s.",
                               number=p.get("number"), added=p.get("added") or "—", removed=p.get("removed") or "—"),
            "headcount_changed": lambda: _("Headcount %(now)s is outside the band certified with %(then)s persons (%(band)s): "
                                   "the audit time must be recalculated.", now=p.get("now"), then=p.get("then"),
                                   band=p.get("band")),
            "audit_overdue": lambda: _("%(slot)s of certificate %(number)s was due by %(due)s.", slot=p.get("slot"),
                               number=p.get("number"), due=p.get("due")),
            "audit_due_soon": lambda: _("%(slot)s of certificate %(number)s is due by %(due)s.", slot=p.get("slot"),
                                number=p.get("number"), due=p.get("due")),
        }
        return texts[self.code]() if self.code in texts else self.code  # only the one message is translated


@dataclass
class Readiness:
    start: date
    end: date
    today: date
    items: list[Item] = field(default_factory=list)

    @property
    def failures(self) -> list[Item]:
        return [i for i in self.items if i.status == FAIL]

    @property
    def warnings(self) -> list[Item]:
        return [i for i in self.items if i.status == WARN]

    @property
    def passed(self) -> bool:
        """No cause for abandoning the audit was found (warnings and untracked items aside)."""
        return not self.failures

    @property
    def healthy(self) -> bool:
        return all(i.status == OK for i in self.items)

    def by_check(self) -> list[tuple[str, list[Item]]]:
        out: dict[str, list[Item]] = {}
        for i in self.items:
            out.setdefault(i.check, []).append(i)
        return list(out.items())


def check_title(check: str) -> str:
    return {
        "internal_audit": lambda: _("Internal audit in the cycle"),
        "management_review": lambda: _("Management review in the cycle"),
        "objectives": lambda: _("Objectives measured"),
        "operation": lambda: _("Operation records of every process"),
        "calibration": lambda: _("Calibration of measuring instruments"),
        "special_equipment": lambda: _("Special equipment inspection"),
        "type_test": lambda: _("Type-test reports"),
        "licence": lambda: _("Administrative licences and permits"),
        "programme": lambda: _("Certification programme"),
        "documents": lambda: _("Documents reviewed on time"),
        "equipment": lambda: _("Equipment for the scope"),
        "scope": lambda: _("Scope since certification"),
        "headcount": lambda: _("Headcount and audit time"),
        signatures.READINESS_CHECK: signatures.readiness_title,
        "chain": lambda: _("Event chain extends the sealed heads"),
    }.get(check, lambda: check)()


def _applies(body: dict | None, standards: set[str] | None) -> bool:
    if body is None or not standards:
        return True
    return any(c["standard"] in standards for c in body.get("clauses") or [])


class _Capped:
    """The first EVIDENCE records of a stream and how many there were."""

    def __init__(self) -> None:
        self.first: list[Record] = []
        self.n = 0

    def add(self, r: Record) -> None:
        self.n += 1
        if len(self.first) < EVIDENCE:
            self.first.append(r)

    def __bool__(self) -> bool:
        return self.n > 0

    def evidence(self) -> dict:
        return {"records": self.first, "total": self.n}


@dataclass(slots=True)
class _Row:
    """A record as the checks read it: its columns and only the fields they judge (`data`), not its JSON. The
    items' evidence is loaded as records at the end (`_materialize`): at most EVIDENCE per item."""
    id: int
    title: str
    template_key: str
    template_id: int
    state: str
    record_date: date | None
    due_date: date | None
    subject: str | None
    data: dict


_COLUMNS = (Record.id, Record.title, Record.template_key, Record.template_id, Record.state, Record.record_date,
            Record.due_date, Record.subject)


def _rows(db: Session, fields: tuple[str, ...], where: tuple, order: tuple):
    """Records as `_Row`s with these data fields (JSON extraction in SQL), streamed in batches."""
    q = select(*_COLUMNS, *(Record.data[f] for f in fields)).where(*where).order_by(*order)
    n = len(_COLUMNS)
    for row in db.exec(q.execution_options(yield_per=BATCH)):
        yield _Row(*row[:n], dict(zip(fields, row[n:])))


def _materialize(db: Session, items: list[Item]) -> None:
    """Replace the `_Row`s the items keep as evidence with the records (a bounded number: EVIDENCE per item)."""
    ids = sorted({r.id for it in items for r in it.records if isinstance(r, _Row)})
    full: dict[int, Record] = {}
    for i in range(0, len(ids), 500):
        full.update((r.id, r) for r in db.exec(select(Record).where(Record.id.in_(ids[i:i + 500]))).all())
    for it in items:
        if any(isinstance(r, _Row) for r in it.records):
            it.records = [full.get(r.id, r) if isinstance(r, _Row) else r for r in it.records]


def _in_period(db: Session, org_id: int, key: str, start: date, end: date, field_name: str):
    """The process's records dated in [start, end], newest first, streamed (as `_Row`s with `field_name`)."""
    return _rows(db, (field_name,), (Record.org_id == org_id, Record.template_key == key, Record.record_date >= start,
                                     Record.record_date <= end), (Record.record_date.desc(), Record.id.desc()))


def _unmeasured(rec: Record) -> list[str]:
    """Objective rows of a quality-objectives record that have no actual value."""
    rows = rec.data.get("objectives")
    if not isinstance(rows, list) or not rows:
        return [_("(no objectives listed)")]
    return [str(row.get("objective") or f"#{i + 1}") for i, row in enumerate(rows)
            if not isinstance(row, dict) or row.get("actual") in (None, "", [])]


def _uncovered(named: set[str] | None, std: set[str]) -> list[str]:
    """The engagement's standards that no completed record's `standards` field names (`named`: the union of
    those fields; None when a completed record has no such list — it counts for every standard: older
    template versions did not ask)."""
    if not std or named is None:
        return []
    return [s for s in sorted(std) if s in STANDARD_CODES and not STANDARD_CODES[s] & named]


def _named(named: set[str] | None, r: Record) -> set[str] | None:
    values = (r.data or {}).get("standards")
    return None if named is None or not isinstance(values, list) else named | {str(v) for v in values}


def _stream(db: Session, org_id: int, key: str, fields: tuple[str, ...], *order):
    """The process's records streamed in batches, as `_Row`s (memory: a batch, not the process's history)."""
    return _rows(db, fields, (Record.org_id == org_id, Record.template_key == key), order or (Record.id,))


def _by_subject(db: Session, org_id: int, key: str):
    """(subject, its records in id order) streamed: records without a subject each stand alone as "#id"."""
    from itertools import groupby

    fields = (validity.PASSING[key][0],) if key in validity.PASSING else ()
    return groupby(_stream(db, org_id, key, fields, Record.subject, Record.id), key=lambda r: r.subject or f"#{r.id}")


def _by_name(recs: list[Record]) -> list[Record]:
    return sorted(recs, key=lambda r: r.subject or f"#{r.id}")


def _expiry_items(db: Session, org_id: int, result: Readiness, name: str, key: str, cause: int,
                  bodies: dict[int, dict], adopted: dict, start: date, end: date, today: date) -> None:
    tpl = adopted[key]
    warn_days = (tpl.body.get("schedule") or {}).get("warn_days", 30)
    subjects = {s for s in db.exec(select(Record.subject).where(Record.org_id == org_id, Record.template_key == key)
                                   .distinct()).all()}
    register = REGISTERS.get(key)
    if register and register[0] in adopted:  # registered instruments in use must have a calibration
        reg_key, field_name, in_use = register
        for r in _stream(db, org_id, reg_key, (field_name, "status")):
            no = (r.data or {}).get(field_name)
            if no and (r.data or {}).get("status") in in_use and no not in subjects:
                result.items.append(Item(name, cause, FAIL, "no_valid_record", key, subject=str(no), records=[r]))
    if not subjects:
        if not any(i.check == name for i in result.items):
            result.items.append(Item(name, cause, WARN, "no_subjects", key))
        return

    def final(r: Record) -> bool:
        return is_final(bodies.get(r.template_id) or tpl.body, r.state)

    valid, bad, n_valid = [], False, 0
    for subject, group in _by_subject(db, org_id, key):
        v = validity.subject_validity(subject, list(group), final, start, end, today)
        now = v.valid_on(today)
        for a, b in v.lapses:
            bad = True
            result.items.append(Item(name, cause, FAIL, "lapsed", key, subject=subject, records=v.records[:5],
                                     params={"from": a.isoformat(), "to": b.isoformat()}))
        if now is None:
            bad = True
            if not v.intervals:
                result.items.append(Item(name, cause, FAIL, "no_valid_record", key, subject=subject, records=v.records[:5]))
            elif v.failed is not None and (v.last_until is None or v.failed.record_date <= v.last_until + validity.ONE_DAY):
                result.items.append(Item(name, cause, FAIL, "failed_result", key, subject=subject, records=[v.failed],
                                         params={"date": v.failed.record_date.isoformat(), "due": v.last_until.isoformat()}))
            else:
                last = max(v.intervals, key=lambda iv: iv[1])
                result.items.append(Item(name, cause, FAIL, "expired", key, subject=subject, records=[last[2]],
                                         params={"due": last[1].isoformat()}))
        elif (now[1] - today).days <= warn_days:
            bad = True
            result.items.append(Item(name, cause, WARN, "expires_soon", key, subject=subject, records=[now[2]],
                                     params={"due": now[1].isoformat()}))
        else:
            n_valid += 1
            valid.append(now[2])
            if len(valid) >= 2 * EVIDENCE:  # keep the first EVIDENCE by subject, as the sorted list would show
                valid = _by_name(valid)[:EVIDENCE]
        if key == "licence-permit" and v.unaccepted:
            unaccepted = v.unaccepted
            result.items.append(Item(name, 14, WARN, "original_not_verified", key, subject=subject,
                                     records=unaccepted[:EVIDENCE], params={"n": len(unaccepted)}, total=len(unaccepted)))
    if valid and not bad:
        result.items.append(Item(name, cause, OK, "all_valid", key, records=_by_name(valid)[:EVIDENCE],
                                 params={"n": n_valid}, total=n_valid))


def _first(db: Session, org_id: int, keys: list[str], where: tuple = (), order: tuple = (), limit: int = 5) -> list[Record]:
    """The first `limit` records of these processes (by `order`, default id) — a page of evidence, not the set."""
    return list(db.exec(select(Record).where(Record.org_id == org_id, Record.template_key.in_(keys), *where)
                        .order_by(*(order or (Record.id,))).limit(limit)).all())


def _extra_checks(db: Session, result: Readiness, org: Organization, adopted: dict, std: set[str], processes: list[str] | None, start: date, end: date, today: date) -> None:
    from workbench.cb import audit_time, certificates, programme

    # 8. the organization's own pollutant-discharge permit
    if org.discharge_permit_expiry:
        p = {"no": org.discharge_permit_no or "—", "due": org.discharge_permit_expiry.isoformat()}
        if org.discharge_permit_expiry < today:
            result.items.append(Item("licence", 8, FAIL, "permit_expired", "licence-permit", params=p))
        elif (org.discharge_permit_expiry - today).days <= 90:
            result.items.append(Item("licence", 8, WARN, "permit_expires_soon", "licence-permit", params=p))
    # 1. documents past their review date (the documents module, where it exists)
    try:
        from workbench.documents import due_reviews  # type: ignore[attr-defined]
    except ImportError:
        due_reviews = None
    if due_reviews is not None:
        import inspect

        takes_today = len(inspect.signature(due_reviews).parameters) >= 3  # (db, org[, today]): the docs branch's API
        items = due_reviews(db, org, today) if takes_today else due_reviews(db, org)
        overdue = [d for d in items if getattr(d, "status", "overdue") == "overdue"]
        if overdue:
            result.items.append(Item("documents", 1, WARN, "documents_overdue", "document-control",
                                     records=[getattr(d, "record", None) for d in overdue if getattr(d, "record", None)],
                                     params={"n": len(overdue)}))
    # 4. production / inspection equipment registered
    tracked = [k for k in EQUIPMENT if k in adopted]
    if tracked:
        n = db.exec(select(func.count()).select_from(Record).where(Record.org_id == org.id,
                                                                  Record.template_key.in_(tracked))).one()
        result.items.append(Item("equipment", 4, OK if n else WARN, "equipment_registered" if n else "no_equipment",
                                 tracked[0], records=_first(db, org.id, tracked, order=(Record.template_key, Record.id)), params={"n": n}))
    # certificates: programme, scope (9) and headcount (10)
    for c in certificates.for_org(db, org.id):
        if std and c.standard not in std or certificates.effective_status(c, today) not in ("valid", "suspended"):
            continue
        for s in certificates.slots_of(db, c, today):
            st = s.status(today)
            if st in ("overdue", "due_soon"):
                result.items.append(Item("programme", 0, FAIL if st == "overdue" else WARN,
                                         "audit_overdue" if st == "overdue" else "audit_due_soon", c.standard,
                                         params={"slot": programme.slot_label(s.slot), "number": c.number,
                                                 "due": s.due.isoformat()}))
        if c.scope_processes and processes:
            added, removed = sorted(set(processes) - set(c.scope_processes)), sorted(set(c.scope_processes) - set(processes))
            if added or removed:
                result.items.append(Item("scope", 9, WARN, "scope_changed", c.standard,
                                         params={"number": c.number, "added": "、".join(added), "removed": "、".join(removed)}))
        then, now = audit_time.band_index(c.headcount), audit_time.band_index(org.headcount)
        if then is not None and now is not None and then != now:
            row = audit_time.tables()["standards"]["ISO 9001:2015"]["rows"][then]
            result.items.append(Item("headcount", 10, WARN, "headcount_changed", c.standard,
                                     params={"now": org.headcount, "then": c.headcount,
                                             "band": f"{row['from']}–{row['to']}"}))


def check(db: Session, org: Organization, start: date, end: date, standards: list[str] | None = None,
          processes: list[str] | None = None, today: date | None = None) -> Readiness:
    """Run every readiness check for the period [start, end]; expiry is judged on `today`."""
    today = today or date.today()
    std = set(standards or [])
    result = Readiness(start, end, today)
    adopted = {t.key: t for t in library.processes(db, org)}
    shipped = {t.key: t.body for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.org_id.is_(None))).all()}
    # the periodic checks stream their period's records (keeping the first EVIDENCE); expiry streams per subject;
    counted = dict(db.exec(select(Record.template_key, func.count()).where(
        Record.org_id == org.id, Record.record_date >= start, Record.record_date <= end).group_by(Record.template_key)).all())
    bodies = {t.id: t.body for t in db.exec(select(ProcessTemplate).where(
        (ProcessTemplate.org_id == org.id) | ProcessTemplate.org_id.is_(None))).all()}

    def body_of(key: str) -> dict | None:
        return adopted[key].body if key in adopted else shipped.get(key)

    def untracked(check_name: str, key: str, cause: int) -> bool:
        if key in adopted:
            return False
        if _applies(body_of(key), std):
            result.items.append(Item(check_name, cause, NOT_TRACKED, "not_tracked", key))
        return True

    period = {"start": start.isoformat(), "end": end.isoformat()}
    # 2. internal audit, management review: completed in the cycle
    for name, key, cause in PERIODIC:
        if untracked(name, key, cause) or not _applies(body_of(key), std):
            continue
        within, done, named = _Capped(), _Capped(), set()
        for r in _in_period(db, org.id, key, start, end, "standards"):
            within.add(r)
            if is_final(bodies.get(r.template_id) or adopted[key].body, r.state):
                done.add(r)
                named = _named(named, r)
        missing = _uncovered(named, std) if done else []
        if done and missing:
            for standard in missing:
                result.items.append(Item(name, cause, FAIL, "standard_not_covered", key, **done.evidence(),
                                         params={"standard": standard}))
        elif done:
            result.items.append(Item(name, cause, OK, "completed", key, **done.evidence(), params={"n": done.n}))
        elif within:
            result.items.append(Item(name, cause, FAIL, "not_completed", key, **within.evidence()))
        else:
            result.items.append(Item(name, cause, FAIL, "none_in_period", key, params=period))
    # 2. objectives measured
    name, key, cause = OBJECTIVES
    if not untracked(name, key, cause) and _applies(body_of(key), std):
        within, bad, gaps = _Capped(), _Capped(), []
        for r in _in_period(db, org.id, key, start, end, "objectives"):
            within.add(r)
            unmeasured = _unmeasured(r)
            if unmeasured:
                bad.add(r)
                if bad.n <= EVIDENCE:
                    gaps.append(f"#{r.id} " + "、".join(unmeasured))
        if not within:
            result.items.append(Item(name, cause, FAIL, "no_objectives", key, params=period))
        elif bad:
            items = "; ".join(gaps) + (" … " + _("and %(n)s more", n=bad.n - len(gaps)) if bad.n > len(gaps) else "")
            result.items.append(Item(name, cause, FAIL, "objectives_unmeasured", key, **bad.evidence(), params={"items": items}))
        else:
            result.items.append(Item(name, cause, OK, "objectives_measured", key, **within.evidence(), params={"n": within.n}))
    # 3. every other adopted process has records in the period (operation processes: fail; others: warn)
    for key, tpl in adopted.items():
        if key in OWN_CHECKS or (processes and key not in processes) or not _applies(tpl.body, std):
            continue
        due_field = (tpl.body.get("schedule") or {}).get("due_field")
        if counted.get(key):
            within = _first(db, org.id, [key], (Record.record_date >= start, Record.record_date <= end),
                            (Record.record_date.desc(), Record.id.desc()))
            result.items.append(Item("operation", 3, OK, "records_in_period", key, records=within, params={"n": counted[key]}))
            continue
        in_force = _first(db, org.id, [key], (Record.due_date >= start,)) if due_field else []
        if in_force:
            result.items.append(Item("operation", 3, OK, "in_force", key, records=in_force[:5]))
            continue
        operation = any(c["clause"].split(".")[0] == "8" and (not std or c["standard"] in std) for c in tpl.body["clauses"])
        result.items.append(Item("operation", 3, FAIL if operation else WARN,
                                 "no_operation_records" if operation else "no_records", key))
    # 5–8. certificates, calibrations, licences, type tests: valid only from accepted, passing records
    for name, key, cause in EXPIRY:
        if untracked(name, key, cause) or not _applies(body_of(key), std):
            continue
        _expiry_items(db, org.id, result, name, key, cause, bodies, adopted, start, end, today)
    _extra_checks(db, result, org, adopted, std, processes, start, end, today)
    result.items += signatures.readiness_items(db, org.id, start, end)  # edited after signature (svc)
    chain = seals.readiness_item(db, org.id)  # the event chain still extends every sealed head (issue #9.2)
    if chain is not None:
        result.items.append(chain)
    _materialize(db, result.items)
    order = {n: i for i, n in enumerate(CHECK_ORDER)}
    result.items.sort(key=lambda i: (order.get(i.check, 99), STATUS_ORDER[i.status], i.template_key, i.subject or ""))
    return result
