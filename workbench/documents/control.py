"""Document control (文件控制): the register, approval with an e-signature, successors, periodic review.

Invariants:
- one row per (document number, version); rows are never deleted or overwritten in substance;
- at most one draft and at most one "in force" version per document number;
- approving a draft needs the approver's password (the same e-signature as record transitions) and a
  manager; the previous version in force becomes superseded; the register's actions are chained events;
- adopting a new template version (workbench.library.adopt) creates a draft successor of that process's
  procedure, with what changed, if the organization has generated one; it must be approved to be in force;
- a document in force is due for review `review_months` after approval (or its last review).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from flask_babel import gettext as _
from sqlmodel import Session, select

from workbench import library, trail
from workbench.actions import Action
from workbench.auth import verify_password
from workbench.documents.models import (DRAFT, IN_FORCE, MANUAL, PROCEDURE, SUPERSEDED, AdoptionHistory,
                                        ControlledDocument, DocumentSettings)
from workbench.errors import Conflict, Forbidden, NotFound, UserError
from workbench.models import Organization, ProcessTemplate, User, utcnow
from workbench.schedules import DEFAULT_WARN_DAYS, add_months, status_of

APPROVAL = {  # the register's own workflow, drawn like a template's (workbench.diagram)
    "initial": DRAFT,
    "states": {DRAFT: {"label": {"zh": "草稿", "en": "Draft"}},
               IN_FORCE: {"label": {"zh": "现行有效", "en": "In force"}},
               SUPERSEDED: {"label": {"zh": "已作废", "en": "Superseded"}, "final": True}},
    "transitions": [
        {"name": "approve", "from": [DRAFT], "to": IN_FORCE, "label": {"zh": "批准发布", "en": "Approve"},
         "roles": ["manager"], "signature": {"meaning": {"zh": "文件批准", "en": "Document approval"}}},
        {"name": "supersede", "from": [IN_FORCE], "to": SUPERSEDED, "label": {"zh": "被新版替代", "en": "Superseded"},
         "roles": ["manager"]},
    ],
}
SIGNATURE = APPROVAL["transitions"][0]["signature"]["meaning"]
DEFAULT_REVIEW_MONTHS = 12
DEFAULT_STANDARDS = ["ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018"]


# --- settings ---------------------------------------------------------------------------------------------


def settings(db: Session, org: Organization) -> DocumentSettings:
    """The organization's settings row (an unsaved default if it has none yet)."""
    row = db.exec(select(DocumentSettings).where(DocumentSettings.org_id == org.id)).first()
    return row or DocumentSettings(org_id=org.id, review_months=DEFAULT_REVIEW_MONTHS,
                                   standards=list(DEFAULT_STANDARDS), thresholds={})


def save_settings(db: Session, org: Organization, user, *, review_months: int, standards: list[str],
                  thresholds: dict) -> DocumentSettings:
    from workbench.clauses import STANDARDS

    if not 1 <= review_months <= 60:
        raise UserError(_("The review interval must be between 1 and 60 months."), field="review_months")
    standards = [s for s in STANDARDS if s in set(standards)]
    if not standards:
        raise UserError(_("Choose at least one standard."), field="standards")
    row = settings(db, org)
    row.review_months, row.standards, row.thresholds = review_months, standards, thresholds
    db.add(row)
    trail.append(db, org.id, Action.DOC_SETTINGS, actor=user,
                 detail={"review_months": review_months, "standards": standards, "thresholds": thresholds})
    return row


def lock(db: Session, org: Organization) -> None:
    """Serialize the register's writers per organization, and make the reads that follow see what others
    committed: PostgreSQL locks the organization's row (NO KEY UPDATE, like trail.append); SQLite takes its
    write lock by a no-op update (pysqlite begins the transaction at the first write)."""
    from sqlalchemy import update

    if db.get_bind().dialect.name == "sqlite":
        db.execute(update(Organization).where(Organization.id == org.id).values(id=Organization.id))
    else:
        db.exec(select(Organization.id).where(Organization.id == org.id).with_for_update(key_share=True)).one()


# --- the register -----------------------------------------------------------------------------------------


def register(db: Session, org: Organization) -> list[ControlledDocument]:
    """Every version of every document, manual first, then by number and newest version first."""
    rows = db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id)).all()
    return sorted(rows, key=lambda d: (d.kind != MANUAL, d.number, -d.version))


def get(db: Session, org: Organization, doc_id: int) -> ControlledDocument:
    """:raise NotFound: no such document in this organization."""
    d = db.get(ControlledDocument, doc_id)
    if d is None or d.org_id != org.id:
        raise NotFound(_("No such document."))
    return d


def versions_of(db: Session, org: Organization, number: str) -> list[ControlledDocument]:
    return list(db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id,
                                                         ControlledDocument.number == number)
                        .order_by(ControlledDocument.version)).all())


def in_force(db: Session, org: Organization, kind: str | None = None) -> list[ControlledDocument]:
    q = select(ControlledDocument).where(ControlledDocument.org_id == org.id, ControlledDocument.status == IN_FORCE)
    if kind:
        q = q.where(ControlledDocument.kind == kind)
    return list(db.exec(q).all())


def _latest(db: Session, org: Organization, kind: str, key: str) -> ControlledDocument | None:
    return db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id, ControlledDocument.kind == kind,
                                                    ControlledDocument.key == key)
                   .order_by(ControlledDocument.version.desc()).limit(1)).first()


def _next_number(db: Session, org: Organization, kind: str) -> str:
    if kind == MANUAL:
        return "MM-01"
    used = [d.number for d in db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id,
                                                                      ControlledDocument.kind == PROCEDURE)).all()]
    top = max((int(n.split("-")[1]) for n in used if n.startswith("PR-") and n[3:].isascii() and n[3:].isdigit()), default=0)
    return f"PR-{top + 1:02d}"


def _new_version(db: Session, org: Organization, kind: str, key: str, title: dict, user, *,
                 template: ProcessTemplate | None = None, content: dict | None = None,
                 changes: list | None = None) -> ControlledDocument:
    """A new draft (or the existing draft, refreshed) for the document `key`."""
    latest = _latest(db, org, kind, key)
    if latest is not None and latest.status == DRAFT:
        latest.template_id = template.id if template else latest.template_id
        latest.title, latest.content = title, content or {}
        if changes is not None:
            latest.changes = changes
        db.add(latest)
        trail.append(db, org.id, Action.DOC_REGENERATE, actor=user,
                     detail={"document": latest.id, "number": latest.number, "version": latest.version})
        return latest
    doc = ControlledDocument(org_id=org.id, kind=kind, key=key, title=title,
                             number=latest.number if latest else _next_number(db, org, kind),
                             version=(latest.version + 1) if latest else 1, status=DRAFT,
                             template_id=template.id if template else None, content=content or {},
                             changes=changes or [], review_months=settings(db, org).review_months,
                             created_by=getattr(user, "id", None))
    db.add(doc)
    db.flush()
    trail.append(db, org.id, Action.DOC_DRAFT, actor=user,
                 detail={"document": doc.id, "number": doc.number, "version": doc.version, "kind": kind, "key": key})
    return doc


def generate_procedure(db: Session, org: Organization, key: str, user) -> ControlledDocument:
    """A draft procedure from the adopted version of `key` (nothing new if that version's procedure is
    already the latest version of the document, draft or in force)."""
    tpl = library.adopted(db, org, key)
    if tpl is None:
        raise NotFound(_("This process is not adopted."))
    lock(db, org)
    latest = _latest(db, org, PROCEDURE, key)
    if latest is not None and latest.template_id == tpl.id and latest.status in (DRAFT, IN_FORCE):
        return latest
    changes = _template_changes(db, latest if latest is None or latest.status != DRAFT else _previous(db, latest), tpl)
    return _new_version(db, org, PROCEDURE, key, dict(tpl.body.get("title") or {}), user, template=tpl, changes=changes)


def _template_changes(db: Session, latest: ControlledDocument | None, tpl: ProcessTemplate) -> list:
    if latest is None or latest.template_id is None:
        return []
    from workbench.documents.content import change_lines

    old = db.get(ProcessTemplate, latest.template_id)
    if old is None:
        return []
    return [{"zh": z, "en": e} for z, e in zip(change_lines(old.body, tpl.body, "zh"), change_lines(old.body, tpl.body, "en"))]


def generate_all(db: Session, org: Organization, user) -> list[ControlledDocument]:
    """Draft procedures for every adopted process, and a draft of the manual."""
    docs = [generate_procedure(db, org, t.key, user) for t in library.processes(db, org)]
    docs.append(generate_manual(db, org, user))
    return docs


def generate_manual(db: Session, org: Organization, user) -> ControlledDocument:
    """A draft of the manual with a snapshot of what it is generated from (records change; the text must not)."""
    from workbench.documents import manual

    snap = manual.snapshot(db, org, settings(db, org).standards)
    lock(db, org)
    latest = _latest(db, org, MANUAL, "manual")
    if latest is not None and latest.status == IN_FORCE and latest.content == snap:
        return latest
    return _new_version(db, org, MANUAL, "manual", {"zh": "管理手册", "en": "Management manual"}, user, content=snap)


def approve(db: Session, org: Organization, doc: ControlledDocument, user, roles: set[str], password: str | None,
            expected_version: int | None = None, today: date | None = None) -> ControlledDocument:
    """Approve a draft with the approver's e-signature: it comes into force, its predecessor is superseded.

    :raise Forbidden: not a manager. :raise Conflict: not a draft any more (approved meanwhile) or a
    stale page. :raise UserError: wrong password (nothing stored)."""
    if not roles & {"manager", "admin"}:
        raise Forbidden(_("Only a manager may approve documents."))
    lock(db, org)
    db.refresh(doc)  # what a concurrent approver committed
    if doc.status != DRAFT or (expected_version is not None and expected_version != doc.version):
        raise Conflict(_("This document is no longer a draft awaiting approval (someone approved it meanwhile)."))
    account = db.get(User, getattr(user, "id", None) or 0)
    if account is None or not password or not verify_password(account.password_hash, password):
        raise UserError(_("The signature password is not correct."), field="password")
    now = utcnow()
    today = today or now.date()
    for old in db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id,
                                                        ControlledDocument.number == doc.number,
                                                        ControlledDocument.status == IN_FORCE)).all():
        old.status, old.superseded_at = SUPERSEDED, now
        db.add(old)
        trail.append(db, org.id, Action.DOC_SUPERSEDE, actor=user,
                     detail={"document": old.id, "number": old.number, "version": old.version, "by": doc.version})
    doc.status, doc.approved_by, doc.approved_at, doc.effective_date = IN_FORCE, account.id, now, today
    doc.signature = {"meaning": SIGNATURE, "signer": account.name, "signer_id": account.id}
    doc.next_review = add_months(today, doc.review_months or DEFAULT_REVIEW_MONTHS)
    db.add(doc)
    db.flush()
    trail.append(db, org.id, Action.DOC_APPROVE, actor=user, from_state=DRAFT, to_state=IN_FORCE,
                 detail={"document": doc.id, "number": doc.number, "version": doc.version,
                         "signature": doc.signature})
    return doc


def approve_drafts(db: Session, org: Organization, user, roles: set[str], password: str | None,
                   ids: list[int] | None = None) -> list[ControlledDocument]:
    """Approve every draft of the register (or those in `ids`) with one e-signature; all or nothing."""
    lock(db, org)
    drafts = [d for d in db.exec(select(ControlledDocument).where(ControlledDocument.org_id == org.id,
                                                                ControlledDocument.status == DRAFT)).all()
              if ids is None or d.id in set(ids)]
    if not drafts:
        raise Conflict(_("There is no draft awaiting approval."))
    return [approve(db, org, d, user, roles, password) for d in sorted(drafts, key=lambda d: d.number)]


def review(db: Session, org: Organization, doc: ControlledDocument, user, comment: str = "",
           today: date | None = None) -> ControlledDocument:
    """Record the periodic review of a document in force (still suitable): the next review moves on."""
    lock(db, org)
    db.refresh(doc)
    if doc.status != IN_FORCE:
        raise Conflict(_("Only a document in force is reviewed."))
    today = today or utcnow().date()
    doc.reviewed_at = utcnow()
    doc.next_review = add_months(today, doc.review_months or DEFAULT_REVIEW_MONTHS)
    db.add(doc)
    trail.append(db, org.id, Action.DOC_REVIEW, actor=user, comment=comment,
                 detail={"document": doc.id, "number": doc.number, "version": doc.version,
                         "next_review": doc.next_review.isoformat()})
    return doc


# --- adoption hook and history ------------------------------------------------------------------------------


def template_adopted(db: Session, org: Organization, tpl: ProcessTemplate, user=None) -> ControlledDocument | None:
    """Called by workbench.library.adopt: remember the adoption; draft the successor procedure if the
    organization has a procedure for this process generated from another version."""
    db.add(AdoptionHistory(org_id=org.id, key=tpl.key, template_id=tpl.id))
    lock(db, org)
    latest = _latest(db, org, PROCEDURE, tpl.key)
    if latest is None or latest.template_id == tpl.id:
        return None
    return _new_version(db, org, PROCEDURE, tpl.key, dict(tpl.body.get("title") or {}), user, template=tpl,
                        changes=_template_changes(db, latest if latest.status != DRAFT else _previous(db, latest), tpl))


def _previous(db: Session, doc: ControlledDocument) -> ControlledDocument | None:
    return db.exec(select(ControlledDocument).where(ControlledDocument.org_id == doc.org_id,
                                                    ControlledDocument.number == doc.number,
                                                    ControlledDocument.version < doc.version)
                   .order_by(ControlledDocument.version.desc()).limit(1)).first()


# --- periodic review due ----------------------------------------------------------------------------------


@dataclass
class ReviewDue:
    document: ControlledDocument
    due: date
    status: str  # overdue | due_soon


def due_reviews(db: Session, org: Organization, today: date | None = None,
                warn_days: int = DEFAULT_WARN_DAYS) -> list[ReviewDue]:
    """Documents in force whose periodic review is overdue or due within `warn_days` (for 待办, due lists
    and the readiness check: "无本周期体系运行所需的体系文件")."""
    today = today or date.today()
    out = []
    for d in in_force(db, org):
        if d.next_review is None:
            continue
        st = status_of(d.next_review, today, warn_days)
        if st != "done":
            out.append(ReviewDue(d, d.next_review, st))
    return sorted(out, key=lambda r: (r.due, r.document.number))
