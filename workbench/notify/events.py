"""What notifies whom. Each function writes in-app notifications and queues outbox messages in the caller's
transaction; every message has a dedupe key, so calling twice for the same fact adds nothing.

- awaits_action: a record entered a state in which someone's role may take the next step → those people;
- returned: a record went back to its initial state (退回修改) or to a rejected state → its author;
- due: a schedule item is 30 / 7 / 0 days away or passed → the people who work in that process and the
  managers, and the organization's robot;
- finding: an auditor raised a nonconformity → the managers and the robot.
"""
from __future__ import annotations

from flask import current_app, has_app_context, url_for
from flask_babel import force_locale, gettext as _
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from workbench import outbox
from workbench.auth import active_memberships
from workbench.i18n import tr
from workbench.models import Membership, Organization, ProcessTemplate, Record, User
from workbench.notify.models import Notification, NotifyPref, OrgChannel


def _link(endpoint: str, **kw) -> str:
    try:
        return url_for(endpoint, _external=bool(current_app.config.get("SERVER_NAME")), **kw)
    except RuntimeError:  # outside a request (cron): a relative link
        return ""


def email_enabled() -> bool:
    from workbench.notify.channels import config

    return has_app_context() and bool(config("SMTP_HOST"))


def to_user(db: Session, user: User, org: Organization | None, kind: str, title: str, text: str, link: str, key: str) -> None:
    """In-app always; email and the personal webhook as the user's settings say."""
    if db.exec(select(Notification.id).where(Notification.user_id == user.id, Notification.dedupe_key == key)).first() is None:
        try:
            with db.begin_nested():
                db.add(Notification(user_id=user.id, org_id=org.id if org else None, kind=kind, text=title, link=link,
                                    dedupe_key=key))
        except IntegrityError:
            pass
    pref = db.exec(select(NotifyPref).where(NotifyPref.user_id == user.id)).first()
    body = f"{text}\n{link}" if link else text
    if (pref is None or pref.email) and email_enabled():
        outbox.enqueue(db, "email", user.email, {"title": title, "text": body}, f"email:{user.id}:{key}", org.id if org else None)
    if pref and pref.webhook_url:
        outbox.enqueue(db, "webhook", pref.webhook_url, {"user_id": user.id, "kind": kind, "title": title, "text": text,
                                                         "link": link, "org": org.slug if org else None},
                       f"webhook:{user.id}:{key}", org.id if org else None)


def to_org_robots(db: Session, org: Organization, title: str, text: str, key: str) -> None:
    for ch in db.exec(select(OrgChannel).where(OrgChannel.org_id == org.id, OrgChannel.enabled.is_(True))).all():
        outbox.enqueue(db, ch.kind, ch.url, {"title": title, "text": text}, f"{ch.kind}:{org.id}:{key}", org.id)


def people(db: Session, org: Organization, roles: set[str]) -> list[User]:
    ids = {m.user_id for m in db.exec(select(Membership).where(Membership.org_id == org.id, Membership.role.in_(sorted(roles)))).all()
           if active_memberships(db, m.user_id, org.id)}
    return list(db.exec(select(User).where(User.id.in_(ids))).all()) if ids else []


def _user_lang(user: User) -> str:
    return "en" if (user.locale or "").startswith("en") else "zh_CN"


def after_transition(db: Session, org: Organization, rec: Record, tpl: ProcessTemplate, actor, event_seq: int | None = None) -> None:
    """Call after a record changed state (in the same transaction)."""
    wf = tpl.body["workflow"]
    link = _link("records.detail", org=org.slug, record_id=rec.id)
    tag = f"{rec.id}:{rec.state}:{event_seq or rec.updated_at.isoformat()}"
    next_roles = {r for t in wf["transitions"] if rec.state in t["from"] for r in t["roles"]}
    if rec.state != wf["initial"] and next_roles:
        for u in people(db, org, next_roles):
            if u.id == getattr(actor, "id", None):
                continue
            with force_locale(_user_lang(u)):
                title = _("Waiting for you: %(process)s #%(id)s %(title)s", process=tr(tpl.body["title"]), id=rec.id, title=rec.title)
                to_user(db, u, org, "awaits", title, title, link, f"awaits:{tag}")
    rejected = rec.state == wf["initial"] or "reject" in rec.state
    if rejected and rec.created_by and rec.created_by != getattr(actor, "id", None):
        author = db.get(User, rec.created_by)
        if author:
            with force_locale(_user_lang(author)):
                title = _("Returned to you: %(process)s #%(id)s %(title)s", process=tr(tpl.body["title"]), id=rec.id, title=rec.title)
                to_user(db, author, org, "returned", title, title, link, f"returned:{tag}")


def finding_raised(db: Session, org: Organization, finding) -> None:
    if finding.grade not in ("minor", "major"):
        return
    for u in people(db, org, {"manager"}):
        with force_locale(_user_lang(u)):
            title = _("Audit finding %(n)s (%(clause)s) awaits your answer", n=finding.number, clause=f"{finding.standard} {finding.clause}")
            to_user(db, u, org, "finding", title, f"{title}\n{finding.statement}",
                    _link("audit.finding", org=org.slug, eid=finding.engagement_id, fid=finding.id), f"finding:{finding.id}")
    with force_locale("zh_CN"):
        to_org_robots(db, org, _("Audit finding %(n)s (%(clause)s) awaits your answer", n=finding.number,
                                 clause=f"{finding.standard} {finding.clause}"), finding.statement, f"finding:{finding.id}")
