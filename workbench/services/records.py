"""Record actions as services: one function per user action, returning a typed result.

The HTML views (and later the API and importers) read their input, call one of these, and render. A service
runs in the caller's transaction (`workbench.db.transaction`) and never commits; a user-correctable problem
is either a returned `Invalid` (field errors, 422) or a raised `workbench.errors.UserError` (locked 409,
stale 409 `records.StaleRecord`, not found 404…).

`submit` is a pipeline of small steps over one `Submission` (see `CHECKS`): each step reads the context and
adds typed data or field errors; nothing is stored unless every step passed. To add a step (drafts,
numbering…), write `def step(ctx: Context) -> None` and put it in `CHECKS` where it belongs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from typing import Any, Callable, Mapping

from flask_babel import gettext as _
from sqlmodel import Session
from werkzeug.datastructures import MultiDict

import forms
from forms.messages import message
from workbench import attachments, drafts, held_uploads, records, signatures, smartforms, trail, workflow
from workbench.actions import Action
from workbench.api import webhooks
from workbench.errors import UserError
from workbench.notify import events as notify_events
from workbench.models import Attachment, Organization, ProcessTemplate, Record, Revision

DEFAULT_MAX_BYTES = 10 * 1024 * 1024


@dataclass
class Upload:
    filename: str
    content: bytes


@dataclass
class Submission:
    """What a client sent for one record: form values (dotted names -> strings, as `forms.parse` reads
    them), files for top-level attachment fields, the reason for a change, and the revision the form was
    opened at (None: the record as loaded now)."""
    values: MultiDict
    uploads: dict[str, Upload] = field(default_factory=dict)
    comment: str = ""
    base_revision: int | None = None
    action: str = ""  # "draft": save incomplete data in the initial state (workbench.drafts)
    at: datetime | None = None  # a new record's activity time (imports of earlier records; None: now)
    origin: dict | None = None  # where a new record came from, kept in its create event (workbench.importing)


@dataclass
class Saved:
    record: Record
    created: bool
    revision: Revision | None  # None: an edit that changed nothing
    signatures_voided: bool = False


@dataclass
class Invalid:
    errors: dict[str, list[str]]  # dotted field path (or forms.FORM_ERROR) -> messages


Result = Saved | Invalid


@dataclass
class Context:
    """One submission on its way through the pipeline."""
    db: Session
    org: Organization
    tpl: ProcessTemplate
    user: Any
    record: Record | None
    submission: Submission
    lang: str = "zh"
    tz: tzinfo | None = None
    max_bytes: int = DEFAULT_MAX_BYTES
    data: dict = field(default_factory=dict)
    errors: dict[str, list[str]] = field(default_factory=dict)  # type and reference errors before validation
    files: dict[str, tuple[str, bytes, str]] = field(default_factory=dict)  # path -> (name, content, type)

    @property
    def schema(self) -> dict:
        return self.tpl.body["schema"]

    def fields(self, fmt: str) -> list[tuple[str, dict]]:
        return [(n, f) for n, f in (self.schema.get("properties") or {}).items() if f.get("format") == fmt]


# --- the steps of `submit` ------------------------------------------------------------------------------------


def check_editable(ctx: Context) -> None:
    """An edit: the state is not locked and the form was opened at the current revision (else 409)."""
    rec = ctx.record
    if rec is None:
        return
    records.check_editable(ctx.tpl, rec)
    base = ctx.submission.base_revision
    if base is not None and base != rec.revision:
        raise records.StaleRecord(rec, base)


def parse_values(ctx: Context) -> None:
    """Posted strings -> typed data (dates, numbers, rows); type errors per field."""
    kw = {"tz": ctx.tz} if ctx.tz is not None else {}
    ctx.data, type_errors = forms.parse(ctx.schema, ctx.submission.values, ctx.lang, **kw)
    ctx.errors.update(type_errors)


def check_uploads(ctx: Context) -> None:
    """New files: size and type by content; a new file replaces the field's current reference."""
    names = {n for n, _f in ctx.fields("attachment")}
    for path, up in ctx.submission.uploads.items():
        if path not in names:
            continue
        try:
            ctype = attachments.check(up.filename, up.content, ctx.max_bytes)
        except attachments.AttachmentError as e:
            ctx.errors[path] = [message(e.key, ctx.lang, **e.kw)]
        else:
            ctx.files[path] = (up.filename, up.content, ctype)
            ctx.data[path] = "pending"  # replaced by the stored attachment's reference


def check_links(ctx: Context) -> None:
    """A record-link points at a record of this organization, of one of the allowed templates."""
    for name, f in ctx.fields("record-link"):
        if name not in ctx.data:
            continue
        raw = str(ctx.data[name])
        target = ctx.db.get(Record, int(raw)) if raw.isascii() and raw.isdigit() and len(raw) < 19 and 0 < int(raw) < 2**63 else None
        if target is None or target.org_id != ctx.org.id or target.template_key not in (f.get("linkTemplates") or []):
            ctx.errors[name] = [message("link", ctx.lang)]


def check_attachment_refs(ctx: Context) -> None:
    """An attachment reference can only be one the record already has (new files arrive as uploads)."""
    current = ctx.record.data if ctx.record else {}
    for name, _f in ctx.fields("attachment"):
        if name in ctx.data and name not in ctx.files and ctx.data[name] != current.get(name) \
                and not held_uploads.held(ctx.db, ctx.org.id, ctx.user, ctx.data[name]):
            ctx.errors[name] = [message("invalid", ctx.lang)]


def validate_schema(ctx: Context) -> None:
    """JSON Schema validation; messages beside each field (type errors kept)."""
    schema = smartforms.before_validate(ctx.tpl, ctx.data, ctx.submission.action, ctx.record)  # numbers, drafts
    ctx.errors = forms.validate(schema, ctx.data, ctx.lang, ctx.errors)


def check_reason(ctx: Context) -> None:
    """Changing a signed record needs a reason for the change."""
    rec = ctx.record
    if rec is None or ctx.errors or ctx.submission.comment.strip():
        return
    if ctx.files or trail.canonical(ctx.data) != trail.canonical(rec.data):
        if signatures.of_record(ctx.db, rec).in_force:
            ctx.errors["_comment"] = [_("This record is signed: give a reason for the change. After saving, the "
                                        "signature no longer counts and the record returns to the step before it "
                                        "for signing again.")]


CHECKS: tuple[Callable[[Context], None], ...] = (
    check_editable, parse_values, check_uploads, check_links, check_attachment_refs, validate_schema, check_reason)


def store(ctx: Context) -> Saved:
    """Store files, then the record (create) or its next revision (edit), then link the files to it."""
    db, user = ctx.db, ctx.user
    stored: dict[str, Attachment] = {}
    for path, (name, content, ctype) in ctx.files.items():
        stored[path] = attachments.store(db, ctx.org.id, name, content, ctype, user)
        ctx.data[path] = attachments.reference(stored[path])
    smartforms.before_store(db, ctx.org, ctx.tpl, ctx.data, ctx.record)  # the real number, in this transaction
    if ctx.record is None:
        rec, rev, created, voided = records.create(db, ctx.org, ctx.tpl, ctx.data, user, at=ctx.submission.at,
                                                       origin=ctx.submission.origin), None, True, False
    else:
        rec, created = ctx.record, False
        state = rec.state
        rev = records.edit(db, rec, ctx.tpl, ctx.data, user, ctx.submission.comment, ctx.submission.base_revision)
        voided = rec.state != state
    for path, att in stored.items():
        attach(db, rec, path, att, user)
    smartforms.after_store(db, ctx.org, ctx.tpl, ctx.data, rec, user)  # files held across an error
    if created or rev is not None:
        webhooks.emit(db, rec, "created" if created else "edited")  # organization webhooks (svc)
    return Saved(rec, created, rev, voided)


def check(db: Session, org: Organization, tpl: ProcessTemplate, submission: Submission, user, *,
          record: Record | None = None, lang: str = "zh", tz: tzinfo | None = None,
          max_bytes: int = DEFAULT_MAX_BYTES) -> Context:
    """Run every step of CHECKS; nothing is stored. `ctx.errors` empty: `store(ctx)` may follow (importers
    check a whole file first, then store)."""
    ctx = Context(db, org, tpl, user, record, submission, lang, tz, max_bytes)
    for step in CHECKS:
        step(ctx)
    return ctx


def submit(db: Session, org: Organization, tpl: ProcessTemplate, submission: Submission, user, *,
           record: Record | None = None, lang: str = "zh", tz: tzinfo | None = None,
           max_bytes: int = DEFAULT_MAX_BYTES) -> Result:
    """Create a record (`record` None) or store an edit of it from one submission.

    :return: `Saved` (the record; `revision` None when nothing changed) or `Invalid` (field errors; nothing stored).
    :raise Conflict: the record's state is locked. :raise records.StaleRecord: the form is older than the record.
    :raise UserError: with `field`, a check that only storing can make (a signature given meanwhile).
    """
    ctx = check(db, org, tpl, submission, user, record=record, lang=lang, tz=tz, max_bytes=max_bytes)
    if ctx.errors:
        smartforms.hold_files(db, org, user, ctx.files, submission.values)  # chosen files are kept, not dropped
        return Invalid(ctx.errors)
    return store(ctx)


def uploads_from(files: Mapping, tpl: ProcessTemplate, max_bytes: int) -> dict[str, Upload]:
    """Files of a multipart post (`<field>.__file`) for the template's top-level attachment fields; reads at
    most max_bytes + 1 bytes of each (enough to refuse one that is too large)."""
    out = {}
    for name, f in (tpl.body["schema"].get("properties") or {}).items():
        if f.get("format") != "attachment":
            continue
        up = files.get(f"{name}.__file")
        if up is not None and getattr(up, "filename", None):
            out[name] = Upload(up.filename, up.read(max_bytes + 1))
    return out


# --- the other record actions -----------------------------------------------------------------------------------


def attach(db: Session, rec: Record, path: str, att: Attachment, user) -> Attachment:
    """Record a stored attachment as the record's file for field `path` (an `attach` event with its SHA-256)."""
    attachments.link_to_record(db, att, rec.id, path, user)
    return att


def transition(db: Session, rec: Record, name: str, user, roles: set[str], *, comment: str = "",
               password: str | None = None, base_revision: int | None = None,
               expected_state: str | None = None) -> Record:
    """Take workflow step `name` with the record's own template version (see workflow.take).

    :raise workflow.WorkflowError: the step is not possible, not allowed, or misses a field, comment or signature.
    :raise records.StaleRecord: someone else changed the record first (409; nothing recorded).
    """
    tpl = records.version_of(db, rec)
    drafts.check_complete(tpl.body, rec, name)  # a draft leaves its initial state only complete
    signs = any(t.name == name and t.signature for t in workflow.transitions_from(tpl.body, rec.state))
    out = workflow.take(db, rec, tpl.body, name, user, roles, comment=comment, password=password,
                        base_revision=base_revision, expected_state=expected_state)
    notify_events.after_transition(db, db.get(Organization, rec.org_id), rec, tpl, user)  # who acts next, who gets it back
    webhooks.emit(db, rec, "signed" if signs else "transitioned")  # organization webhooks (svc)
    return out


def request_deletion(db: Session, rec: Record, reason: str, user) -> trail.Appended:
    """Records are never deleted: a deletion request is an event a manager and the auditor can see."""
    reason = (reason or "").strip()
    if not reason:
        raise UserError(_("Give a reason for the deletion request."), field="reason")
    return trail.append(db, rec.org_id, Action.DELETE_REQUEST, record_id=rec.id, actor=user, comment=reason[:1000])
