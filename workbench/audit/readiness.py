"""Readiness: the causes of an abandoned certification audit that records and due dates can reveal.

From the list of common causes (docs: /work/shared/iso-hls.md), these are detected automatically:

2. no internal audit (internal-audit), no management review (management-review) or no objective-achievement
   statistics (quality-objectives with measured actual values) in the cycle;
3. no operation records (production, inspection, service…) in the cycle — any adopted process without records;
5. special-equipment inspection certificates expired (special-equipment);
6. measuring-instrument calibration expired (calibration-record);
7. no valid type-test report (type-test-report);
8. administrative licences expired (licence-permit).

Each item links to its evidence (records) or states the absence. A process the organization has not
adopted is reported as "not tracked" (the system cannot tell), never as a crash or a pass.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench import library, schedules, signatures
from workbench.audit import seals
from workbench.models import Organization, ProcessTemplate, Record
from workbench.workflow import is_final

OK, FAIL, WARN, NOT_TRACKED = "ok", "fail", "warn", "not_tracked"
STATUS_ORDER = {FAIL: 0, WARN: 1, NOT_TRACKED: 2, OK: 3}

PERIODIC = [("internal_audit", "internal-audit", 2), ("management_review", "management-review", 2)]
OBJECTIVES = ("objectives", "quality-objectives", 2)
EXPIRY = [("calibration", "calibration-record", 6), ("special_equipment", "special-equipment", 5),
          ("type_test", "type-test-report", 7), ("licence", "licence-permit", 8)]
OWN_CHECKS = {k for _c, k, _n in PERIODIC + EXPIRY} | {OBJECTIVES[1]}


@dataclass
class Item:
    check: str  # internal_audit | management_review | objectives | operation | calibration | special_equipment | type_test | licence
    cause: int  # number in the list of abandonment causes
    status: str  # ok | fail | warn | not_tracked
    code: str  # what was found (see message)
    template_key: str
    subject: str | None = None
    records: list[Record] = field(default_factory=list)  # the evidence
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        p = self.params
        texts = {
            "not_tracked": _("The process “%(key)s” is not adopted: the system cannot tell; check it on paper.", key=self.template_key),
            "completed": _("Completed in the period: %(n)s record(s).", n=p.get("n", 0)),
            "not_completed": _("Held in the period but not completed (no record in a final state)."),
            "none_in_period": _("No record in the period %(start)s – %(end)s.", start=p.get("start"), end=p.get("end")),
            "objectives_measured": _("Objective statistics in the period, all with measured actual values: %(n)s record(s).", n=p.get("n", 0)),
            "objectives_unmeasured": _("Objectives without a measured actual value: %(items)s.", items=p.get("items", "")),
            "no_objectives": _("No objective-achievement statistics in the period %(start)s – %(end)s.", start=p.get("start"), end=p.get("end")),
            "records_in_period": _("%(n)s record(s) in the period.", n=p.get("n", 0)),
            "in_force": _("No new record in the period, but a record in force during it."),
            "no_operation_records": _("No operation records in the period: production, inspection or service evidence is missing."),
            "no_records": _("No records in the period."),
            "expired": _("%(subject)s expired on %(due)s.", subject=self.subject, due=p.get("due")),
            "expires_soon": _("%(subject)s expires on %(due)s.", subject=self.subject, due=p.get("due")),
            "all_valid": _("All %(n)s valid.", n=p.get("n", 0)),
            "no_subjects": _("No records at all: if there are none, state it in the audit; otherwise evidence is missing."),
        }
        return texts.get(self.code, self.code)


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
        "internal_audit": _("Internal audit in the cycle"),
        "management_review": _("Management review in the cycle"),
        "objectives": _("Objectives measured"),
        "operation": _("Operation records of every process"),
        "calibration": _("Calibration of measuring instruments"),
        "special_equipment": _("Special equipment inspection"),
        "type_test": _("Type-test reports"),
        "licence": _("Administrative licences and permits"),
        signatures.READINESS_CHECK: signatures.readiness_title(),
        "chain": _("Event chain extends the sealed heads"),
    }.get(check, check)


def _applies(body: dict | None, standards: set[str] | None) -> bool:
    if body is None or not standards:
        return True
    return any(c["standard"] in standards for c in body.get("clauses") or [])


def _in_period(recs: list[Record], start: date, end: date) -> list[Record]:
    return sorted((r for r in recs if r.record_date and start <= r.record_date <= end),
                  key=lambda r: (r.record_date, r.id), reverse=True)


def _unmeasured(rec: Record) -> list[str]:
    """Objective rows of a quality-objectives record that have no actual value."""
    rows = rec.data.get("objectives")
    if not isinstance(rows, list) or not rows:
        return [_("(no objectives listed)")]
    return [str(row.get("objective") or f"#{i + 1}") for i, row in enumerate(rows)
            if not isinstance(row, dict) or row.get("actual") in (None, "", [])]


def check(db: Session, org: Organization, start: date, end: date, standards: list[str] | None = None,
          processes: list[str] | None = None, today: date | None = None) -> Readiness:
    """Run every readiness check for the period [start, end]; expiry is judged on `today`."""
    today = today or date.today()
    std = set(standards or [])
    result = Readiness(start, end, today)
    adopted = {t.key: t for t in library.processes(db, org)}
    shipped = {t.key: t.body for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.org_id.is_(None))).all()}
    recs: dict[str, list[Record]] = {}
    for r in db.exec(select(Record).where(Record.org_id == org.id)).all():
        recs.setdefault(r.template_key, []).append(r)
    bodies = {t.id: t.body for t in db.exec(select(ProcessTemplate).where(
        ProcessTemplate.id.in_({r.template_id for rs in recs.values() for r in rs} or {0}))).all()}

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
        within = _in_period(recs.get(key, []), start, end)
        done = [r for r in within if is_final(bodies.get(r.template_id) or adopted[key].body, r.state)]
        if done:
            result.items.append(Item(name, cause, OK, "completed", key, records=done, params={"n": len(done)}))
        elif within:
            result.items.append(Item(name, cause, FAIL, "not_completed", key, records=within))
        else:
            result.items.append(Item(name, cause, FAIL, "none_in_period", key, params=period))
    # 2. objectives measured
    name, key, cause = OBJECTIVES
    if not untracked(name, key, cause) and _applies(body_of(key), std):
        within = _in_period(recs.get(key, []), start, end)
        gaps = {r.id: _unmeasured(r) for r in within}
        bad = [r for r in within if gaps[r.id]]
        if not within:
            result.items.append(Item(name, cause, FAIL, "no_objectives", key, params=period))
        elif bad:
            items = "; ".join(f"#{r.id} " + "、".join(gaps[r.id]) for r in bad)
            result.items.append(Item(name, cause, FAIL, "objectives_unmeasured", key, records=bad, params={"items": items}))
        else:
            result.items.append(Item(name, cause, OK, "objectives_measured", key, records=within, params={"n": len(within)}))
    # 3. every other adopted process has records in the period (operation processes: fail; others: warn)
    for key, tpl in adopted.items():
        if key in OWN_CHECKS or (processes and key not in processes) or not _applies(tpl.body, std):
            continue
        within = _in_period(recs.get(key, []), start, end)
        due_field = (tpl.body.get("schedule") or {}).get("due_field")
        if within:
            result.items.append(Item("operation", 3, OK, "records_in_period", key, records=within[:5], params={"n": len(within)}))
            continue
        in_force = [r for r in recs.get(key, []) if due_field and r.due_date and r.due_date >= start]
        if in_force:
            result.items.append(Item("operation", 3, OK, "in_force", key, records=in_force[:5]))
            continue
        operation = any(c["clause"].split(".")[0] == "8" and (not std or c["standard"] in std) for c in tpl.body["clauses"])
        result.items.append(Item("operation", 3, FAIL if operation else WARN,
                                 "no_operation_records" if operation else "no_records", key))
    # 5–8. certificates, calibrations, licences, type tests in force today
    for name, key, cause in EXPIRY:
        if untracked(name, key, cause) or not _applies(body_of(key), std):
            continue
        tpl = adopted[key]
        due = schedules.subject_items(tpl, recs.get(key, []), today) if "due_field" in (tpl.body.get("schedule") or {}) else []
        if not due:
            result.items.append(Item(name, cause, WARN, "no_subjects", key))
            continue
        valid = []
        for d in due:
            if d.status == "overdue":
                result.items.append(Item(name, cause, FAIL, "expired", key, subject=d.subject, records=[d.last_record],
                                         params={"due": d.due.isoformat()}))
            elif d.status == "due_soon":
                result.items.append(Item(name, cause, WARN, "expires_soon", key, subject=d.subject, records=[d.last_record],
                                         params={"due": d.due.isoformat()}))
            else:
                valid.append(d.last_record)
        if valid and len(valid) == len(due):
            result.items.append(Item(name, cause, OK, "all_valid", key, records=valid, params={"n": len(valid)}))
    result.items += signatures.readiness_items(db, org.id, start, end)  # edited after signature (svc)
    chain = seals.readiness_item(db, org.id)  # the event chain still extends every sealed head (issue #9.2)
    if chain is not None:
        result.items.append(chain)
    order = {n: i for i, n in enumerate(["internal_audit", "management_review", "objectives", "operation", "calibration",
                                         "special_equipment", "type_test", "licence"])}
    result.items.sort(key=lambda i: (order.get(i.check, 99), STATUS_ORDER[i.status], i.template_key, i.subject or ""))
    return result
