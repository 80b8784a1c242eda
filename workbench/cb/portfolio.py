"""The certification body's portfolio: per granted client — certificates and status, the next audit due,
overdue surveillance, readiness signals, open findings and overdue corrective actions, and anomalies
(workbench.anomalies) with thresholds from the `PORTFOLIO` settings. A risk score orders and filters it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

from flask import current_app
from sqlmodel import Session, select

from workbench import anomalies
from workbench.audit import readiness
from workbench.audit.models import NC_GRADES, Engagement, Finding
from workbench.cb import certificates, grants, programme
from workbench.cb.models import Certificate
from workbench.models import Organization

DEFAULTS = {
    "backfill_days": 30,  # activity date more than N days before creation
    "burst_window_days": 14, "burst_factor": 3.0,  # N days before an audit, more than factor × the usual rate
    "silent_months": 6,  # no record in a process for N months
    "rapid_count": 10, "rapid_minutes": 10,  # one person, N records within M minutes
    "lookback_days": 365,  # how far back anomalies and readiness look
    "ca_days": 30,  # a nonconformity not answered after N days: overdue corrective action
}
RISK_LEVELS = ("high", "medium", "low")
SEVERITY_POINTS = {"high": 3, "medium": 2, "low": 1}


def settings() -> dict:
    return {**DEFAULTS, **(current_app.config.get("PORTFOLIO") or {})}


@dataclass
class ClientView:
    org: Organization
    certificates: list[tuple[Certificate, str]] = field(default_factory=list)  # (certificate, effective status)
    due: list[tuple[Certificate, programme.Slot, str]] = field(default_factory=list)  # open slots, most urgent first
    readiness: readiness.Readiness | None = None
    open_findings: list[Finding] = field(default_factory=list)
    overdue_cas: list[Finding] = field(default_factory=list)
    anomalies: list[anomalies.Anomaly] = field(default_factory=list)
    engagements: list[Engagement] = field(default_factory=list)

    @property
    def next_due(self):
        return self.due[0] if self.due else None

    @property
    def overdue(self):
        return [d for d in self.due if d[2] == "overdue"]

    @property
    def risk(self) -> int:
        score = 5 * len(self.overdue) + sum(5 for _c, st in self.certificates if st == "suspended")
        if self.readiness is not None:  # per area (check), not per item: 20 lapsed calibrations are one problem
            score += 3 * len({i.check for i in self.readiness.failures}) + len({i.check for i in self.readiness.warnings})
        score += 3 * len(self.overdue_cas) + len(self.open_findings)
        score += sum(SEVERITY_POINTS.get(a.severity, 1) for a in self.anomalies)
        return score

    @property
    def risk_level(self) -> str:
        return "high" if self.risk >= 10 else "medium" if self.risk >= 4 else "low"


def detect(db: Session, org: Organization, today: date, cfg: dict | None = None,
           engagements: list[Engagement] | None = None) -> list[anomalies.Anomaly]:
    """Every anomaly detector on one client, with the portfolio's thresholds. Bursts are looked for before
    each audit held in the look-back period (and before today)."""
    cfg = cfg or settings()
    start = today - timedelta(days=cfg["lookback_days"])
    found = anomalies.backfilled(db, org.id, start, today, cfg["backfill_days"])
    befores = {today} | {e.access_from.date() for e in engagements or [] if start <= e.access_from.date() <= today}
    seen: set[int] = set()
    for before in sorted(befores):
        for a in anomalies.bursts(db, org.id, before, cfg["burst_window_days"], cfg["burst_factor"]):
            if not set(a.record_ids) & seen:
                seen |= set(a.record_ids)
                found.append(a)
    found += anomalies.silent_processes(db, org.id, today, cfg["silent_months"])
    found += anomalies.rapid_fire(db, org.id, start, today, cfg["rapid_count"], cfg["rapid_minutes"])
    order = {s: i for i, s in enumerate(RISK_LEVELS)}
    return sorted(found, key=lambda a: (order.get(a.severity, 9), a.kind))


def client_view(db: Session, org: Organization, today: date, with_readiness: bool = True) -> ClientView:
    cfg = settings()
    v = ClientView(org)
    certs = certificates.for_org(db, org.id)
    v.certificates = [(c, certificates.effective_status(c, today)) for c in certs]
    v.due = certificates.programme_items(db, org.id, today)
    v.engagements = list(db.exec(select(Engagement).where(Engagement.org_id == org.id)
                                 .order_by(Engagement.access_from.desc())).all())
    findings = db.exec(select(Finding).where(Finding.org_id == org.id, Finding.grade.in_(NC_GRADES),
                                             Finding.status.in_(["open", "answered"]))).all()
    v.open_findings = list(findings)
    limit = today - timedelta(days=cfg["ca_days"])
    v.overdue_cas = [f for f in findings if f.status == "open" and f.created_at.date() < limit]
    v.anomalies = detect(db, org, today, cfg, v.engagements)
    if with_readiness:
        standards = sorted({c.standard for c, st in v.certificates if st in ("valid", "suspended")}) or None
        v.readiness = readiness.check(db, org, today - timedelta(days=cfg["lookback_days"]), today, standards, today=today)
    return v


def portfolio(db: Session, cb: Organization, user, today: date, risk: str | None = None, sort: str = "risk") -> list[ClientView]:
    grants.require_cb(db, cb, user)
    rows = [client_view(db, c, today) for c in grants.clients(db, cb)]
    if risk in RISK_LEVELS:
        rows = [r for r in rows if r.risk_level == risk]
    if sort == "name":
        rows.sort(key=lambda r: r.org.name)
    elif sort == "due":
        rows.sort(key=lambda r: (r.next_due[1].due if r.next_due else date.max, r.org.name))
    else:
        rows.sort(key=lambda r: (-r.risk, r.org.name))
    return rows


def find_anomaly(view: ClientView, key: str) -> anomalies.Anomaly | None:
    return next((a for a in view.anomalies if a.key == key), None)
