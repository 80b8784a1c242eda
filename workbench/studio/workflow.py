"""Builder operations on the workflow: states, steps (transitions) and the initial state.

States and steps added in one edit work together: a step may name a state added in the same edit.
"""
from __future__ import annotations

import copy

from flask_babel import gettext as _

from workbench.studio.common import BuilderError, COMMENT_MODES, ROLES, STATE_RE, _copy, _ren, i18n


def default_workflow() -> dict:
    return {
        "initial": "draft",
        "states": {
            "draft": {"label": {"zh": "草稿", "en": "Draft"}},
            "submitted": {"label": {"zh": "已提交", "en": "Submitted"}},
            "approved": {"label": {"zh": "已批准", "en": "Approved"}, "final": True},
        },
        "transitions": [
            {"name": "submit", "from": ["draft"], "to": "submitted", "label": {"zh": "提交", "en": "Submit"},
             "roles": ["member", "manager"]},
            {"name": "return", "from": ["submitted"], "to": "draft", "label": {"zh": "退回", "en": "Return"},
             "roles": ["manager"], "comment": "required"},
            {"name": "approve", "from": ["submitted"], "to": "approved", "label": {"zh": "批准", "en": "Approve"},
             "roles": ["manager"]},
        ],
    }


def _wf(t: dict) -> dict:
    wf = t.setdefault("workflow", {"initial": "", "states": {}, "transitions": []})
    wf.setdefault("states", {})
    wf.setdefault("transitions", [])
    return wf


def add_state(t: dict, name: str, zh: str, en: str, final: bool = False) -> dict:
    t = _copy(t)
    wf = _wf(t)
    if not STATE_RE.match(name or ""):
        raise BuilderError(_("State “%(s)s”: a name uses lowercase letters, digits and _, starting with a letter.", s=name), "state")
    if name in wf["states"]:
        raise BuilderError(_("State “%(s)s” exists already.", s=name), "state")
    wf["states"][name] = {"label": i18n(zh or name, en or name)}
    if final:
        wf["states"][name]["final"] = True
    if not wf.get("initial"):
        wf["initial"] = name
    return t


def rename_state(t: dict, old: str, new: str) -> dict:
    t = _copy(t)
    wf = _wf(t)
    if old not in wf["states"]:
        raise BuilderError(_("unknown state “%(s)s”", s=old), "state")
    if new == old:
        return t
    if not STATE_RE.match(new or ""):
        raise BuilderError(_("State “%(s)s”: a name uses lowercase letters, digits and _, starting with a letter.", s=new), "state")
    if new in wf["states"]:
        raise BuilderError(_("State “%(s)s” exists already.", s=new), "state")
    wf["states"] = {(new if k == old else k): v for k, v in wf["states"].items()}
    if wf.get("initial") == old:
        wf["initial"] = new
    if isinstance(wf.get("locked"), list):
        wf["locked"] = _ren(wf["locked"], old, new)
    for tr in wf["transitions"]:
        tr["from"] = _ren(tr.get("from") or [], old, new)
        if tr.get("to") == old:
            tr["to"] = new
    return t


def remove_state(t: dict, name: str) -> dict:
    """Remove a state and the transitions into it; transitions from it lose that source."""
    t = _copy(t)
    wf = _wf(t)
    if name not in wf["states"]:
        raise BuilderError(_("unknown state “%(s)s”", s=name), "state")
    if len(wf["states"]) == 1:
        raise BuilderError(_("A workflow needs at least one state."), "state")
    del wf["states"][name]
    if isinstance(wf.get("locked"), list) and name in wf["locked"]:
        wf["locked"] = [s for s in wf["locked"] if s != name]
        if not wf["locked"]:
            del wf["locked"]
    kept = []
    for tr in wf["transitions"]:
        if tr.get("to") == name:
            continue
        tr["from"] = [s for s in tr.get("from") or [] if s != name]
        if tr["from"]:
            kept.append(tr)
    wf["transitions"] = kept
    if wf.get("initial") == name:
        wf["initial"] = next(iter(wf["states"]))
    return t


def add_transition(t: dict, name: str, from_: list[str], to: str, zh: str, en: str, roles: list[str], *,
                   comment: str | None = None, requires: list[str] | None = None,
                   signature: tuple[str, str] | None = None) -> dict:
    t = _copy(t)
    wf = _wf(t)
    tr = _transition(wf, name, from_, to, zh, en, roles, comment, requires, signature,
                     taken={x.get("name") for x in wf["transitions"]})
    wf["transitions"].append(tr)
    return t


def _transition(wf: dict, name, from_, to, zh, en, roles, comment, requires, signature, taken) -> dict:
    if not STATE_RE.match(name or ""):
        raise BuilderError(_("Step “%(s)s”: a name uses lowercase letters, digits and _, starting with a letter.", s=name), "name")
    if name in taken:
        raise BuilderError(_("Step “%(s)s” exists already.", s=name), "name")
    if not from_:
        raise BuilderError(_("Step “%(s)s”: choose the state(s) it starts from.", s=name), "from")
    for s in from_:
        if s not in wf["states"]:
            raise BuilderError(_("Step “%(s)s”: it starts from “%(state)s”, which is not a state.", s=name, state=s), "from")
    if not to:
        raise BuilderError(_("Step “%(s)s”: choose the state it moves to.", s=name), "to")
    if to not in wf["states"]:
        raise BuilderError(_("Step “%(s)s”: it moves to “%(state)s”, which is not a state.", s=name, state=to), "to")
    if not roles or set(roles) - set(ROLES):
        raise BuilderError(_("Step “%(s)s”: choose who may take it.", s=name), "roles")
    tr: dict = {"name": name, "from": list(from_), "to": to, "label": i18n(zh or name, en or name), "roles": list(roles)}
    if requires:
        tr["requires"] = list(requires)
    if comment:
        if comment not in COMMENT_MODES:
            raise BuilderError(_("Step “%(s)s”: unknown comment setting.", s=name), "comment")
        tr["comment"] = comment
    if signature and ((signature[0] or "").strip() or (signature[1] or "").strip()):
        tr["signature"] = {"meaning": i18n(*signature)}
    return tr


def remove_transition(t: dict, name: str) -> dict:
    t = _copy(t)
    wf = _wf(t)
    if not any(tr.get("name") == name for tr in wf["transitions"]):
        raise BuilderError(_("unknown step “%(s)s”", s=name), "transition")
    wf["transitions"] = [tr for tr in wf["transitions"] if tr.get("name") != name]
    return t


def set_workflow(t: dict, initial: str | None = None, states: dict | None = None,
                 transitions: list | None = None) -> dict:
    """Replace parts of the workflow wholesale (states: {name: {label, final?}}, transitions: [...])."""
    t = _copy(t)
    wf = _wf(t)
    if states is not None:
        wf["states"] = copy.deepcopy(states)
    if transitions is not None:
        wf["transitions"] = copy.deepcopy(transitions)
    if initial is not None:
        if initial not in wf["states"]:
            raise BuilderError(_("unknown state “%(s)s”", s=initial), "initial")
        wf["initial"] = initial
    return t


def set_locked(t: dict, states: list[str]) -> dict:
    """The states in which a record may not be edited at all (`workflow.locked`); [] removes the list."""
    t = _copy(t)
    wf = _wf(t)
    for s in states:
        if s not in wf["states"]:
            raise BuilderError(_("unknown state “%(s)s”", s=s), "state")
    if states:
        wf["locked"] = list(dict.fromkeys(states))
    else:
        wf.pop("locked", None)
    return t
