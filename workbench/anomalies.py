"""Anomalies in how a client's management system runs, for the certification body's portfolio.

Four detectors, each one SQL query (or two) with aggregates — records are never loaded into Python:

- `backfilled`: records whose activity date lies long before they were created (filled in afterwards);
- `bursts`: many more records created just before an audit than the process's usual rate;
- `silent_processes`: adopted processes with no record for N months;
- `rapid_fire`: one person creating many records within a few minutes.

Each returns a list of `Anomaly` (kind, message in the request's language, the records it rests on,
severity). Thresholds are parameters; the portfolio takes them from settings (`workbench.cb.portfolio`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone

from flask_babel import gettext as _
from sqlalchemy import Float, Integer, and_, cast, func
from sqlmodel import Session, select

from workbench.models import Adoption, Record, User

KINDS = ("backfilled", "burst", "silent", "rapid_fire")
SEVERITIES = ("low", "medium", "high")
MAX_IDS = 50  # record ids kept per anomaly (the count says how many there are)


@dataclass
class Anomaly:
    kind: str  # backfilled | burst | silent | rapid_fire
    record_ids: list[int] = field(default_factory=list)
    severity: str = "medium"  # low | medium | high
    params: dict = field(default_factory=dict)

    @property
    def message(self) -> str:
        p = dict(self.params)
        if isinstance(p.get("title"), dict):  # the process's title in the reader's language
            from workbench.i18n import lang

            p["key"] = p["title"].get(lang()) or p["title"].get("zh") or p.get("key")
        if self.kind == "backfilled":
            return _("%(n)s record(s) of “%(key)s” were created more than %(days)s days after their activity date "
                     "(up to %(max)s days).", n=p["n"], key=p["key"], days=p["min_days"], max=p["max_days"])
        if self.kind == "burst":
            if not p.get("base", 1):  # nothing in the baseline: no "usual rate about 0.0"
                return _("%(n)s record(s) of “%(key)s” created in the %(days)s days before %(before)s — none in the "
                         "%(baseline)s days before that.", n=p["n"], key=p["key"], days=p["window_days"],
                         before=p["before"], baseline=p["baseline_days"])
            if p["expected"] < 1:
                return _("%(n)s record(s) of “%(key)s” created in the %(days)s days before %(before)s — the usual rate "
                         "would give fewer than one.", n=p["n"], key=p["key"], days=p["window_days"], before=p["before"])
            return _("%(n)s record(s) of “%(key)s” created in the %(days)s days before %(before)s — the usual rate "
                     "would give %(expected)s.", n=p["n"], key=p["key"], days=p["window_days"], before=p["before"],
                     expected=p["expected"])
        if self.kind == "silent":
            if p.get("last"):
                return _("No record of “%(key)s” for %(months)s months (last dated %(last)s).", key=p["key"],
                         months=p["months"], last=p["last"])
            return _("No record of “%(key)s” at all.", key=p["key"])
        if self.kind == "rapid_fire":
            return _("%(who)s created %(n)s records within %(minutes)s minutes on %(at)s.", who=p["who"], n=p["n"],
                     minutes=p["minutes"], at=p["at"])
        return self.kind

    @property
    def key(self) -> str:
        """Stable identity (for the weekly digest's "new since last week")."""
        p = self.params
        return f"{self.kind}:{p.get('key') or p.get('who_id')}:{min(self.record_ids, default=0)}"


def _day_number(db: Session, col):
    """Days since an epoch, as a number, for a date or date-time column (SQLite and PostgreSQL)."""
    if db.get_bind().dialect.name == "sqlite":
        return func.julianday(col)
    return func.extract("epoch", col) / 86400.0


def _seconds(db: Session, col):
    if db.get_bind().dialect.name == "sqlite":
        return cast(func.strftime("%s", col), Integer)
    return cast(func.extract("epoch", col), Integer)


def _titled(db: Session, org_id: int, found: list[Anomaly]) -> list[Anomaly]:
    """Give each anomaly naming a process that process's {zh, en} title (the organization's adopted version)."""
    keys = {a.params["key"] for a in found if a.params.get("key")}
    if keys:
        from workbench.models import ProcessTemplate

        titles = {k: (body or {}).get("title") for k, body in db.exec(
            select(ProcessTemplate.key, ProcessTemplate.body).join(Adoption, Adoption.template_id == ProcessTemplate.id)
            .where(Adoption.org_id == org_id, Adoption.key.in_(keys))).all()}
        for a in found:
            if isinstance(titles.get(a.params.get("key")), dict):
                a.params["title"] = titles[a.params["key"]]
    return found


def _utc(d: date) -> datetime:
    return datetime.combine(d, time.min, tzinfo=timezone.utc)


def _ids(db: Session, q, limit: int = MAX_IDS) -> list[int]:
    return [int(i) for i in db.exec(q.order_by(Record.id).limit(limit)).all()]


def backfilled(db: Session, org_id: int, start: date, end: date, min_days: int) -> list[Anomaly]:
    """Records created in [start, end] whose record date is more than `min_days` days before their creation."""
    lag = _day_number(db, Record.created_at) - _day_number(db, Record.record_date)
    where = and_(Record.org_id == org_id, Record.record_date.is_not(None), Record.created_at >= _utc(start),
                 Record.created_at < _utc(end + timedelta(days=1)), lag > min_days + 1)  # +1: a whole day late, any time of day
    rows = db.exec(select(Record.template_key, func.count(Record.id), func.max(cast(lag, Float)))
                   .where(where).group_by(Record.template_key).order_by(Record.template_key)).all()
    out = []
    for key, n, max_lag in rows:
        ids = _ids(db, select(Record.id).where(where, Record.template_key == key))
        severity = "high" if n >= 10 or (max_lag or 0) > 4 * min_days else "medium" if n >= 3 else "low"
        out.append(Anomaly("backfilled", ids, severity, {"key": key, "n": int(n), "min_days": min_days,
                                                          "max_days": int(max_lag or 0)}))
    return _titled(db, org_id, out)


def bursts(db: Session, org_id: int, before: date, window_days: int, factor: float,
           baseline_days: int = 180, minimum: int = 5) -> list[Anomaly]:
    """Per process: records created in the `window_days` before `before` compared with the rate of the
    `baseline_days` before that window; a burst is more than `factor` × the expected count (and at least
    `minimum` records, so two records instead of one is not an anomaly)."""
    w_start, b_start = before - timedelta(days=window_days), before - timedelta(days=window_days + baseline_days)
    in_window = and_(Record.created_at >= _utc(w_start), Record.created_at < _utc(before))
    in_base = and_(Record.created_at >= _utc(b_start), Record.created_at < _utc(w_start))
    rows = db.exec(select(Record.template_key,
                          func.sum(cast(in_window, Integer)), func.sum(cast(in_base, Integer)))
                   .where(Record.org_id == org_id, Record.created_at >= _utc(b_start), Record.created_at < _utc(before))
                   .group_by(Record.template_key).order_by(Record.template_key)).all()
    out = []
    for key, n, base in rows:
        n, base = int(n or 0), int(base or 0)
        expected = base * window_days / baseline_days
        if n < minimum or n <= factor * max(expected, 1.0):
            continue
        ids = _ids(db, select(Record.id).where(Record.org_id == org_id, Record.template_key == key, in_window))
        severity = "high" if n > 2 * factor * max(expected, 1.0) else "medium"
        out.append(Anomaly("burst", ids, severity, {"key": key, "n": n, "window_days": window_days,
                                                     "before": before.isoformat(), "expected": round(expected, 1),
                                                     "base": base, "baseline_days": baseline_days}))
    return _titled(db, org_id, out)


def silent_processes(db: Session, org_id: int, today: date, months: int) -> list[Anomaly]:
    """Adopted processes in use (with at least one record) whose latest record (by record date, else
    creation) is more than `months` old. A process never used is a readiness question, not an anomaly."""
    from workbench.schedules import add_months

    cutoff = add_months(today, -months)
    last = (select(Record.template_key.label("key"), func.max(Record.record_date).label("last_date"),
                   func.max(Record.created_at).label("last_created"), func.max(Record.id).label("last_id"))
            .where(Record.org_id == org_id).group_by(Record.template_key).subquery())
    rows = db.exec(select(Adoption.key, last.c.last_date, last.c.last_created, last.c.last_id)
                   .select_from(Adoption).join(last, last.c.key == Adoption.key)
                   .where(Adoption.org_id == org_id).order_by(Adoption.key)).all()
    out = []
    for key, last_date, last_created, last_id in rows:
        latest = last_date or (last_created.date() if last_created else None)
        if latest is not None and latest >= cutoff:
            continue
        out.append(Anomaly("silent", [int(last_id)] if last_id else [], "medium",
                           {"key": key, "months": months, "last": latest.isoformat() if latest else None}))
    return _titled(db, org_id, out)


def rapid_fire(db: Session, org_id: int, start: date, end: date, count: int, minutes: int) -> list[Anomaly]:
    """One person creating at least `count` records within `minutes` minutes (created in [start, end]).
    A window function compares each record with the same person's (count−1)-th next one (O(n log n), no
    self-join); overlapping windows of one person are merged into one episode."""
    count, span = max(2, int(count)), int(minutes) * 60
    secs = _seconds(db, Record.created_at)
    period = and_(Record.org_id == org_id, Record.created_by.is_not(None), Record.created_at >= _utc(start),
                  Record.created_at < _utc(end + timedelta(days=1)))
    ahead = func.lead(secs, count - 1).over(partition_by=Record.created_by, order_by=(Record.created_at, Record.id))
    sub = select(Record.created_by.label("uid"), Record.created_at.label("at"), secs.label("s"),
                 ahead.label("ahead")).where(period).subquery()
    starts = db.exec(select(sub.c.uid, sub.c.at, sub.c.s).where(sub.c.ahead.is_not(None), sub.c.ahead - sub.c.s <= span)
                     .order_by(sub.c.uid, sub.c.s)).all()
    episodes: list[list] = []  # [uid, first start (datetime), last start (seconds), first start (seconds)]
    for uid, at, s in starts:
        if episodes and episodes[-1][0] == uid and s <= episodes[-1][2] + span:
            episodes[-1][2] = s
        else:
            episodes.append([uid, at, s, s])
    names = dict(db.exec(select(User.id, User.name).where(User.id.in_({e[0] for e in episodes} or {0}))).all())
    out: list[Anomaly] = []
    for uid, at, last_s, first_s in episodes:
        at_utc = at if at.tzinfo else at.replace(tzinfo=timezone.utc)
        until = at_utc + timedelta(seconds=last_s - first_s + span)
        where = and_(period, Record.created_by == uid, Record.created_at >= at_utc, Record.created_at <= until)
        n = db.exec(select(func.count(Record.id)).where(where)).one()
        severity = "high" if n >= 3 * count else "medium"
        out.append(Anomaly("rapid_fire", _ids(db, select(Record.id).where(where)), severity,
                           {"who": names.get(uid, f"#{uid}"), "who_id": uid, "n": int(n), "minutes": minutes,
                            "at": at_utc.strftime("%Y-%m-%d %H:%M")}))
    return out
