"""Publishing a draft as the next version: the confirmation with the diff and its impact, the release note."""
from __future__ import annotations

from flask import flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.exc import IntegrityError

from workbench import library
from workbench.db import get_session
from workbench.i18n import lang, tr
from workbench.models import ProcessTemplate
from workbench.studio import versions
from workbench.studio.models import StudioDraft
from workbench.templates import InvalidTemplate
from workbench.tenancy import allow, can
from workbench.views.studio import bp
from workbench.views.studio.access import _draft_in, _org_scope, _type_labels
from workbench.views.studio.builder import _apply_post, _key_taken, _render_builder, _save, draft_rev
from workbench.views.studio.versions import _diff_labels


@bp.route("/o/<org>/d/<int:draft_id>/publish", methods=["POST"])
@allow("org:author")
def publish(org, draft_id):
    """Publishing is deliberate, in two posts. From the builder: save the posted edits and show what publishing
    will do (the diff's summary, warnings and the impact on existing records) with a release note to write —
    or refuse, naming every error. From that confirmation (`_confirm`): publish the draft exactly as it was
    shown (409 and a fresh confirmation if it changed meanwhile)."""
    scope = _org_scope()
    draft = _draft_in(scope, draft_id)
    db = get_session()
    if request.form.get("_confirm"):
        return _confirmed(scope, draft)
    body, failed = _apply_post(scope, draft)
    if failed is not None:
        return failed
    tab = request.form.get("_tab", "fields")
    if _key_taken(scope, draft, body):
        return _render_builder(scope, draft, draft.body, tab, status=422, posted=request.form,
                               form_errors={"t:key": _("%(where)s already has a draft with this key.", where=scope.name)})
    _save(draft, body)
    db.commit()
    _checked, errors = versions.prepare(db, g.org, body)
    if errors:
        flash(_("Not published: fix the %(n)s problem(s) listed in the preview first.", n=len(errors)), "error")
        return _render_builder(scope, draft, body, tab, status=422)
    return _confirmation(scope, draft)


def _base_of(draft: StudioDraft) -> ProcessTemplate | None:
    """The version a draft is compared with: the one it was made from, else the organization's newest."""
    db = get_session()
    base = db.get(ProcessTemplate, draft.base_template_id) if draft.base_template_id else None
    if base is None:
        versions_ = library.published_versions(db, g.org, draft.key)
        base = versions_[-1] if versions_ else None
    return base


def _confirmation(scope, draft: StudioDraft, *, note: str = "", error: str = "", status: int = 200):
    db = get_session()
    base = _base_of(draft)
    d = versions.diff(base.body, draft.body, lang()) if base is not None else None
    impact = versions.impact(db, g.org, base.body if base is not None else None, draft.body, lang())
    return render_template("studio/publish.html", scope=scope, draft=draft, base=base, d=d, impact=impact,
                           note=note, error=error, rev=draft_rev(draft), labels=_diff_labels(),
                           type_labels=_type_labels(), can_manage=can("org:manage"),
                           publish_as=versions.next_version(db, g.org.id, draft.key),
                           title=tr(draft.body.get("title"), draft.key)), status


def _confirmed(scope, draft: StudioDraft):
    db = get_session()
    note = request.form.get("note", "").strip()
    _checked, errors = versions.prepare(db, g.org, draft.body)
    if errors:  # a draft changed into an invalid one (JSON tab, another author) is never published
        flash(_("Not published: fix the %(n)s problem(s) listed in the preview first.", n=len(errors)), "error")
        return _render_builder(scope, draft, draft.body, "fields", status=422)
    if request.form.get("_rev", "") != draft_rev(draft):
        return _confirmation(scope, draft, note=note, status=409,
                             error=_("The draft was changed after this page was shown: review the changes again."))
    if not note:
        return _confirmation(scope, draft, note=note, status=422,
                             error=_("Write the release note: what changes in this version, and why."))
    base = _base_of(draft)
    impact = versions.impact(db, g.org, base.body if base is not None else None, draft.body, lang())
    adopt_now = bool(request.form.get("_adopt")) and can("org:manage")
    try:
        row = versions.publish(db, g.org, draft.body, current_user, draft=draft, adopt=adopt_now, note=note,
                               impact=impact)
        db.commit()
    except InvalidTemplate as e:
        db.rollback()
        flash(_("Not published: fix the %(n)s problem(s) listed in the preview first.", n=len(e.errors)), "error")
        return _render_builder(scope, draft, draft.body, "fields", status=422)
    except IntegrityError:
        db.rollback()
        fresh = db.get(StudioDraft, draft.id)
        if fresh is None:
            flash(_("Someone published this process at the same moment; publish again."), "error")
            return redirect(url_for("studio.process", org=g.org.slug, key=draft.key), code=303)
        return _confirmation(scope, fresh, note=note, status=409,
                             error=_("Someone published this process at the same moment; publish again."))
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
    base = _base_of(draft)
    if base is None:
        flash(_("This draft is a new process: there is no earlier version to compare with."), "info")
        return redirect(scope.url("draft", draft_id=draft.id), code=303)
    d = versions.diff(base.body, draft.body, lang())
    return render_template("studio/diff.html", a=base, b=None, draft=draft, key=draft.key, d=d, choices=[],
                           title=tr(draft.body.get("title"), draft.key), labels=_diff_labels(),
                           type_labels=_type_labels())
