"""Import records of a process from xlsx / csv: upload -> preview (nothing stored) -> commit (all or nothing).
The uploaded file stays on the server between the two steps, named by its SHA-256 in the organization's folder."""
from __future__ import annotations

from flask import Blueprint, current_app, flash, g, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

import io

from workbench.db import get_session, transaction
from workbench.errors import UserError
from workbench.i18n import lang
from workbench.importing import files, service, template
from workbench.tenancy import allow
from workbench.views.records import _process_or_404

bp = Blueprint("importing", __name__, url_prefix="/o/<org>")


def _page(tpl, preview=None, status=200):
    return render_template("import.html", tpl=tpl, preview=preview), status


@bp.route("/p/<key>/import", methods=["GET", "POST"])
@allow("org:write")
def upload(org, key):
    tpl = _process_or_404(key)
    if request.method == "GET":
        return _page(tpl)
    up = request.files.get("file")
    if up is None or not up.filename:
        raise UserError(_("Choose an xlsx or csv file."), field="file")
    stored = files.save(current_app.instance_path, g.org.id, up.stream, up.filename)
    preview = service.run(get_session(), g.org, tpl, current_user, stored, commit=False, lang=lang())
    get_session().rollback()  # a preview stores nothing
    return _page(tpl, preview, 200 if preview.ok else 422)


@bp.route("/p/<key>/import/commit", methods=["POST"])
@allow("org:write")
def commit(org, key):
    tpl = _process_or_404(key)
    stored = files.load(current_app.instance_path, g.org.id, request.form.get("sha256", ""))
    try:
        with transaction() as db:
            preview = service.run(db, g.org, tpl, current_user, stored, commit=True, lang=lang())
    except service.ImportInvalid as e:
        return _page(tpl, e.preview, 422)
    flash(_("%(n)s records imported.", n=preview.records))
    return redirect(url_for("records.list_records", org=g.org.slug, key=tpl.key))


@bp.route("/p/<key>/import/template.xlsx")
@allow("org:write")
def import_template(org, key):
    tpl = _process_or_404(key)
    return send_file(io.BytesIO(template.build(tpl, lang())), as_attachment=True,
                     download_name=f"{tpl.key}-import.xlsx",
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
