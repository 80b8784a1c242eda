"""Who may use the studio and where drafts live (an organization or a consultant's library); helpers every page uses."""
from __future__ import annotations

from dataclasses import dataclass

from flask import abort, g, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from workbench import library
from workbench.auth import active_memberships, roles_in
from workbench.db import get_session
from workbench.models import Organization, ProcessTemplate
from workbench.studio.models import StudioDraft
from workbench.views.studio import bp


AUTHOR_ROLES = frozenset({"consultant", "manager", "admin"})


def _roles_by_org() -> dict[int, set[str]]:
    if "studio_roles" not in g:
        out: dict[int, set[str]] = {}
        for m in active_memberships(get_session(), current_user.id):
            out.setdefault(m.org_id, set()).add(m.role)
        g.studio_roles = out
    return g.studio_roles


def is_studio_user() -> bool:
    if not getattr(current_user, "is_authenticated", False):
        return False
    return current_user.is_admin or any(r & {"consultant", "manager"} for r in _roles_by_org().values())


def has_library() -> bool:
    """Consultants (somewhere) and admins keep a personal library."""
    return current_user.is_admin or any("consultant" in r for r in _roles_by_org().values())


def author_orgs() -> list[Organization]:
    db = get_session()
    if current_user.is_admin:
        return db.exec(select(Organization).order_by(Organization.name)).all()
    ids = [oid for oid, roles in _roles_by_org().items() if roles & AUTHOR_ROLES]
    return db.exec(select(Organization).where(Organization.id.in_(ids)).order_by(Organization.name)).all() if ids else []


def _can_author(org_id: int) -> bool:
    return bool(roles_in(get_session(), current_user, org_id) & AUTHOR_ROLES)


# Studio routes outside an organization use the "login" policy plus these checks. They answer 404, like the
# organization policies do for non-members: for anyone else the studio (or a personal library) does not exist.
def _require_studio() -> None:
    if not is_studio_user():
        abort(404)


def _require_library() -> None:
    if not has_library():
        abort(404)


def _visible_template(tpl: ProcessTemplate | None) -> ProcessTemplate:
    """A published version the user may read in the studio: the shipped library, or an organization's own
    versions for its authors. 404 otherwise (never confirm another tenant's templates exist)."""
    if tpl is None:
        abort(404)
    if tpl.org_id is None:
        _require_studio()
    elif not _can_author(tpl.org_id):
        abort(404)
    return tpl


def _visible_draft(draft: StudioDraft | None) -> StudioDraft:
    if draft is None:
        abort(404)
    if draft.org_id is None and draft.owner_user_id != current_user.id:
        abort(404)
    if draft.org_id is not None and not _can_author(draft.org_id):
        abort(404)
    return draft


@dataclass
class Scope:
    """Where drafts live: an organization (org set) or the signed-in consultant's library."""
    org: Organization | None

    @property
    def personal(self) -> bool:
        return self.org is None

    @property
    def name(self) -> str:
        return self.org.name if self.org else _("My library")

    def url(self, view: str, **kw) -> str:
        if self.org:
            return url_for(f"studio.org_{view}", org=self.org.slug, **kw)
        return url_for(f"studio.my_{view}", **kw)

    def drafts(self):
        q = select(StudioDraft)
        q = q.where(StudioDraft.org_id == self.org.id) if self.org else q.where(
            StudioDraft.owner_user_id == current_user.id, StudioDraft.org_id.is_(None))
        return q

    def find_draft(self, key: str) -> StudioDraft | None:
        return get_session().exec(self.drafts().where(StudioDraft.key == key)).first()

    def new_draft(self, body: dict, base: ProcessTemplate | None = None) -> StudioDraft:
        d = StudioDraft(org_id=self.org.id if self.org else None,
                        owner_user_id=None if self.org else current_user.id,
                        key=str(body.get("key"))[:64], body=body, base_template_id=base.id if base else None,
                        created_by=current_user.id, updated_by=current_user.id)
        get_session().add(d)
        return d


def _mine() -> Scope:
    _require_library()
    return Scope(None)


def _org_scope() -> Scope:
    return Scope(g.org)


def _draft_in(scope: Scope, draft_id: int) -> StudioDraft:
    draft = get_session().get(StudioDraft, draft_id)
    if draft is None or draft.org_id != (scope.org.id if scope.org else None):
        abort(404)
    if scope.personal and draft.owner_user_id != current_user.id:
        abort(404)
    return draft


@bp.app_context_processor
def _studio_globals():
    def studio_link() -> bool:
        return is_studio_user()

    def studio_updates() -> list:
        org = getattr(g, "org", None)
        if org is None:
            return []
        if "studio_updates" not in g:
            g.studio_updates = library.available_updates(get_session(), org)
        return g.studio_updates

    def studio_update_for(key: str):
        return next((pair for pair in studio_updates() if pair[1].key == key), None)

    return {"studio_link": studio_link, "studio_updates": studio_updates, "studio_update_for": studio_update_for}


def _type_labels() -> dict[str, str]:
    return {"text": _("Text"), "textarea": _("Long text"), "number": _("Number"), "integer": _("Whole number"),
            "date": _("Date"), "datetime": _("Date and time"), "email": _("Email"), "choice": _("Choice"),
            "multichoice": _("Multiple choice"), "yesno": _("Yes / no"), "table": _("Table of rows"),
            "section": _("Section (group of fields)"), "attachment": _("Attachment"),
            "list": _("List of values (JSON)"), "link": _("Link to a record (JSON)"), "other": _("Advanced (JSON)")}


def _role_labels() -> dict[str, str]:
    return {"member": _("member"), "manager": _("manager"), "consultant": _("consultant"), "admin": _("admin")}
