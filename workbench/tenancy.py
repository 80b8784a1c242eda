"""Tenancy and roles, enforced on the server for every view.

Every view is wrapped in `@allow(POLICY)`; the policy is stored on the function so a test can walk
`app.url_map` and prove that no route lacks a decision. Organization-scoped routes take `<org>` (the
slug) and answer 404 to anyone without an active membership there, so another tenant's data cannot
even be confirmed to exist. An auditor's membership counts only while one of their engagements is open
(workbench.auth.roles_in), and an auditor reads only processes, records and attachments in the scope of
those engagements (`auditor_scope`).
"""
from __future__ import annotations

from functools import wraps
from typing import Callable

from flask import abort, g, request
from flask_login import current_user
from sqlmodel import select

from workbench.auth import login_manager, roles_in
from workbench.db import get_session
from workbench.models import Organization

# policy -> roles that satisfy it inside the organization (None: no organization involved)
POLICIES: dict[str, frozenset[str] | None] = {
    "public": None,  # anyone, signed in or not
    "login": None,  # any signed-in user
    "admin": None,  # the instance administrator (User.is_admin)
    "org:read": frozenset({"member", "manager", "consultant", "auditor", "admin"}),
    "org:write": frozenset({"member", "manager", "admin"}),  # create/edit/transition records
    "org:manage": frozenset({"manager", "admin"}),  # members, audit access, adoption of versions
    "org:author": frozenset({"consultant", "manager", "admin"}),  # templates of the organization
    "org:audit": frozenset({"auditor", "manager", "admin"}),  # engagements, samples, findings
}


def allow(policy: str) -> Callable:
    if policy not in POLICIES:
        raise ValueError(f"unknown policy {policy!r}")

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args, **kwargs):
            if policy != "public" and not current_user.is_authenticated:
                return login_manager.unauthorized()
            if policy == "admin" and not current_user.is_admin:
                abort(403)
            roles = POLICIES[policy]
            if roles is not None:
                slug = kwargs.get("org")
                org = get_session().exec(select(Organization).where(Organization.slug == slug)).first() if slug else None
                if org is None:
                    abort(404)
                mine = roles_in(get_session(), current_user, org.id)
                if not mine:
                    abort(404)  # not your organization: don't even confirm it exists
                if not mine & roles:
                    abort(403)
                g.org, g.roles = org, mine
                if mine == {"auditor"}:
                    _auditor_in_scope(org, kwargs)
            return view(*args, **kwargs)

        wrapper.policy = policy  # type: ignore[attr-defined]
        return wrapper

    return decorate


def auditor_scope(org: Organization, user_id: int) -> set[str]:
    """Template keys an auditor may read now: for each engagement open now that the auditor is on, its listed
    processes, or (when it lists none) every adopted process citing one of its standards."""
    from workbench import library
    from workbench.audit.service import open_engagements

    db = get_session()
    keys: set[str] = set()
    templates = None
    for e in open_engagements(db, org.id, user_id):
        if e.scope_processes:
            keys |= set(e.scope_processes)
            continue
        templates = templates if templates is not None else library.processes(db, org)
        keys |= {t.key for t in templates if any(c.get("standard") in e.standards for c in t.body.get("clauses", []))}
    return keys


def _auditor_in_scope(org: Organization, kwargs: dict) -> None:
    """An auditor's request for a process, record or attachment outside the scope of their open engagements: 404."""
    from workbench.models import Attachment, Record

    wanted = {k: kwargs[k] for k in ("key", "record_id", "attachment_id") if k in kwargs}
    if not wanted:
        return
    db = get_session()
    keys = []
    if "key" in wanted:
        keys.append(wanted["key"])
    if "record_id" in wanted:
        rec = db.get(Record, wanted["record_id"])
        keys.append(rec.template_key if rec is not None and rec.org_id == org.id else None)
    if "attachment_id" in wanted:
        att = db.get(Attachment, wanted["attachment_id"])
        rec = db.get(Record, att.record_id) if att is not None and att.org_id == org.id and att.record_id else None
        keys.append(rec.template_key if rec is not None else None)
    scope = auditor_scope(org, current_user.id)
    if any(k is None or k not in scope for k in keys):
        abort(404)


def can(action: str) -> bool:
    """In an organization-scoped request: may the current user do `action` (a policy name)?"""
    roles = POLICIES.get(action)
    return bool(roles and getattr(g, "roles", set()) & roles)


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"
