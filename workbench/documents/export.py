"""Files out: a document version as .docx, and every procedure plus the manual of an organization into a
directory (`workbench docs build`)."""
from __future__ import annotations

from pathlib import Path

from sqlmodel import Session

from workbench import library
from workbench.documents import content, control, docx, manual
from workbench.documents.models import DRAFT, IN_FORCE, MANUAL, PROCEDURE, ControlledDocument
from workbench.documents.words import status_name
from workbench.models import Organization, ProcessTemplate, User


def document_bytes(db: Session, d: ControlledDocument, lang: str) -> tuple[bytes, str]:
    """The .docx of a document version and its file name."""
    org = db.get(Organization, d.org_id)
    if d.kind == MANUAL:
        approver = db.get(User, d.approved_by) if d.approved_by else None
        data = docx.manual_docx(manual.build(d.content or {}, lang), d.number, d.version, status_name(d.status, lang),
                                approver.name if approver else "", str(d.effective_date or ""))
    else:
        data = docx.procedure_docx(content.build(db, org, db.get(ProcessTemplate, d.template_id), lang, d))
    return data, f"{d.number}-v{d.version}-{d.key}-{lang}.docx"


def _best(docs: list[ControlledDocument], kind: str, key: str) -> ControlledDocument | None:
    mine = [d for d in docs if d.kind == kind and d.key == key]
    for status in (IN_FORCE, DRAFT):
        found = sorted((d for d in mine if d.status == status), key=lambda d: -d.version)
        if found:
            return found[0]
    return None


def build_dir(db: Session, org: Organization, lang: str, out: Path) -> list[Path]:
    """Write every adopted process's procedure (the version in force, else the draft, else unregistered from
    the adopted template) and the manual into `out`. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True)
    docs = control.register(db, org)
    written = []
    for tpl in library.processes(db, org):
        d = _best(docs, PROCEDURE, tpl.key)
        if d is not None and d.template_id == tpl.id:
            data, name = document_bytes(db, d, lang)
        else:
            data, name = docx.procedure_docx(content.build(db, org, tpl, lang)), f"{tpl.key}-{lang}.docx"
        (out / name).write_bytes(data)
        written.append(out / name)
    d = _best(docs, MANUAL, "manual")
    if d is not None:
        data, name = document_bytes(db, d, lang)
    else:
        snap = manual.snapshot(db, org, control.settings(db, org).standards)
        data, name = docx.manual_docx(manual.build(snap, lang), status=status_name(DRAFT, lang)), f"manual-{lang}.docx"
    (out / name).write_bytes(data)
    written.append(out / name)
    return written
