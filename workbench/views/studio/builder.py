"""The builder page: posted values applied to the draft, the live preview (htmx), saving and discarding."""
from __future__ import annotations

import copy
import json

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy.orm.attributes import flag_modified
from werkzeug.datastructures import MultiDict

import forms
from workbench import clauses as clause_catalogue
from workbench import jsonsafe
from workbench.auth import roles_in
from workbench.db import get_session
from workbench.diagram import workflow_svg
from workbench.i18n import lang, tr
from workbench.models import ProcessTemplate, utcnow
from workbench.studio import builder, versions
from workbench.studio.models import StudioDraft
from workbench.templates import validate_template
from workbench.tenancy import allow
from workbench.views.studio import bp
from workbench.views.studio.access import Scope, _draft_in, _mine, _org_scope, _role_labels, _type_labels, author_orgs


TABS = ("fields", "settings", "workflow", "json")


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
    try:
        diagram = Markup(workflow_svg(body, lang())) if body is not None else ""
    except Exception:  # noqa: BLE001 - a half-written workflow must not break the page
        diagram = ""
    return {"scope": scope, "draft": draft, "body": body, "tab": tab, "template_errors": errors, "by_field": by_field,
            "role_labels": _role_labels(), "diagram": diagram,
            "sections": sections, "render_error": render_error, "flow": flow, "publish_as": publish_as,
            "field_doms": _field_doms(draft) if tab == "fields" else [], "rev": draft_rev(draft)}


def draft_rev(draft: StudioDraft) -> str:
    """Names the stored state of a draft the builder page was drawn from: every save changes it."""
    return f"{draft.updated_at:%Y%m%d%H%M%S%f}" if draft.updated_at else ""



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
        "studio/builder.html", vm=vm, P=Posted(posted), offered_states=offered_states(vm, posted), form_errors=form_errors or {}, json_text=json_text,
        json_error=json_error, base=base, tab_errors=tab_errors, type_labels=_type_labels(), types=builder.TYPES,
        child_types=builder.CHILD_TYPES, roles=builder.ROLES,
        standards=clause_catalogue.STANDARDS, clause_titles=_clause_titles(), open_all=field_count <= 6,
        open_paths=open_paths, focus=focus, orgs_for_copy=author_orgs() if scope.personal else [], can_manage=bool(scope.org and roles_in(db, current_user, scope.org.id)
                                                           & {"manager", "admin"}), **ctx), status


def offered_states(vm: dict, posted: MultiDict | None) -> list[dict]:
    """The states a step may start from or move to: after an unsaved post, the states of that post (so a state
    added in the same edit is offered and a step's choice of it is kept), else the draft's."""
    if posted is None or "s:name" not in posted:
        return [{"name": s["name"], "title": s["title"]} for s in vm["workflow"]["states"]]
    out = []
    for name, zh, en in zip(posted.getlist("s:name"), posted.getlist("s:zh"), posted.getlist("s:en")):
        name = name.strip()
        if name and name not in {s["name"] for s in out}:
            title = (en if lang() == "en" else zh).strip() or (zh or en).strip() or name
            out.append({"name": name, "title": title})
    return out


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
    """The live preview (htmx): the posted builder/JSON form applied to a copy of the draft, not saved.

    A preview posted from a page drawn from an older state of the draft (saved since, in this tab or another)
    is answered 204: htmx swaps nothing, so a late answer never refers to field cards the page does not have."""
    if request.form.get("_rev", "") != draft_rev(draft):
        return "", 204
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
