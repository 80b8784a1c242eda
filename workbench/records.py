"""Records: create and edit (never overwrite: every edit is a new revision), with their events.

Invariants: a record's `revision` and `state` change only through a compare-and-set UPDATE (`claim`), so
concurrent writers never both succeed on the same base; the chain has one `create`/`edit` event per
revision. These functions never commit: the caller (a service run by `db.transaction`) does.
"""
from __future__ import annotations

from datetime import date, datetime, tzinfo
from typing import Any

from flask_babel import gettext as _
from sqlalchemy import union_all, update
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value
from sqlmodel import Session, select

from workbench import latest, links, record_values, search, signatures, trail
from workbench.actions import Action
from workbench.errors import Conflict, NotFound, UserError
from workbench.models import Organization, ProcessTemplate, Record, Revision, utcnow


def _to_date(value: Any) -> date | None:
    if isinstance(value, str) and len(value) >= 10:
        try:
            return date.fromisoformat(value[:10])
        except ValueError:
            return None
    return None


def derived_fields(template: dict, data: dict, search_text: bool = True) -> dict:
    """Columns computed from the data: title, record_date, subject, due_date, search_text (unless not wanted)."""
    ui = template.get("ui") or {}
    props = template["schema"].get("properties") or {}
    sched = template.get("schedule") or {}
    title_field = ui.get("title_field")
    title = data.get(title_field) if title_field else None
    if title is None:
        title = next((data[k] for k, s in props.items() if s.get("type") == "string" and isinstance(data.get(k), str)
                      and s.get("format") not in ("attachment", "record-link")), "")
    date_field = sched.get("date_field") or (title_field if (props.get(title_field or "") or {}).get("format") == "date" else None)
    subject = sched.get("subject_field")
    due = sched.get("due_field")
    if not date_field:  # the first date the record carries that is not its due / expiry date
        date_field = next((k for k, s in props.items()
                           if s.get("format") in ("date", "date-time") and k in data and k != due), None)
    out = {
        "title": str(title)[:300],
        "record_date": _to_date(data.get(date_field)) if date_field else None,
        "subject": str(data[subject])[:200] if subject and data.get(subject) is not None else None,
        "due_date": _to_date(data.get(due)) if due else None,
    }
    if search_text:
        out["search_text"] = search.text_of(out["title"], out["subject"], data)
    return out


def zone(org: Organization) -> tzinfo:
    """The organization's time zone (an unknown zone name: China Standard Time)."""
    from zoneinfo import ZoneInfo

    try:
        return ZoneInfo(org.timezone)
    except Exception:  # noqa: BLE001
        return ZoneInfo("Asia/Shanghai")


def local_date(at: datetime, org: Organization) -> date:
    """The calendar day of `at` in the organization's time zone."""
    return at.astimezone(zone(org)).date()


def get(db: Session, org_id: int, record_id: int) -> Record:
    """The record, if it belongs to the organization.

    :raise NotFound: no such record, or another organization's (never confirm it exists)."""
    rec = db.get(Record, record_id) if isinstance(record_id, int) and 0 < record_id < 2**63 else None
    if rec is None or rec.org_id != org_id:
        raise NotFound(_("No such record."))
    return rec


def version_of(db: Session, rec: Record) -> ProcessTemplate:
    """The template version the record was made with (it renders, validates and decides "done" with it)."""
    from workbench import library

    return library.version(db, rec.template_id)


_INSERT_RECORD, _INSERT_REVISION = Record.__table__.insert(), Revision.__table__.insert()


def create(db: Session, org: Organization, tpl: ProcessTemplate, data: dict, user, at: datetime | None = None,
           origin: dict | None = None) -> Record:
    """A new record in the template's initial state, its first revision and its `create` event.

    `at` backdates the record (demo data and imports of paper records); the chain order is unaffected.
    `origin` (e.g. {"source": "import", "file": …, "sha256": …, "row": …}) goes into the create event's detail.
    """
    body = tpl.body
    now = at or utcnow()
    derived = derived_fields(body, data)
    derived["record_date"] = derived["record_date"] or local_date(now, org)
    row = dict(org_id=org.id, template_id=tpl.id, template_key=tpl.key, state=body["workflow"]["initial"], revision=1,
               data=data, created_at=now, updated_at=now, created_by=getattr(user, "id", None),
               updated_by=getattr(user, "id", None), **derived)
    rec = Record(**row)
    rec.id = db.connection().execute(_INSERT_RECORD, row).inserted_primary_key[0]  # one INSERT, no unit of work
    make_transient_to_detached(rec)
    db.add(rec)  # in the session as the stored row
    links.write(db, rec, body)
    latest.note(db, rec)
    record_values.write(db, rec, body)
    dig = trail.digest(data)
    db.connection().execute(_INSERT_REVISION, {"record_id": rec.id, "number": 1, "data": data, "digest": dig,
                                               "created_at": now, "created_by": rec.created_by})
    trail.append(db, org.id, Action.CREATE, record_id=rec.id, actor=user, to_state=rec.state, data_digest=dig,
                 detail={"revision": 1, "template": tpl.key, "version": tpl.version, **(origin or {})}, at=now)
    return rec


class StaleRecord(Conflict):
    """The record changed since the user opened it (its revision or state moved on)."""

    def __init__(self, rec: Record, base: int | None, message: str | None = None):
        super().__init__(message or _("This record changed since you opened it — here is what changed. Your input "
                                      "is kept below: check it against the changes and save again."))
        self.record_id, self.base = rec.id, base


def is_locked(template: dict, state: str) -> bool:
    """`workflow.locked`: states in which a record may not be edited at all."""
    return state in (template["workflow"].get("locked") or [])


def check_editable(tpl: ProcessTemplate, rec: Record) -> None:
    """:raise Conflict: the record's state is locked by its template."""
    if is_locked(tpl.body, rec.state):
        from workbench.i18n import tr

        label = tr(tpl.body["workflow"]["states"].get(rec.state, {}).get("label"), rec.state)
        raise Conflict(_("Records in the state “%(state)s” are locked: they cannot be edited.", state=label))


def claim(db: Session, rec: Record, *, expect_revision: int, expect_state: str | None = None, **values) -> None:
    """Compare-and-set on the record row: apply `values` only if the stored record is still at `expect_revision`
    (and `expect_state`), else raise StaleRecord. On SQLite the UPDATE takes the database's write lock, on
    PostgreSQL the row lock, so of two concurrent writers exactly one sees its expected row."""
    cond = [Record.id == rec.id, Record.revision == expect_revision]
    if expect_state is not None:
        cond.append(Record.state == expect_state)
    result = db.execute(update(Record).where(*cond).values(**values).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        raise StaleRecord(rec, expect_revision)
    for key, value in values.items():  # the session's copy now matches the row
        set_committed_value(rec, key, value)


def edit(db: Session, rec: Record, tpl: ProcessTemplate, data: dict, user, comment: str = "",
         base_revision: int | None = None) -> Revision | None:
    """Store `data` as the record's next revision; returns None when nothing changed.

    `base_revision` is the revision the user's form was opened at (default: the one loaded). An edit of a
    signed record needs a reason (`comment`); the signatures then stop counting and the record returns to
    the state before them (a `signature_void` event), so the signer must sign the new revision.

    :raise Conflict: the state is locked (`workflow.locked`).
    :raise StaleRecord: the record moved past `base_revision` (before or during this edit).
    :raise UserError: (field `_comment`) a signed record is edited without a reason.
    """
    check_editable(tpl, rec)
    base = rec.revision if base_revision is None else int(base_revision)
    if base != rec.revision:
        raise StaleRecord(rec, base)
    if trail.canonical(data) == trail.canonical(rec.data):
        return None
    comment = (comment or "").strip()
    signed = signatures.of_record(db, rec).in_force
    if signed and not comment:
        raise UserError(_("This record is signed: give a reason for the change. After saving, the signature no "
                          "longer counts and the record returns to the step before it for signing again."),
                        field="_comment")
    number = base + 1
    dig = trail.digest(data)
    now = utcnow()
    values = {"data": data, "revision": number, "updated_at": now, "updated_by": getattr(user, "id", None)}
    for k, v in derived_fields(tpl.body, data).items():
        if k != "record_date" or v is not None:  # a record without a date field keeps the day it was made
            values[k] = v
    before, old, ranked = rec.state, rec.data, (rec.subject, rec.record_date, rec.due_date)
    if signed:
        values["state"] = signed[0].from_state
    claim(db, rec, expect_revision=base, expect_state=before, **values)
    links.write(db, rec, tpl.body, old_data=old)
    latest.note(db, rec, before=ranked)
    record_values.write(db, rec, tpl.body, replace=True)
    changes = [c[0] for c in diff(old, data)]
    rev = Revision(record_id=rec.id, number=number, data=data, digest=dig, created_at=now, created_by=getattr(user, "id", None))
    db.add(rev)
    edit_event = trail.append(db, rec.org_id, Action.EDIT, record_id=rec.id, actor=user, comment=comment,
                              data_digest=dig, detail={"revision": number, "changed": changes[:50]})
    if signed:
        trail.append(db, rec.org_id, Action.SIGNATURE_VOID, record_id=rec.id, actor=user, from_state=before,
                     to_state=rec.state, comment=comment,
                     detail={"edit": edit_event.seq, "signatures": [s.seq for s in signed],
                             "signed_revision": signed[0].revision, "edited_revision": number})
    return rev


def linked(db: Session, rec: Record, tpl: ProcessTemplate) -> list[tuple[str, Record]]:
    """("to", r): records this one's link fields point at; ("from", r): records whose link fields point here
    (e.g. the corrective action answering a nonconformity). Read from the indexed `record_link` table, which
    records.create / edit keep (each record's own template version decides which of its fields are links)."""
    return links.to_and_from(db, rec, tpl.body)


def revisions(db: Session, rec: Record) -> list[Revision]:
    return list(db.exec(select(Revision).where(Revision.record_id == rec.id).order_by(Revision.number)).all())


def diff(old: Any, new: Any, path: str = "") -> list[tuple[str, Any, Any]]:
    """Field-by-field differences as (dotted path, old value, new value); missing values are None."""
    if isinstance(old, dict) and isinstance(new, dict):
        out: list[tuple[str, Any, Any]] = []
        for key in list(old) + [k for k in new if k not in old]:
            out += diff(old.get(key), new.get(key), f"{path}.{key}" if path else str(key))
        return out
    if isinstance(old, list) and isinstance(new, list) and all(isinstance(x, dict) for x in old + new):
        out = []
        for i in range(max(len(old), len(new))):
            out += diff(old[i] if i < len(old) else None, new[i] if i < len(new) else None, f"{path}.{i}")
        return out
    return [] if old == new else [(path, old, new)]



def labels(schema: dict, lang: str, prefix: str = "") -> dict[str, str]:
    """Dotted path (without row indices) -> label, for naming changed fields."""
    import forms

    out: dict[str, str] = {}
    for name, field in (schema.get("properties") or {}).items():
        path = prefix + name
        out[path] = forms.text(field.get("label"), lang, name)
        if field.get("type") == "object":
            out.update(labels(field, lang, path + "."))
        if isinstance(field.get("items"), dict) and field["items"].get("type") == "object":
            out.update({k: out[path] + " › " + v for k, v in labels(field["items"], lang, path + ".").items()})
    return out


def label_of(path: str, names: dict[str, str]) -> str:
    """A changed path's label: row indices shown as "row n" (1-based)."""
    parts = path.split(".")
    key = ".".join(p for p in parts if not (p.isascii() and p.isdigit()))
    rows = [str(int(p) + 1) for p in parts if p.isascii() and p.isdigit()]
    return names.get(key, key) + (f" #{'/'.join(rows)}" if rows else "")


def labelled_diff(old: dict, new: dict, names: dict[str, str]) -> list[tuple[str, Any, Any]]:
    return [(label_of(path, names), a, b) for path, a, b in diff(old, new)]


def changes_since(db: Session, rec: Record, tpl: ProcessTemplate, base: int | None, lang: str) -> list[tuple[str, Any, Any]]:
    """What changed between revision `base` (what the user opened) and the record now, field by field."""
    revs = {r.number: r.data for r in revisions(db, rec)}
    return labelled_diff(revs.get(base or 0) or {}, rec.data, labels(tpl.body["schema"], lang))


def link_label(rec) -> str:
    """A record-link choice that tells records apart: number, title, date, subject."""
    parts = [f"#{rec.id}", rec.title or "—"]
    if rec.record_date:
        parts.append(rec.record_date.isoformat())
    if rec.subject and rec.subject != rec.title:
        parts.append(rec.subject)
    return " · ".join(parts)


def link_choices(db: Session, org_id: int, tpl: ProcessTemplate, limit: int = 300) -> dict[str, list[tuple[str, str]]]:
    """For each record-link field: the organization's records it may point to (newest first), as options."""
    out: dict[str, list[tuple[str, str]]] = {}
    for name, field in (tpl.body["schema"].get("properties") or {}).items():
        if field.get("format") == "record-link":
            # the newest of each linkable process by index (ix_record_list), then the newest of those
            newest = [select(Record.id).where(Record.org_id == org_id, Record.template_key == key)
                      .order_by(Record.record_date.desc(), Record.id.desc()).limit(limit).subquery()
                      for key in sorted(set(field.get("linkTemplates") or []))]
            ids = union_all(*[select(q.c.id) for q in newest]) if newest else None
            rows = db.exec(select(Record.id, Record.title, Record.record_date, Record.subject).where(Record.id.in_(ids))
                           .order_by(Record.id.desc()).limit(limit)).all() if newest else []  # columns, not objects
            out[name] = [(str(r.id), link_label(r)) for r in rows]
    return out
