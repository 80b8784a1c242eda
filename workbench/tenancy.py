"""Tenancy and roles, enforced on the server for every view.

Every view is wrapped in `@allow(POLICY)`; the policy is stored on the function so a test can walk
`app.url_map` and prove that no route lacks a decision. Organization-scoped routes take `<org>` (the
slug) and answer 404 to anyone without an active membership there, so another tenant's data cannot
even be confirmed to exist.
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
            return view(*args, **kwargs)

        wrapper.policy = policy  # type: ignore[attr-defined]
        return wrapper

    return decorate


def can(action: str) -> bool:
    """In an organization-scoped request: may the current user do `action` (a policy name)?"""
    roles = POLICIES.get(action)
    return bool(roles and getattr(g, "roles", set()) & roles)


def is_htmx() -> bool:
    return request.headers.get("HX-Request") == "true"
