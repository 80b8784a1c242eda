"""Files chosen before a validation error are not lost: they are stored server-side as attachments without a
record (held for the user who uploaded them), and the re-rendered form carries their reference, shown as
"已上传：name". On the next post the reference is accepted only if that attachment is still unlinked, belongs
to this organization and was uploaded by this user; saving the record links it (with its `attach` event)."""
from __future__ import annotations

from sqlmodel import Session
from werkzeug.datastructures import MultiDict

from workbench import attachments
from workbench.models import Attachment


def hold(db: Session, org_id: int, user, uploads: dict, values: MultiDict) -> MultiDict:
    """Store `uploads` ({path: (name, bytes, type)}) unlinked; the form values now refer to them."""
    values = MultiDict(values)
    for path, (name, content, ctype) in uploads.items():
        att = attachments.store(db, org_id, name, content, ctype, user)
        values.setlist(path, [attachments.reference(att)])
    return values


def held(db: Session, org_id: int, user, ref) -> Attachment | None:
    """The held attachment `ref` points at, if this user may use it for a new link."""
    att_id = attachments.attachment_id(ref) if isinstance(ref, str) else None
    att = db.get(Attachment, att_id) if att_id else None
    if att is None or att.org_id != org_id or att.record_id is not None or att.created_by != getattr(user, "id", None):
        return None
    if ref != attachments.reference(att):
        return None
    return att


def link_held(db: Session, schema: dict, data: dict, record_id: int, org_id: int, user) -> None:
    for name, field in (schema.get("properties") or {}).items():
        if field.get("format") == "attachment":
            att = held(db, org_id, user, data.get(name))
            if att is not None:
                attachments.link_to_record(db, att, record_id, name, user)
