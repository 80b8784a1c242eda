"""The consultant studio: template list, visual builder with live preview, versions, adoption, import/export.

Drafts live in two places, with the same pages: an organization's drafts (`/studio/o/<org>/…`, policy
"org:author": its consultants, managers and admins) and a consultant's personal library (`/studio/mine/…`,
policy "login" plus an explicit check: consultants and admins, each seeing only their own drafts).
Publishing is organization-scoped; a manager adopts a published version when ready.

Every page works as plain HTML forms; htmx only refreshes the preview while typing.
"""
from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from urllib.parse import urlparse

from flask import Blueprint, abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.attributes import flag_modified
from sqlmodel import func, select
from werkzeug.datastructures import MultiDict

import forms
from workbench import clauses as clause_catalogue
from workbench import jsonsafe
from workbench import library
from workbench.auth import active_memberships, roles_in
from workbench.db import get_session
from workbench.ids import parse_id
from workbench.i18n import lang, tr
from workbench.models import Organization, ProcessTemplate, Record, User, utcnow
from workbench.studio import builder, io as studio_io, versions
from workbench.studio.models import StudioDraft
from workbench.templates import InvalidTemplate, validate_template
from workbench.tenancy import allow, can

bp = Blueprint("studio", __name__, url_prefix="/studio")

AUTHOR_ROLES = frozenset({"consultant", "manager", "admin"})
TABS = ("fields", "settings", "workflow", "json")


# --- who may do what ---------------------------------------------------------------------------------------


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


# --- template helpers for every page (and the dashboard / record list "new version" affordance) ----------


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


# --- the template list -----------------------------------------------------------------------------------------


def _matches(body: dict, standard: str, clause: str, q: str) -> bool:
    refs = [c for c in body.get("clauses") or [] if isinstance(c, dict)]
    if standard:
        refs = [c for c in refs if c.get("standard") == standard]
        if not refs:
            return False
    if clause:
        if not any(c.get("clause") == clause or str(c.get("clause", "")).startswith(clause + ".") for c in refs):
            return False
    if q:
        hay = " ".join([str(body.get("key", "")), *((body.get("title") or {}).values())]).lower()
        if q.lower() not in hay:
            return False
    return True


@bp.route("/")
@allow("login")
def index():
    _require_studio()
    return _index_page()


def _index_page(new_values: dict | None = None, new_errors: list[str] | None = None, status: int = 200):
    db = get_session()
    standard = request.args.get("standard", "")
    clause = request.args.get("clause", "").strip()
    q = request.args.get("q", "").strip()
    orgs = author_orgs()
    org_by_id = {o.id: o for o in orgs}
    drafts = []
    if has_library():
        drafts += db.exec(select(StudioDraft).where(StudioDraft.owner_user_id == current_user.id,
                                                    StudioDraft.org_id.is_(None))).all()
    if orgs:
        drafts += db.exec(select(StudioDraft).where(StudioDraft.org_id.in_(list(org_by_id)))).all()
    drafts = sorted([d for d in drafts if _matches(d.body, standard, clause, q)], key=lambda d: d.updated_at, reverse=True)
    org_rows = []
    if orgs:
        newest: dict[tuple[int, str], ProcessTemplate] = {}
        for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.org_id.in_(list(org_by_id)),
                                                       ProcessTemplate.status == "published")).all():
            k = (t.org_id, t.key)
            if k not in newest or t.version > newest[k].version:
                newest[k] = t
        org_rows = sorted([t for t in newest.values() if _matches(t.body, standard, clause, q)],
                          key=lambda t: (org_by_id[t.org_id].name, tr(t.body.get("title"))))
    shipped = [t for t in library.latest_shipped(db).values() if _matches(t.body, standard, clause, q)]
    shipped.sort(key=lambda t: (min(clause_catalogue.sort_key(c["clause"]) for c in t.body["clauses"]), t.key))
    return render_template("studio/index.html", drafts=drafts, org_rows=org_rows, shipped=shipped, orgs=orgs,
                           org_by_id=org_by_id, library=has_library(), standard=standard, clause=clause, q=q,
                           standards=clause_catalogue.STANDARDS, new_values=new_values or {},
                           new_errors=new_errors or [], filtered=bool(standard or clause or q)), status


# --- creating drafts: new, clone, edit a version ----------------------------------------------------------------


def _new(scope: Scope):
    f = request.form
    key = f.get("key", "").strip()
    errors = []
    if not builder.TEMPLATE_KEY_RE.match(key):
        errors.append(_("Key: use lowercase letters, digits and - (2–63 characters, starting with a letter)."))
    if not f.get("title_zh", "").strip() and not f.get("title_en", "").strip():
        errors.append(_("Give the template a title."))
    standard, clause = f.get("standard", ""), f.get("clause", "").strip()
    if not clause_catalogue.exists(standard, clause):
        errors.append(_("%(standard)s has no clause “%(clause)s”.", standard=standard, clause=clause))
    if not errors and scope.find_draft(key):
        errors.append(_("%(where)s already has a draft with the key “%(key)s”.", where=scope.name, key=key))
    if errors:
        return _index_page(dict(f), errors, 422)
    body = builder.new_template(key, f.get("title_zh", ""), f.get("title_en", ""), [(standard, clause)])
    draft = scope.new_draft(body)
    get_session().commit()
    flash(_("Draft created. Add the fields of the form; the preview shows it as people will fill it."), "success")
    return redirect(scope.url("draft", draft_id=draft.id), code=303)


@bp.route("/mine/new", methods=["POST"])
@allow("login")
def my_new():
    return _new(_mine())


@bp.route("/o/<org>/new", methods=["POST"])
@allow("org:author")
def org_new(org):
    return _new(_org_scope())


def _source() -> tuple[dict, ProcessTemplate | None]:
    kind, _sep, raw = request.form.get("source", "").partition(":")
    if parse_id(raw) is None:
        abort(400)
    db = get_session()
    if kind == "t":
        tpl = _visible_template(db.get(ProcessTemplate, parse_id(raw)))
        return copy.deepcopy(tpl.body), tpl
    if kind == "d":
        draft = _visible_draft(db.get(StudioDraft, parse_id(raw)))
        base = db.get(ProcessTemplate, draft.base_template_id) if draft.base_template_id else None
        return copy.deepcopy(draft.body), base
    abort(400)


def _clone(scope: Scope):
    body, base = _source()
    existing = scope.find_draft(str(body.get("key")))
    if existing:
        flash(_("%(where)s already has a draft of “%(key)s”: continue it here.", where=scope.name, key=body.get("key")), "info")
        return redirect(scope.url("draft", draft_id=existing.id), code=303)
    if base is not None and scope.org is not None and base.org_id not in (None, scope.org.id):
        base = None  # another organization's version is not this organization's history
    draft = scope.new_draft(body, base)
    get_session().commit()
    flash(_("Copied into %(where)s as a draft.", where=scope.name), "success")
    return redirect(scope.url("draft", draft_id=draft.id), code=303)


@bp.route("/mine/clone", methods=["POST"])
@allow("login")
def my_clone():
    return _clone(_mine())


@bp.route("/o/<org>/clone", methods=["POST"])
@allow("org:author")
def org_clone(org):
    return _clone(_org_scope())


@bp.route("/o/<org>/t/<key>/edit", methods=["POST"])
@allow("org:author")
def edit_version(org, key):
    """A new draft from a published version (or the open draft of this process)."""
    scope = _org_scope()
    existing = scope.find_draft(key)
    if existing:
        return redirect(scope.url("draft", draft_id=existing.id), code=303)
    tpl = _version_of(key, request.form.get("template_id", type=int))
    draft = scope.new_draft(copy.deepcopy(tpl.body), tpl)
    get_session().commit()
    return redirect(scope.url("draft", draft_id=draft.id), code=303)


def _version_of(key: str, template_id: int | None) -> ProcessTemplate:
    versions_ = library.published_versions(get_session(), g.org, key)
    tpl = next((t for t in versions_ if t.id == template_id), None)
    if tpl is None:
        abort(404)
    return tpl


# --- the builder ------------------------------------------------------------------------------------------------


class Posted:
    """Values to show in the builder's inputs: what was posted (after an error) or the template's own."""

    def __init__(self, form: MultiDict | None):
        self.form = form
        self.parts = set(form.getlist("_part")) if form is not None else set()

    def val(self, name: str, default: str = "") -> str:
        if self.form is not None and name in self.form:
            return self.form.get(name)
        return default

    def vals(self, name: str, default: list) -> list:
        if self.form is not None and self._part_of(name) in self.parts:
            return self.form.getlist(name)
        return default

    def on(self, name: str, default: bool, value: str = "1") -> bool:
        if self.form is not None and self._part_of(name) in self.parts:
            return value in self.form.getlist(name)
        return default

    def rows(self, names: list[str], default: list[tuple]) -> list[tuple]:
        """Rows of aligned inputs (options, clauses…): the posted ones after an error, else `default`."""
        if self.form is not None and names[0] in self.form:
            return list(zip(*(self.form.getlist(n) for n in names)))
        return default

    @staticmethod
    def _part_of(name: str) -> str:
        head = name.split(":", 1)[0]
        if head in ("t", "c", "h", "sch"):
            return "settings"
        if head in ("w", "s") or (head.startswith("x") and head[1:].isdigit()):
            return "workflow"
        return "fields"


def _parse_json(text: str) -> tuple[dict | None, str]:
    try:
        body = jsonsafe.loads(text)
    except json.JSONDecodeError as e:
        return None, _("Not valid JSON: line %(line)s, column %(col)s: %(msg)s", line=e.lineno, col=e.colno, msg=e.msg)
    except jsonsafe.Refused as e:
        return None, _("Not accepted: %(msg)s", msg=str(e))
    if not isinstance(body, dict):
        return None, _("A template is a JSON object ({…}).")
    return body, ""


def _preview_values(body: dict) -> MultiDict:
    """One empty row in every table, so the preview shows its columns."""
    values = MultiDict()
    for name, field in ((body.get("schema") or {}).get("properties") or {}).items():
        if isinstance(field, dict) and builder.field_type(field) in ("table", "list"):
            values.add(f"{name}.__row", "0")
    return values


def _preview_context(scope: Scope, draft: StudioDraft, body: dict | None, tab: str,
                     form_errors: dict[str, str] | None = None, json_error: str = "") -> dict:
    errors = []
    by_field: dict[str, list[str]] = {}
    if json_error:
        errors.append({"path": "$", "message": json_error, "field": None, "tab": "json", "dom": ""})
    for name, msg in (form_errors or {}).items():
        path = name.rsplit(":", 1)[0] if ":" in name and not name.startswith(("t:", "c:", "h:", "sch:", "w:", "s:")) \
            and not name.split(":")[0].startswith("x") else None
        if path and body is not None and builder.has_field(body, path):
            by_field.setdefault(path, []).append(msg)
            errors.append({"path": name, "message": msg, "field": path, "tab": "fields", "dom": builder.dom(path)})
        else:
            errors.append({"path": name, "message": msg, "field": None, "tab": tab, "dom": ""})
    publish_as = None
    if body is not None:
        checked = copy.deepcopy(body)
        if scope.org and isinstance(checked.get("key"), str):
            publish_as = versions.next_version(get_session(), scope.org.id, checked["key"])
            checked["version"] = publish_as
        for e in validate_template(checked):
            field = builder.error_field(body, e.path)
            if field:
                by_field.setdefault(field, []).append(f"{e.path}: {e.message}")
            errors.append({"path": e.path, "message": e.message, "field": field, "tab": builder.error_tab(e.path),
                           "dom": builder.dom(field) if field else ""})
    sections, render_error = [], ""
    if body is not None:
        try:
            preview_errors = {}
            for field, msgs in by_field.items():
                parts = builder.split(field)
                if len(parts) == 2 and builder.type_of(body, parts[0]) == "table":
                    preview_errors[f"{parts[0]}.0.{parts[1]}"] = msgs[:1]
                else:
                    preview_errors[field] = msgs[:1]
            schema = body.get("schema") if isinstance(body.get("schema"), dict) else {}
            ui = body.get("ui") if isinstance(body.get("ui"), dict) else {}
            sections = forms.build_form(schema, ui, _preview_values(body), preview_errors, lang())
        except Exception:  # noqa: BLE001 - a half-written schema must not break the page
            render_error = _("The form cannot be drawn until the errors are fixed.")
    flow = builder.describe(body, lang())["workflow"] if body is not None else None
    return {"scope": scope, "draft": draft, "body": body, "tab": tab, "template_errors": errors, "by_field": by_field,
            "role_labels": _role_labels(),
            "sections": sections, "render_error": render_error, "flow": flow, "publish_as": publish_as,
            "field_doms": _field_doms(draft)}


def _field_doms(draft: StudioDraft) -> list[tuple[str, str]]:
    """The error slots of the builder page's field cards (refreshed out of band by the preview)."""
    try:
        return [(f["path"], f["dom"]) for f in builder._walk(builder.describe(draft.body)["fields"])]
    except Exception:  # noqa: BLE001 - a malformed draft has no cards
        return []


def _render_builder(scope: Scope, draft: StudioDraft, body: dict, tab: str, *, status: int = 200,
                    posted: MultiDict | None = None, form_errors: dict[str, str] | None = None,
                    json_text: str | None = None, json_error: str = "", focus: str = ""):
    db = get_session()
    try:
        vm = builder.describe(body, lang())
    except Exception:  # noqa: BLE001 - a draft saved from the JSON tab may be too malformed for the builder
        vm, tab = builder.describe({}, lang()), "json"
        json_error = json_error or _("The builder cannot read this template: fix it here first.")
        json_text = json_text if json_text is not None else json.dumps(body, ensure_ascii=False, indent=2)
    ctx = _preview_context(scope, draft, body if json_error == "" else None, tab, form_errors, json_error)
    if json_error:  # show the builder of the stored draft, and the error
        ctx["body"] = None
    base = db.get(ProcessTemplate, draft.base_template_id) if draft.base_template_id else None
    tab_errors: dict[str, int] = {}
    for e in ctx["template_errors"]:
        tab_errors[e["tab"]] = tab_errors.get(e["tab"], 0) + 1
    if json_text is None:
        json_text = json.dumps(body, ensure_ascii=False, indent=2)
    field_count = len(vm["fields"])
    open_paths = {focus} | set(ctx["by_field"]) | {p.rsplit(":", 1)[0] for p in (form_errors or {})}
    return render_template(
        "studio/builder.html", vm=vm, P=Posted(posted), form_errors=form_errors or {}, json_text=json_text,
        json_error=json_error, base=base, tab_errors=tab_errors, type_labels=_type_labels(), types=builder.TYPES,
        child_types=builder.CHILD_TYPES, roles=builder.ROLES,
        standards=clause_catalogue.STANDARDS, clause_titles=_clause_titles(), open_all=field_count <= 6,
        open_paths=open_paths, focus=focus, orgs_for_copy=author_orgs() if scope.personal else [], can_manage=bool(scope.org and roles_in(db, current_user, scope.org.id)
                                                           & {"manager", "admin"}), **ctx), status


def _clause_titles() -> dict[str, list[tuple[str, str]]]:
    cat = clause_catalogue.catalogue()
    return {s: [(c, t.get(lang(), "")) for c, t in (cat.get(s, {}).get("clauses") or {}).items()]
            for s in clause_catalogue.STANDARDS}


def _save(draft: StudioDraft, body: dict) -> None:
    db = get_session()
    draft.body = body
    flag_modified(draft, "body")  # a reorder is equal as a dict: make sure it is written
    if isinstance(body.get("key"), str) and body["key"] and len(body["key"]) <= 64:
        draft.key = body["key"]
    draft.updated_at = utcnow()
    draft.updated_by = current_user.id
    db.add(draft)


def _apply_post(scope: Scope, draft: StudioDraft):
    """Apply the posted builder/JSON form. Returns (body, None) or (None, error response)."""
    tab = request.form.get("_tab", "fields")
    if "json" in request.form.getlist("_part"):
        body, err = _parse_json(request.form.get("json", ""))
        if body is None:
            return None, _render_builder(scope, draft, draft.body, "json", status=422,
                                         json_text=request.form.get("json", ""), json_error=err)
        return body, None
    try:
        body, errors, renamed = builder.apply_form(draft.body, request.form)
    except Exception:  # noqa: BLE001 - see _render_builder: malformed drafts are fixed in the JSON tab
        return None, _render_builder(scope, draft, draft.body, "json", status=422)
    if errors:
        return None, _render_builder(scope, draft, draft.body, tab, status=422, posted=request.form,
                                     form_errors=errors)
    g.studio_renamed = renamed
    return body, None


def _key_taken(scope: Scope, draft: StudioDraft, body: dict) -> bool:
    other = scope.find_draft(str(body.get("key")))
    return other is not None and other.id != draft.id


def _builder(scope: Scope, draft: StudioDraft):
    if request.method == "GET":
        tab = request.args.get("tab", "fields")
        return _render_builder(scope, draft, draft.body, tab if tab in TABS else "fields",
                               focus=request.args.get("focus", ""))
    body, failed = _apply_post(scope, draft)
    if failed is not None:
        return failed
    tab = request.form.get("_tab", "fields")
    action = request.form.get("_action", "save")
    if _key_taken(scope, draft, body):
        return _render_builder(scope, draft, draft.body, tab, status=422, posted=request.form,
                               form_errors={"t:key": _("%(where)s already has a draft with this key.", where=scope.name)})
    focus = ""
    try:
        body, focus = builder.apply_action(body, action, request.form, getattr(g, "studio_renamed", {}))
    except builder.BuilderError as e:
        _save(draft, body)  # keep the other edits
        get_session().commit()
        parent = action.partition(":")[2]
        name = f"new:{parent}:{e.field or 'key'}" if action.startswith("add:") else f"{parent}:key"
        return _render_builder(scope, draft, body, tab, status=422, posted=_only_new_inputs(request.form),
                               form_errors={name: str(e)}, focus=parent)
    _save(draft, body)
    get_session().commit()
    if action.startswith("tab:") and action[4:] in TABS:
        tab = action[4:]
    elif action == "save":
        flash(_("Draft saved."), "success")
    args = {"tab": tab} if tab != "fields" else {}
    if focus:
        args["focus"] = focus
    anchor = "#" + builder.dom(focus) if focus else ""
    return redirect(scope.url("draft", draft_id=draft.id, **args) + anchor, code=303)


def _only_new_inputs(form: MultiDict) -> MultiDict:
    """After a failed "add": keep what was typed into the add-field row (the rest is saved)."""
    return MultiDict([(k, v) for k, v in form.items(multi=True) if k.startswith("new:")])


@bp.route("/mine/d/<int:draft_id>", methods=["GET", "POST"])
@allow("login")
def my_draft(draft_id):
    scope = _mine()
    return _builder(scope, _draft_in(scope, draft_id))


@bp.route("/o/<org>/d/<int:draft_id>", methods=["GET", "POST"])
@allow("org:author")
def org_draft(org, draft_id):
    scope = _org_scope()
    return _builder(scope, _draft_in(scope, draft_id))


def _preview(scope: Scope, draft: StudioDraft):
    """The live preview (htmx): the posted builder/JSON form applied to a copy of the draft, not saved."""
    tab = request.form.get("_tab", "fields")
    json_error, form_errors = "", {}
    if "json" in request.form.getlist("_part"):
        body, json_error = _parse_json(request.form.get("json", ""))
    else:
        try:
            body, form_errors, _renamed = builder.apply_form(draft.body, request.form)
        except Exception:  # noqa: BLE001 - malformed draft: the page already says to fix it in the JSON tab
            body, form_errors = draft.body, {}
    try:
        ctx = _preview_context(scope, draft, body, tab, form_errors, json_error)
    except Exception:  # noqa: BLE001
        ctx = _preview_context(scope, draft, None, tab, {}, _("The builder cannot read this template: fix it in the JSON tab."))
    return render_template("studio/_preview.html", oob=True, **ctx)


@bp.route("/mine/d/<int:draft_id>/preview", methods=["POST"])
@allow("login")
def my_preview(draft_id):
    scope = _mine()
    return _preview(scope, _draft_in(scope, draft_id))


@bp.route("/o/<org>/d/<int:draft_id>/preview", methods=["POST"])
@allow("org:author")
def org_preview(org, draft_id):
    scope = _org_scope()
    return _preview(scope, _draft_in(scope, draft_id))


def _discard(scope: Scope, draft: StudioDraft):
    db = get_session()
    title = tr(draft.body.get("title") if isinstance(draft.body, dict) else None, draft.key)
    db.delete(draft)
    db.commit()
    flash(_("Draft “%(title)s” discarded.", title=title), "info")
    return redirect(url_for("studio.index"), code=303)


@bp.route("/mine/d/<int:draft_id>/discard", methods=["POST"])
@allow("login")
def my_discard(draft_id):
    scope = _mine()
    return _discard(scope, _draft_in(scope, draft_id))


@bp.route("/o/<org>/d/<int:draft_id>/discard", methods=["POST"])
@allow("org:author")
def org_discard(org, draft_id):
    scope = _org_scope()
    return _discard(scope, _draft_in(scope, draft_id))


@bp.route("/o/<org>/d/<int:draft_id>/publish", methods=["POST"])
@allow("org:author")
def publish(org, draft_id):
    """Save the posted edits, then publish the draft as the next version — or refuse, naming every error."""
    scope = _org_scope()
    draft = _draft_in(scope, draft_id)
    body, failed = _apply_post(scope, draft)
    if failed is not None:
        return failed
    tab = request.form.get("_tab", "fields")
    if _key_taken(scope, draft, body):
        return _render_builder(scope, draft, draft.body, tab, status=422, posted=request.form,
                               form_errors={"t:key": _("%(where)s already has a draft with this key.", where=scope.name)})
    db = get_session()
    _save(draft, body)
    db.commit()
    adopt_now = bool(request.form.get("_adopt")) and can("org:manage")
    try:
        row = versions.publish(db, g.org, body, current_user, draft=draft, adopt=adopt_now)
        db.commit()
    except InvalidTemplate as e:
        db.rollback()
        flash(_("Not published: fix the %(n)s problem(s) listed in the preview first.", n=len(e.errors)), "error")
        return _render_builder(scope, draft, body, tab, status=422)
    except IntegrityError:
        db.rollback()
        flash(_("Someone published this process at the same moment; publish again."), "error")
        return _render_builder(scope, db.get(StudioDraft, draft_id) or draft, body, tab, status=409)
    if adopt_now:
        flash(_("Published version %(v)s; new records use it from now on.", v=row.version), "success")
    else:
        flash(_("Published version %(v)s. A manager of %(org)s adopts it when ready; until then new records "
                "use the current version.", v=row.version, org=g.org.name), "success")
    return redirect(url_for("studio.process", org=g.org.slug, key=row.key), code=303)


@bp.route("/o/<org>/d/<int:draft_id>/changes")
@allow("org:author")
def draft_changes(org, draft_id):
    scope = _org_scope()
    draft = _draft_in(scope, draft_id)
    db = get_session()
    base = db.get(ProcessTemplate, draft.base_template_id) if draft.base_template_id else None
    if base is None:
        versions_ = library.published_versions(db, g.org, draft.key)
        base = versions_[-1] if versions_ else None
    if base is None:
        flash(_("This draft is a new process: there is no earlier version to compare with."), "info")
        return redirect(scope.url("draft", draft_id=draft.id), code=303)
    d = versions.diff(base.body, draft.body, lang())
    return render_template("studio/diff.html", a=base, b=None, draft=draft, key=draft.key, d=d,
                           choices=[], title=tr(draft.body.get("title"), draft.key), labels=_diff_labels())


# --- versions of a process and adoption ---------------------------------------------------------------------------


@bp.route("/o/<org>/t/<key>")
@allow("org:author")
def process(org, key):
    db = get_session()
    rows = library.published_versions(db, g.org, key)
    draft = versions.draft_for(db, g.org.id, key)
    if not rows and draft is None:
        abort(404)
    current = library.adopted(db, g.org, key)
    counts = dict(db.exec(select(Record.template_id, func.count(Record.id)).where(
        Record.org_id == g.org.id, Record.template_key == key).group_by(Record.template_id)).all())
    people = {u.id: u.name for u in db.exec(select(User).where(User.id.in_({t.created_by for t in rows} - {None}))).all()}
    title = tr((rows[-1].body if rows else draft.body).get("title"), key)
    return render_template("studio/process.html", key=key, rows=list(reversed(rows)), current=current, draft=draft,
                           counts=counts, people=people, title=title, newest=rows[-1] if rows else None)


@bp.route("/o/<org>/t/<key>/diff")
@allow("org:author")
def diff(org, key):
    db = get_session()
    rows = library.published_versions(db, g.org, key)
    if not rows:
        abort(404)
    by_id = {t.id: t for t in rows}
    b = by_id.get(request.args.get("b", type=int)) or rows[-1]
    older = [t for t in rows if t.id != b.id]
    a = by_id.get(request.args.get("a", type=int)) or (max((t for t in older if (t.version, t.id) < (b.version, b.id)),
                                                           key=lambda t: (t.version, t.id), default=None))
    if a is None:
        flash(_("There is only one version: nothing to compare."), "info")
        return redirect(url_for("studio.process", org=g.org.slug, key=key), code=303)
    d = versions.diff(a.body, b.body, lang())
    return render_template("studio/diff.html", a=a, b=b, draft=None, key=key, d=d, choices=rows,
                           title=tr(b.body.get("title"), key), labels=_diff_labels())


def _diff_labels() -> dict[str, str]:
    return {"type": _("Type"), "label": _("Label"), "help": _("Help text"), "required": _("Required"),
            "options": _("Options"), "min": _("Minimum"), "max": _("Maximum"), "maxlen": _("Maximum length"),
            "condition": _("Shown when"), "heading": _("Heading"), "details": _("Other details (see JSON)"),
            "order": _("Field order"), "title": _("Title"), "description": _("Description"),
            "clauses": _("Clauses"), "states": _("Workflow states"), "step": _("Workflow step"),
            "schedule": _("Schedule"), "rules": _("Other rules (see JSON)"), "yes": _("yes"), "no": _("no")}


def _safe_next(default: str) -> str:
    target = request.form.get("next", "")
    parts = urlparse(target)
    if target.startswith("/") and not target.startswith("//") and not parts.netloc and not parts.scheme:
        return target
    return default


@bp.route("/o/<org>/t/<key>/adopt", methods=["POST"])
@allow("org:manage")
def adopt(org, key):
    """A manager switches the organization to a version: new records use it; existing records keep theirs."""
    tpl = _version_of(key, request.form.get("template_id", type=int))
    db = get_session()
    library.adopt(db, g.org, tpl)
    db.commit()
    flash(_("%(title)s: new records now use version %(v)s. Existing records keep the version they were made with.",
            title=tr(tpl.body.get("title"), key), v=tpl.version), "success")
    return redirect(_safe_next(url_for("records.list_records", org=g.org.slug, key=key)), code=303)


# --- reading a published version -------------------------------------------------------------------------------------


@bp.route("/t/<int:template_id>")
@allow("login")
def template(template_id):
    tpl = _visible_template(get_session().get(ProcessTemplate, template_id))
    body = tpl.body
    sections = forms.build_form(body["schema"], body.get("ui"), _preview_values(body), {}, lang())
    org = get_session().get(Organization, tpl.org_id) if tpl.org_id else None
    return render_template("studio/template.html", tpl=tpl, sections=sections, owner_org=org, orgs=author_orgs(),
                           schedule_text=_schedule_text(body),
                           library=has_library(), flow=builder.describe(body, lang())["workflow"],
                           json_text=json.dumps(body, ensure_ascii=False, indent=2), role_labels=_role_labels())


def _schedule_text(body: dict) -> str:
    sched = body.get("schedule") or {}
    props = (body.get("schema") or {}).get("properties") or {}
    label = lambda name: tr((props.get(name) or {}).get("label"), name)  # noqa: E731
    if "every_months" in sched:
        return _("one record every %(n)s months, counted from “%(f)s”", n=sched["every_months"], f=label(sched.get("date_field")))
    if "due_field" in sched:
        text = _("due on the date in “%(f)s”", f=label(sched["due_field"]))
        if sched.get("subject_field"):
            text += " · " + _("one per “%(f)s”", f=label(sched["subject_field"]))
        return text
    return ""


@bp.route("/t/<int:template_id>/fields.xlsx")
@allow("login")
def template_xlsx(template_id):
    tpl = _visible_template(get_session().get(ProcessTemplate, template_id))
    return _xlsx(studio_io.write_workbook(tpl.body), f"{tpl.key}-v{tpl.version}.xlsx")


# --- import / export ---------------------------------------------------------------------------------------------------


def _xlsx(data: bytes, name: str):
    import io

    return send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")


@bp.route("/example.xlsx")
@allow("login")
def example_xlsx():
    """An example field sheet, made by openpyxl now (binary files are not kept in the repository)."""
    _require_studio()
    return _xlsx(studio_io.write_workbook(studio_io.example_template()), "processbench-template-example.xlsx")


@bp.route("/export")
@allow("login")
def export():
    """A JSON pack of the chosen published versions (t=<id>) and drafts (d=<id>)."""
    db = get_session()
    bodies = []
    for raw in request.args.getlist("t"):
        if parse_id(raw) is not None:
            bodies.append(_visible_template(db.get(ProcessTemplate, parse_id(raw))).body)
    for raw in request.args.getlist("d"):
        if parse_id(raw) is not None:
            bodies.append(_visible_draft(db.get(StudioDraft, parse_id(raw))).body)
    if not bodies:
        flash(_("Tick the templates to export first."), "info")
        return redirect(url_for("studio.index"), code=303)
    name = f"{bodies[0].get('key', 'template')}.json" if len(bodies) == 1 else f"processbench-templates-{len(bodies)}.json"
    import io

    return send_file(io.BytesIO(studio_io.dumps_pack(bodies)), as_attachment=True, download_name=name,
                     mimetype="application/json")


def _import(scope: Scope):
    if request.method == "GET":
        return render_template("studio/import.html", scope=scope, errors=[], values={},
                               can_publish=bool(scope.org)), 200
    kind = request.form.get("kind", "pack")
    upload = request.files.get("file")
    values = request.form.to_dict()
    if upload is None or not upload.filename:
        return render_template("studio/import.html", scope=scope, errors=[_("Choose a file to import.")], kind=kind,
                               values=values, can_publish=bool(scope.org)), 422
    data = upload.read()
    try:
        if kind == "excel":
            meta = {k: request.form.get(k, "") for k in studio_io.META_NAMES}
            templates = [studio_io.read_workbook(data, meta)]
        else:
            templates = studio_io.read_pack(data)
    except studio_io.ImportFailed as e:
        return render_template("studio/import.html", scope=scope, errors=e.errors, kind=kind, values=values,
                               can_publish=bool(scope.org), filename=upload.filename), 422
    clashes = [t["key"] for t in templates if scope.find_draft(t["key"])]
    if clashes:
        return render_template("studio/import.html", scope=scope, kind=kind, values=values, can_publish=bool(scope.org),
                               filename=upload.filename,
                               errors=[_("%(where)s already has a draft of “%(key)s”: publish or discard it first.",
                                         where=scope.name, key=k) for k in clashes]), 422
    db = get_session()
    if scope.org and request.form.get("publish"):
        published = [versions.publish(db, scope.org, t, current_user) for t in templates]
        db.commit()
        flash(_("Imported and published %(n)s template(s). A manager adopts them when ready.", n=len(published)), "success")
        if len(published) == 1:
            return redirect(url_for("studio.process", org=scope.org.slug, key=published[0].key), code=303)
        return redirect(url_for("studio.index"), code=303)
    drafts = [scope.new_draft(t) for t in templates]
    db.commit()
    flash(_("Imported %(n)s template(s) as drafts in %(where)s.", n=len(drafts), where=scope.name), "success")
    if len(drafts) == 1:
        return redirect(scope.url("draft", draft_id=drafts[0].id), code=303)
    return redirect(url_for("studio.index"), code=303)


@bp.route("/mine/import", methods=["GET", "POST"])
@allow("login")
def my_import():
    return _import(_mine())


@bp.route("/o/<org>/import", methods=["GET", "POST"])
@allow("org:author")
def org_import(org):
    return _import(_org_scope())


@bp.app_template_filter("pretty_json")
def _pretty_json(value) -> str:
    return json.dumps(value, ensure_ascii=False, indent=2)

