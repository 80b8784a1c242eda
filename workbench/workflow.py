"""The workflow state machine a template declares: which transitions a role may take, and taking them.

Taking a transition checks, in order: the transition exists and leaves the record's current state; one of
the user's roles may take it (auditors never); the fields it `requires` are filled; a required comment is
given; an e-signature (the user's password, re-entered) is correct. Any failure raises `WorkflowError`
with a message for the user and stores nothing. Success updates the record's state and appends a
`transition` event (and the signature's meaning) to the chain.
"""
from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from flask_babel import gettext as _
from sqlmodel import Session

from workbench import throttle, trail
from workbench.models import Record, User, utcnow


class WorkflowError(ValueError):
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
         password: str | None = None, at=None) -> Record:
    specs = {t.name: t for t in transitions_from(template, rec.state)}
    tr = specs.get(name)
    if tr is None:
        raise WorkflowError(_("This step is not possible from the record's current state."))
    if "auditor" in roles and not roles & {"member", "manager", "admin"}:
        raise WorkflowError(_("Auditors can read records but never change them."))
    if not ("admin" in roles or roles & set(tr.roles)):
        raise WorkflowError(_("Your role may not take this step."))
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
        problem = throttle.signature_problem(account, password, rec) if account else _("The signature password is not correct.")
        if problem:  # wrong or throttled (workbench.throttle: back-off, failures go to the chain)
            raise WorkflowError(problem)
        signed = {"meaning": tr.signature["meaning"], "signer": account.name, "signer_id": account.id}
    before = rec.state
    rec.state = tr.to
    rec.updated_at = at or utcnow()
    rec.updated_by = getattr(user, "id", None)
    db.add(rec)
    detail = {"transition": tr.name}
    if signed:
        detail["signature"] = signed
    trail.append(db, rec.org_id, "sign" if signed else "transition", record_id=rec.id, actor=user,
                 from_state=before, to_state=tr.to, comment=comment, detail=detail, at=at)
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
