"""The names of event actions in the chain (`Event.action`), one enum, with their labels for people.

`Action` is a `StrEnum`: a member *is* its JSON string ("create", "sign"…), so events written with it hash
exactly as events written with the literal did, and stored rows compare equal to members.
"""
from __future__ import annotations

from enum import StrEnum

from flask_babel import gettext as _


class Action(StrEnum):
    CREATE = "create"
    EDIT = "edit"
    TRANSITION = "transition"
    SIGN = "sign"
    # an edit made the record's signatures stop counting; the record went back to the state before them
    SIGNATURE_VOID = "signature_void"
    ATTACH = "attach"
    DELETE_REQUEST = "delete_request"
    AUDIT_ENGAGEMENT = "audit_engagement"
    AUDIT_GRANT = "audit_grant"
    AUDIT_REVOKE = "audit_revoke"
    AUDIT_CHECK = "audit_check"
    AUDIT_SAMPLE = "audit_sample"
    AUDIT_SAMPLE_MORE = "audit_sample_more"
    AUDIT_FINDING = "audit_finding"
    AUDIT_FINDING_ANSWER = "audit_finding_answer"
    AUDIT_FINDING_CLOSE = "audit_finding_close"
    AUDIT_FINDING_REOPEN = "audit_finding_reopen"


# actions that change a record's state (their event's to_state is the record's new state)
STATE_CHANGES = frozenset({Action.TRANSITION, Action.SIGN, Action.SIGNATURE_VOID})


def label(action: str) -> str:
    """What the actor did, as the record's history says it ("signed", "edited the record"…)."""
    labels = {
        Action.CREATE: _("created the record"),
        Action.EDIT: _("edited the record"),
        Action.TRANSITION: _("changed the state"),
        Action.SIGN: _("signed"),
        Action.SIGNATURE_VOID: _("edited after signature: the signature no longer counts"),
        Action.ATTACH: _("attached a file"),
        Action.DELETE_REQUEST: _("requested deletion"),
    }
    try:
        return labels.get(Action(action), str(action))
    except ValueError:  # an action this version does not know (written by a newer one)
        return str(action)
