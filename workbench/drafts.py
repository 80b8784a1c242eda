"""Drafts: "save as draft" stores incomplete data in the workflow's initial state (only what was typed must be
well-formed); full validation applies when the record leaves the initial state.

    relaxed(schema)           the schema without `required` / `minItems` anywhere (types, formats, ranges stay)
    check_complete(tpl, rec)  raise WorkflowError naming what is missing or wrong before a transition out of draft
"""
from __future__ import annotations

import copy
from functools import lru_cache

from flask_babel import gettext as _

import forms
from workbench.i18n import lang
from workbench.trail import canonical
from workbench.workflow import WorkflowError

DRAFT_ACTION = "draft"


def _strip(node, names: bool = False):
    """`names`: the keys of this dict are field names (under "properties"), not keywords."""
    if isinstance(node, dict):
        return {k: _strip(v, names=(k == "properties" and not names)) for k, v in node.items()
                if names or k not in ("required", "minItems", "minProperties")}
    if isinstance(node, list):
        return [_strip(v) for v in node]
    return node


@lru_cache(maxsize=64)
def _relaxed(key: str) -> dict:
    import json

    return _strip(json.loads(key))


def relaxed(schema: dict) -> dict:
    return copy.deepcopy(_relaxed(canonical(schema)))


def schema_for(action: str, schema: dict, in_initial_state: bool = True) -> dict:
    """The schema a form post is validated against: relaxed for a draft save, else the full one."""
    return relaxed(schema) if action == DRAFT_ACTION and in_initial_state else schema


def check_complete(body: dict, rec, transition_name: str) -> None:
    """Before a transition out of the initial state: the record's data must pass full validation."""
    wf = body["workflow"]
    if rec.state != wf["initial"] or not any(t["name"] == transition_name and rec.state in t["from"] for t in wf["transitions"]):
        return
    errors = forms.validate(body["schema"], rec.data, lang())
    if errors:
        labels = _labels(body["schema"])
        first = [f"{labels.get(p.split('.')[0], p)}: {msgs[0]}" for p, msgs in list(errors.items())[:5]]
        raise WorkflowError(_("This draft is not complete yet — edit it first: %(problems)s", problems="; ".join(first)))


def _labels(schema: dict) -> dict[str, str]:
    return {k: forms.text(f.get("label"), lang(), k) for k, f in (schema.get("properties") or {}).items()}
