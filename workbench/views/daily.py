"""The daily loop: 待办 (to-do), notification settings, robot channels, the admin's outbox, list export and bulk
actions, fill-link QR codes and the A4 print view of one record."""
from __future__ import annotations

import secrets
from datetime import date

from flask import Blueprint, Response, abort, current_app, flash, g, redirect, render_template, request, send_file, stream_with_context, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import update
from sqlmodel import func, select

import forms
from workbench import bulk, library, listing, outbox, prefill, records, todo, trail
from workbench.db import get_session
from workbench.errors import UserError
from workbench.i18n import lang, tr
from workbench.models import Event, ProcessTemplate, Record, User, utcnow
from workbench.notify.models import Notification, NotifyPref, OrgChannel, Outbox
from workbench.tenancy import allow, can

bp = Blueprint("daily", __name__)


@bp.app_context_processor
def _todo_count():
    def todo_count() -> int:
        org = getattr(g, "org", None)
        if org is None or not current_user.is_authenticated or not g.roles & todo.WORKER_ROLES:
            return 0
        if "todo_count" not in g:
            g.todo_count = todo.top_bar_count(get_session(), org, current_user, g.roles,
                                              current_app.extensions.setdefault("workbench.todo_counts", {}))
        return g.todo_count
    def follow_ups(rec: Record):
        return prefill.follow_ups(get_session(), g.org, rec) if can("org:write") else []

    return {"todo_count": todo_count, "follow_ups": follow_ups, "error_summary": error_summary,
            "change_value": change_value, "change_row": change_row}


def _field_at(schema: dict, path: str) -> dict:
    node = schema
    for part in path.split("."):
        if part.isascii() and part.isdigit():
            node = node.get("items") or {}
            continue
        node = (node.get("properties") or {}).get(part) or {}
    return node


def change_value(body: dict, path: str, value) -> str:
    """A value in the revision diff, formatted like everywhere else (choice labels, local times, yes/no)."""
    if value is None:
        return "—"
    return forms.widgets.display(_field_at(body["schema"], path), value, lang())


def change_row(path: str) -> str:
    """'items.2.result' -> ' (row 3)': which repeating row a change is in."""
    rows = [int(p) + 1 for p in path.split(".") if p.isascii() and p.isdigit()]
    return (" " + _("(row %(n)s)", n=rows[-1])) if rows else ""


def error_summary(sections) -> list[tuple[str, str, str]]:
    """(dom id, label, message) for every field error in a built form, each message once, in page order."""
    out: list[tuple[str, str, str]] = []
    seen = set()

    def walk(w, prefix=""):
        label = f"{prefix}{w.label}"
        for m in w.errors:
            if (label, m) not in seen:
                seen.add((label, m))
                out.append((w.dom_id, label, m))
        for c in w.children:
            walk(c, label + " › ")
        for index, cells in w.rows:
            for c in cells:
                walk(c, f"{label} {index + 1} › ")

    for sec in sections:
        for w in sec.widgets:
            walk(w)
    return out


def _process_or_404(key: str) -> ProcessTemplate:
    tpl = library.adopted(get_session(), g.org, key)
    if tpl is None:
        abort(404)
    return tpl


@bp.route("/o/<org>/todo")
@allow("org:read")
def todo_page(org):
    db = get_session()
    if not g.roles & todo.WORKER_ROLES:
        return redirect(url_for("audit.index", org=g.org.slug))
    t = todo.for_user(db, g.org, current_user, g.roles)
    tpls = {p.id: p for p in db.exec(select(ProcessTemplate).where(
        ProcessTemplate.id.in_({r.template_id for r in t.act + t.returned} or {0}))).all()}
    notes = db.exec(select(Notification).where(Notification.user_id == current_user.id, Notification.org_id == g.org.id,
                                               Notification.read_at.is_(None)).order_by(Notification.id.desc()).limit(30)).all()
    return render_template("daily/todo.html", t=t, tpls=tpls, notes=notes)


@bp.route("/o/<org>/todo/read", methods=["POST"])
@allow("org:write")
def mark_read(org):
    db = get_session()
    db.exec(update(Notification).where(Notification.user_id == current_user.id, Notification.org_id == g.org.id,
                                       Notification.read_at.is_(None)).values(read_at=utcnow()))
    db.commit()
    return redirect(url_for("daily.todo_page", org=g.org.slug), code=303)


# --- settings ------------------------------------------------------------------------------------------

@bp.route("/account/notifications", methods=["GET", "POST"])
@allow("login")
def settings():
    db = get_session()
    pref = db.exec(select(NotifyPref).where(NotifyPref.user_id == current_user.id)).first() or NotifyPref(user_id=current_user.id)
    errors = []
    if request.method == "POST":
        url = request.form.get("webhook_url", "").strip()
        if url and not url.startswith(("https://", "http://")):
            errors.append(_("The webhook address must start with https://"))
        else:
            pref.email = request.form.get("email") == "1"
            if url != pref.webhook_url or request.form.get("new_secret"):
                pref.webhook_secret = secrets.token_hex(24) if url else ""
            pref.webhook_url = url[:500]
            db.add(pref)
            db.commit()
            flash(_("Notification settings saved."), "success")
            return redirect(url_for("daily.settings"), code=303)
    return render_template("daily/settings.html", pref=pref, errors=errors), 422 if errors else 200


@bp.route("/o/<org>/channels", methods=["GET", "POST"])
@allow("org:manage")
def channels(org):
    db = get_session()
    rows = {c.kind: c for c in db.exec(select(OrgChannel).where(OrgChannel.org_id == g.org.id)).all()}
    errors = []
    if request.method == "POST":
        for kind in ("wecom", "dingtalk"):
            url = request.form.get(f"{kind}_url", "").strip()
            if url and not url.startswith("https://") and not url.startswith("http://"):
                errors.append(_("The webhook address must start with https://"))
                continue
            row = rows.get(kind)
            if not url:
                if row:
                    row.enabled = False
                    db.add(row)
                continue
            row = row or OrgChannel(org_id=g.org.id, kind=kind, url=url)
            row.url, row.enabled = url[:500], True
            if kind == "dingtalk":
                row.secret = request.form.get("dingtalk_secret", "").strip()[:128] or row.secret
            db.add(row)
        if not errors:
            db.commit()
            flash(_("Group robots saved."), "success")
            return redirect(url_for("daily.channels", org=g.org.slug), code=303)
        db.rollback()
    return render_template("daily/channels.html", rows=rows, errors=errors), 422 if errors else 200


@bp.route("/admin/outbox")
@allow("admin")
def outbox_page():
    db = get_session()
    counts = dict(db.exec(select(Outbox.state, func.count(Outbox.id)).group_by(Outbox.state)).all())
    return render_template("daily/outbox.html", rows=outbox.problems(db), counts=counts)


@bp.route("/admin/outbox/<int:oid>/retry", methods=["POST"])
@allow("admin")
def outbox_retry(oid):
    db = get_session()
    outbox.retry(db, oid)
    db.commit()
    flash(_("The message will be sent again."), "info")
    return redirect(url_for("daily.outbox_page"), code=303)


# --- lists: export and bulk --------------------------------------------------------------------------

def _state_label(tpl: ProcessTemplate):
    states = tpl.body["workflow"]["states"]
    return lambda s: tr(states.get(s, {}).get("label"), s)


@bp.route("/o/<org>/p/<key>/export.<fmt>")
@allow("org:read")
def export(org, key, fmt):
    if fmt not in ("csv", "xlsx"):
        abort(404)
    tpl = _process_or_404(key)
    lq = listing.ListQuery.from_args(tpl, request.args, get_session())
    engine = current_app.extensions["workbench.engine"]
    head, rows, sub_head, sub_rows = listing.table(engine, tpl, lq.select(g.org.id), lang(), _state_label(tpl))
    name = f"{tpl.key}-{date.today().isoformat()}"
    if fmt == "csv":
        return Response(stream_with_context(listing.csv_chunks(head, rows)), mimetype="text/csv; charset=utf-8",
                        headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})
    f = listing.xlsx_file(head, rows, sub_head, sub_rows, tr(tpl.body["title"]))
    return send_file(f, mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
                     as_attachment=True, download_name=f"{name}.xlsx")


@bp.route("/o/<org>/p/<key>/bulk", methods=["POST"])
@allow("org:write")
def bulk_action(org, key):
    _process_or_404(key)
    db = get_session()
    ids = [int(i) for i in request.form.getlist("ids") if i.isascii() and i.isdigit() and len(i) < 12]
    back = request.form.get("next", "")
    if not back.startswith(f"/o/{g.org.slug}/"):
        back = url_for("records.list_records", org=g.org.slug, key=key)
    try:
        result = bulk.transition(db, g.org, key, ids, request.form.get("name", ""), current_user, g.roles,
                                 comment=request.form.get("comment", ""), password=request.form.get("password"))
    except UserError as e:
        db.rollback()
        flash(str(e), "error")
        return redirect(back, code=303)
    db.commit()
    if result.done:
        flash(_("%(n)s records done: %(ids)s", n=len(result.done), ids=", ".join(f"#{i}" for i in result.done)), "success")
    for rid, message in result.failed:
        flash(f"#{rid}: {message}", "error")
    return redirect(back, code=303)


# --- QR fill link and print view -------------------------------------------------------------------

@bp.route("/o/<org>/p/<key>/qr.svg")
@allow("org:read")
def qr(org, key):
    import segno

    _process_or_404(key)
    url = url_for("records.new_record", org=g.org.slug, key=key, _external=True)
    svg = segno.make(url, error="m").svg_inline(scale=6, border=2, dark="#000", light="#fff", omitsize=False)
    return Response(svg, mimetype="image/svg+xml")


@bp.route("/o/<org>/p/<key>/poster")
@allow("org:read")
def poster(org, key):
    tpl = _process_or_404(key)
    return render_template("daily/poster.html", tpl=tpl,
                           url=url_for("records.new_record", org=g.org.slug, key=key, _external=True))


@bp.route("/o/<org>/r/<int:record_id>/print")
@allow("org:read")
def print_view(org, record_id):
    db = get_session()
    rec = db.get(Record, record_id)
    if rec is None or rec.org_id != g.org.id:
        abort(404)
    tpl = db.get(ProcessTemplate, rec.template_id)
    events = db.exec(select(Event).where(Event.org_id == g.org.id, Event.record_id == rec.id).order_by(Event.seq)).all()
    signatures = [e for e in events if (e.detail or {}).get("signature")]
    people = {u.id: u.name for u in db.exec(select(User).where(User.id.in_({rec.created_by, rec.updated_by} - {None} or {0}))).all()}
    check = trail.verify(db, g.org.id, record_id=rec.id)
    last = events[-1] if events else None
    return render_template("daily/print.html", rec=rec, tpl=tpl, rows=readable(tpl.body, rec.data),
                           signatures=signatures, people=people, check=check, last=last,
                           digest=trail.digest(rec.data), revisions=records.revisions(db, rec))


def readable(body: dict, data: dict) -> list[dict]:
    """Sections of (label, formatted value) and tables of repeating rows, in the template's order."""
    schema = body["schema"]
    props = schema.get("properties") or {}
    ui = body.get("ui") or {}
    sections = ui.get("sections") or [{"title": None, "fields": list(props)}]
    out = []
    for sec in sections:
        items = []
        for name in sec.get("fields", []):
            f = props.get(name)
            if f is None or name not in data:
                continue
            label = forms.text(f.get("label"), lang(), name)
            if forms.values.kind_of(f) == "rows":
                cols = (f.get("items") or {}).get("properties") or {}
                items.append({"label": label, "table": True,
                              "head": [forms.text(c.get("label"), lang(), k) for k, c in cols.items()],
                              "rows": [[forms.widgets.display(c, (row or {}).get(k), lang()) for k, c in cols.items()]
                                       for row in data.get(name) or [] if isinstance(row, dict)]})
            else:
                items.append({"label": label, "value": forms.widgets.display(f, data.get(name), lang()),
                              "attachment": f.get("format") == "attachment"})
        if items:
            out.append({"title": forms.text(sec.get("title"), lang(), "") if sec.get("title") else "", "items": items})
    return out
