"""The versions of a process, their differences, adoption, and reading one published version."""
from __future__ import annotations

import json
from urllib.parse import urlparse

from flask import abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from markupsafe import Markup
from sqlmodel import func, select

import forms
from workbench import library
from workbench.db import get_session
from workbench.diagram import workflow_svg
from workbench.i18n import lang, tr
from workbench.models import Organization, ProcessTemplate, Record, User
from workbench.studio import builder, io as studio_io, versions
from workbench.tenancy import allow
from workbench.views.studio import bp
from workbench.views.studio.access import _role_labels, _type_labels, _visible_template, author_orgs, has_library
from workbench.views.studio.library import _version_of, _xlsx
from workbench.views.studio.builder import _preview_values


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
    notes = versions.release_notes(db, [t.id for t in rows])
    return render_template("studio/process.html", key=key, rows=list(reversed(rows)), current=current, draft=draft,
                           notes=notes,
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
    note = versions.release_notes(db, [b.id]).get(b.id)
    return render_template("studio/diff.html", a=a, b=b, draft=None, key=key, d=d, choices=rows, note=note,
                           title=tr(b.body.get("title"), key), labels=_diff_labels(), type_labels=_type_labels())


def _diff_labels() -> dict[str, str]:
    return {"locked": _("Locked states"), "type": _("Type"), "label": _("Label"), "help": _("Help text"), "required": _("Required"),
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


@bp.route("/t/<int:template_id>")
@allow("login")
def template(template_id):
    tpl = _visible_template(get_session().get(ProcessTemplate, template_id))
    body = tpl.body
    sections = forms.build_form(body["schema"], body.get("ui"), _preview_values(body), {}, lang())
    org = get_session().get(Organization, tpl.org_id) if tpl.org_id else None
    return render_template("studio/template.html", tpl=tpl, sections=sections, owner_org=org, orgs=author_orgs(),
                           schedule_text=versions.schedule_text(body, lang()), diagram=Markup(workflow_svg(body, lang())),
                           library=has_library(), flow=builder.describe(body, lang())["workflow"],
                           json_text=json.dumps(body, ensure_ascii=False, indent=2), role_labels=_role_labels())


@bp.route("/t/<int:template_id>/fields.xlsx")
@allow("login")
def template_xlsx(template_id):
    tpl = _visible_template(get_session().get(ProcessTemplate, template_id))
    return _xlsx(studio_io.write_workbook(tpl.body), f"{tpl.key}-v{tpl.version}.xlsx")
