"""`workbench remind`: once a day (cron / systemd timer). Due reminders at 30 / 7 / 0 days and when passed, and a
daily digest per person and per organization robot. Every message's dedupe key carries the due date and
threshold (or the day, for digests), so a second run the same day queues nothing new."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import force_locale, gettext as _
from sqlmodel import Session, func, select

from workbench import todo
from workbench.i18n import tr
from workbench.models import Organization, Record, User
from workbench.notify import events
from workbench.notify.models import Notification, Outbox

THRESHOLDS = (30, 7, 0)


def threshold(days: int) -> str | None:
    """Which reminder a due date `days` away has reached: '30', '7', '0', 'overdue' (or None: not yet)."""
    if days < 0:
        return "overdue"
    for t in reversed(THRESHOLDS):
        if days <= t:
            return str(t)
    return None


@dataclass
class RemindReport:
    notifications: int
    messages: int


def _workers(db: Session, org: Organization, key: str) -> set[int]:
    return set(db.exec(select(Record.created_by).where(Record.org_id == org.id, Record.template_key == key,
                                                       Record.created_by.is_not(None)).group_by(Record.created_by)).all())


def run(db: Session, today: date | None = None) -> RemindReport:
    today = today or date.today()
    before = _sizes(db)
    for org in db.exec(select(Organization)).all():
        managers = events.people(db, org, {"manager"})
        rows = todo.due_rows(db, org, 0, {"manager"}, today)
        robot_lines = []
        for row in rows:
            step = threshold((row.due - today).days)
            if step is None:
                continue
            key = f"due:{org.id}:{row.template.key}:{row.subject or ''}:{row.due.isoformat()}:{step}"
            link = ""
            workers = _workers(db, org, row.template.key)
            for u in {u.id: u for u in managers + [db.get(User, i) for i in workers] if u}.values():
                with force_locale(events._user_lang(u)):
                    title = _due_title(row, today)
                    events.to_user(db, u, org, "due", title, title, link, key)
            with force_locale("zh_CN"):
                robot_lines.append(f"- {_due_title(row, today)}")
        if robot_lines:
            with force_locale("zh_CN"):
                events.to_org_robots(db, org, _("Due and overdue at %(org)s (%(day)s)", org=org.name, day=today.isoformat()),
                                     "\n".join(robot_lines[:30]), f"digest:{today.isoformat()}")
        _digests(db, org, today)
    after = _sizes(db)
    return RemindReport(after[0] - before[0], after[1] - before[1])


def _sizes(db: Session) -> tuple[int, int]:
    return (db.exec(select(func.count(Notification.id))).one(), db.exec(select(func.count(Outbox.id))).one())


def _due_title(row: todo.DueRow, today: date) -> str:
    what = tr(row.template.body["title"]) + (f" · {row.subject}" if row.subject else "")
    days = (row.due - today).days
    if days < 0:
        return _("Overdue by %(n)s days: %(what)s (due %(due)s)", n=-days, what=what, due=row.due.isoformat())
    if days == 0:
        return _("Due today: %(what)s", what=what)
    return _("Due in %(n)s days: %(what)s (due %(due)s)", n=days, what=what, due=row.due.isoformat())


def _digests(db: Session, org: Organization, today: date) -> None:
    """One summary per person with something to do (email / webhook; in-app shows the live 待办 page)."""
    from workbench.auth import roles_in

    for u in events.people(db, org, {"member", "manager"}):
        roles = roles_in(db, u, org.id)
        n = todo.count(db, org, u, roles)
        if not n or not events.email_enabled():
            continue
        with force_locale(events._user_lang(u)):
            t = todo.for_user(db, org, u, roles, limit=20)
            lines = [f"- #{r.id} {r.title}" for r in t.act + t.returned] + [f"- {_due_title(d, today)}" for d in t.due[:20]]
            title = _("Your to-do list at %(org)s: %(n)s items", org=org.name, n=n)
        from workbench import outbox

        outbox.enqueue(db, "email", u.email, {"title": title, "text": "\n".join(lines)}, f"digest:{u.id}:{org.id}:{today.isoformat()}", org.id)
