"""The template list, creating drafts (new, clone, edit a version), and import / export (JSON packs, Excel sheets)."""
from __future__ import annotations

import copy
import json

from flask import abort, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlmodel import select

from workbench import clauses as clause_catalogue
from workbench import library
from workbench.db import get_session
from workbench.i18n import tr
from workbench.ids import parse_id
from workbench.models import ProcessTemplate
from workbench.studio import builder, io as studio_io, versions
from workbench.studio.models import StudioDraft
from workbench.tenancy import allow
from workbench.views.studio import bp
from workbench.views.studio.access import (
    Scope, _mine, _org_scope, _require_studio, _visible_draft, _visible_template, author_orgs, has_library,
)


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
