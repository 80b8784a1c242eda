"""The hooks the record submit path calls (a few lines there; the logic lives in numbering, drafts, held_uploads):

    schema = smartforms.before_validate(tpl, data, action, rec)   # numbers are the system's; drafts validate relaxed
    smartforms.hold_files(db, org, user, files, values)           # files chosen so far are held, not dropped
    smartforms.before_store(db, org, tpl, data, rec)              # the real number, in the record's transaction
    smartforms.after_store(db, org, tpl, data, rec, user)         # held files are linked to the record
"""
from __future__ import annotations

from datetime import datetime

from sqlmodel import Session
from werkzeug.datastructures import MultiDict

from workbench import drafts, held_uploads, numbering
from workbench.models import Organization, ProcessTemplate, Record

PLACEHOLDER_SEQ = 0


def _in_initial(tpl: ProcessTemplate, rec: Record | None) -> bool:
    return rec is None or rec.state == tpl.body["workflow"]["initial"]


def before_validate(tpl: ProcessTemplate, data: dict, action: str, rec: Record | None) -> dict:
    schema = tpl.body["schema"]
    for name, pattern in numbering.numbered_fields(schema).items():
        data[name] = rec.data.get(name) if rec is not None and rec.data.get(name) else \
            numbering.render(pattern, datetime.now().date(), PLACEHOLDER_SEQ)
    return drafts.schema_for(action, schema, _in_initial(tpl, rec))


def hold_files(db: Session, org: Organization, user, files: dict, values: MultiDict) -> None:
    """After field errors: store the files chosen so far unlinked; `values` (re-rendered) now refer to them."""
    if files:
        held = held_uploads.hold(db, org.id, user, files, values)
        for path in files:
            values.setlist(path, held.getlist(path))


def before_store(db: Session, org: Organization, tpl: ProcessTemplate, data: dict, rec: Record | None) -> None:
    if rec is None:
        from workbench.records import local_date
        from workbench.models import utcnow

        day = local_date(utcnow(), org)
        for name in numbering.numbered_fields(tpl.body["schema"]):
            data.pop(name, None)
        numbering.assign(db, org.id, tpl.key, tpl.body["schema"], data, day)


def after_store(db: Session, org: Organization, tpl: ProcessTemplate, data: dict, rec: Record, user) -> None:
    held_uploads.link_held(db, tpl.body["schema"], data, rec.id, org.id, user)
