"""The workflow state machine a template declares: which transitions a role may take, and taking them.

Taking a transition checks, in order: the transition exists and leaves the record's current state; one of
the user's roles may take it (auditors never); the fields it `requires` are filled; a required comment is
given; an e-signature (the user's password, re-entered) is correct. Any failure raises `WorkflowError`
(a `UserError`) with a message for the user and stores nothing. Success changes the record's state with a
compare-and-set on (state, revision) — of concurrent clicks exactly one wins, the others get
`records.StaleRecord` (409) — and appends a `transition` event, or a `sign` event bound to the exact
revision signed (signer, meaning, revision number and digest; see workbench/signatures.py).
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlmodel import Session

from workbench import trail
from workbench.actions import Action
from workbench.auth import verify_password
from workbench.errors import UserError
from workbench.models import Record, User, utcnow


class WorkflowError(UserError):
    pass


@dataclass
class Transition:
    name: str
    label: dict
    to: str
    roles: list[str]
    requires: list[str]
    comment: str  # none | optional | required
    signature: dict | None

    @classmethod
    def of(cls, spec: dict) -> "Transition":
        return cls(spec["name"], spec["label"], spec["to"], list(spec["roles"]), list(spec.get("requires") or []),
                   spec.get("comment", "optional"), spec.get("signature"))


def transitions_from(template: dict, state: str) -> list[Transition]:
    return [Transition.of(t) for t in template["workflow"]["transitions"] if state in t["from"]]


def available(template: dict, state: str, roles: set[str]) -> list[Transition]:
    """Transitions from `state` that a user with `roles` may take (admins may take any)."""
    return [t for t in transitions_from(template, state) if "admin" in roles or roles & set(t.roles)]


def is_final(template: dict, state: str) -> bool:
    return bool(template["workflow"]["states"].get(state, {}).get("final"))


def missing_fields(data: dict, names: list[str]) -> list[str]:
    return [n for n in names if data.get(n) in (None, "", [], {})]


def take(db: Session, rec: Record, template: dict, name: str, user, roles: set[str], *, comment: str = "",
         password: str | None = None, at=None, base_revision: int | None = None,
         expected_state: str | None = None) -> Record:
    """Take transition `name`. `base_revision` / `expected_state`: what the user saw when clicking
    (default: the record as loaded); if the record moved on since, raise `records.StaleRecord`."""
    from workbench.records import StaleRecord, claim

    base = rec.revision if base_revision is None else int(base_revision)
    if (expected_state is not None and expected_state != rec.state) or base != rec.revision:
        raise StaleRecord(rec, base, _("This record changed since you opened it: someone else took a step or "
                                       "edited it first. Check its current state and history."))
    specs = {t.name: t for t in transitions_from(template, rec.state)}
    tr = specs.get(name)
    if tr is None:
        raise WorkflowError(_("This step is not possible from the record's current state."))
    if "auditor" in roles and not roles & {"member", "manager", "admin"}:
        raise WorkflowError(_("Auditors can read records but never change them."), status=403)
    if not ("admin" in roles or roles & set(tr.roles)):
        raise WorkflowError(_("Your role may not take this step."), status=403)
    missing = missing_fields(rec.data, tr.requires)
    if missing:
        props = template["schema"]["properties"]
        from workbench.i18n import tr as pick

        names = "、".join(pick(props[m].get("label"), m) for m in missing)
        raise WorkflowError(_("Fill in these fields first: %(fields)s", fields=names))
    comment = (comment or "").strip()
    if tr.comment == "required" and not comment:
        raise WorkflowError(_("A comment is required for this step."))
    signed = None
    if tr.signature:
        account = db.get(User, user.id) if getattr(user, "id", None) else None
        if account is None or not password or not verify_password(account.password_hash, password):
            raise WorkflowError(_("The signature password is not correct."))
        signed = {"meaning": tr.signature["meaning"], "signer": account.name, "signer_id": account.id,
                  "revision": base, "digest": trail.digest(rec.data)}  # rec.data is revision `base` (checked above)
    before = rec.state
    try:
        claim(db, rec, expect_revision=base, expect_state=before, state=tr.to, updated_at=at or utcnow(),
              updated_by=getattr(user, "id", None))
    except StaleRecord as e:
        raise StaleRecord(rec, base, _("Someone else changed this record first (its state is no longer "
                                       "“%(state)s”). Nothing was recorded for your click.", state=before)) from e
    detail = {"transition": tr.name}
    if signed:
        detail["signature"] = signed
    trail.append(db, rec.org_id, Action.SIGN if signed else Action.TRANSITION, record_id=rec.id, actor=user,
                 from_state=before, to_state=tr.to, comment=comment, detail=detail, at=at,
                 data_digest=signed["digest"] if signed else "")
    return rec


def path_to_final(template: dict) -> list[str]:
    """Transition names of a shortest path from the initial state to a final state (for demo data)."""
    wf = template["workflow"]
    start = wf["initial"]
    queue = deque([(start, [])])
    seen = {start}
    while queue:
        state, path = queue.popleft()
        if is_final(template, state) and path:
            return path
        for t in wf["transitions"]:
            if state in t["from"] and t["to"] not in seen:
                seen.add(t["to"])
                queue.append((t["to"], path + [t["name"]]))
    return []
