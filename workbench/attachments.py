"""Attachments (scanned certificates, photos, PDFs): size-limited, type-checked by content, stored with
their SHA-256, and recorded in the event chain when they are attached to a record.

A record's data refers to an attachment as ``att:<id>/<file name>``.
"""
from __future__ import annotations

import hashlib
import re

from sqlmodel import Session

from workbench import trail
from workbench.actions import Action
from workbench.models import Attachment

# file signature -> content type. Only these kinds are accepted, whatever the name or the browser says.
SIGNATURES: list[tuple[bytes, str]] = [
    (b"%PDF-", "application/pdf"),
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"PK\x03\x04", "application/zip"),  # xlsx / docx are zip containers
]
EXTENSIONS = {"application/pdf": {"pdf"}, "image/png": {"png"}, "image/jpeg": {"jpg", "jpeg"}, "image/gif": {"gif"},
              "application/zip": {"xlsx", "docx", "zip"}}
REF = re.compile(r"^att:(\d+)/")


class AttachmentError(ValueError):
    def __init__(self, key: str, **kw):
        self.key, self.kw = key, kw
        super().__init__(key)


def sniff(content: bytes) -> str | None:
    for magic, ctype in SIGNATURES:
        if content.startswith(magic):
            return ctype
    return None


def safe_name(name: str) -> str:
    name = (name or "file").replace("\\", "/").rsplit("/", 1)[-1]
    name = re.sub(r"[\x00-\x1f<>:\"|?*]", "_", name).strip(" .") or "file"
    return name[:120]


def check(filename: str, content: bytes, max_bytes: int) -> str:
    """Return the content type, or raise AttachmentError('too_large' | 'empty' | 'file_type')."""
    if not content:
        raise AttachmentError("empty")
    if len(content) > max_bytes:
        raise AttachmentError("too_large", limit=max_bytes // (1024 * 1024))
    ctype = sniff(content)
    ext = safe_name(filename).rsplit(".", 1)[-1].lower() if "." in filename else ""
    if ctype is None or ext not in EXTENSIONS[ctype]:
        raise AttachmentError("file_type")
    return ctype


def store(db: Session, org_id: int, filename: str, content: bytes, content_type: str, user) -> Attachment:
    att = Attachment(org_id=org_id, filename=safe_name(filename), content_type=content_type, size=len(content),
                     sha256=hashlib.sha256(content).hexdigest(), content=content, created_by=getattr(user, "id", None))
    db.add(att)
    db.flush()
    return att


def reference(att: Attachment) -> str:
    return f"att:{att.id}/{att.filename}"


def attachment_id(ref: str) -> int | None:
    m = REF.match(ref or "")
    return int(m.group(1)) if m else None


def link_to_record(db: Session, att: Attachment, record_id: int, field: str, user) -> None:
    att.record_id = record_id
    db.add(att)
    trail.append(db, att.org_id, Action.ATTACH, record_id=record_id, actor=user, data_digest=att.sha256,
                 detail={"attachment": att.id, "field": field, "filename": att.filename, "size": att.size})
