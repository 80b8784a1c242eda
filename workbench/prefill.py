"""Forms that fill themselves where they can.

- defaults: a field declares `"x-default": "user" | "today" | "now" | "org"`; shipped templates that do not
  declare them yet get the obvious ones from SHIPPED_DEFAULTS (the 检验员 and 检验时间 of an inspection…).
- answering a record: `?link.<field>=<id>` (a corrective action for a nonconformity) or `?from=<id>` (a
  nonconforming-output record for a failed inspection) copies the source's same-named fields, its
  description into the target's description field, and sets the link field that may point at the source.
- follow-ups: a record in a given condition offers the next form (an inspection judged 不合格 offers
  "处置不合格品").
Values produced here are form values (what `forms.flatten` gives), so the user sees and can change them.
"""
from __future__ import annotations

from datetime import datetime, tzinfo

from sqlmodel import Session
from werkzeug.datastructures import MultiDict

from forms.values import kind_of
from workbench import library, numbering
from workbench.ids import parse_id
from workbench.models import Organization, ProcessTemplate, Record

KEYWORD = "x-default"
SHIPPED_DEFAULTS: dict[str, dict[str, str]] = {
    "production-inspection": {"inspector": "user", "inspected_at": "now"},
    "nonconforming-output": {"found_by": "user", "found_date": "today"},
    "corrective-action": {"raised_date": "today"},
    "customer-complaint": {"received_date": "today"},
    "safety-inspection": {"inspector": "user", "inspection_date": "today"},
}
DESCRIPTIONS = ("description", "problem_description", "nc_description", "statement", "summary")
SOURCE_TYPES = {"nonconforming-output": "nonconforming_output", "customer-complaint": "customer_complaint",
                "incident-investigation": "incident", "internal-audit": "internal_audit"}
FOLLOW_UPS: dict[str, list[tuple[str, str, str, dict]]] = {
    # source template: [(field, value, target template, label)]
    "production-inspection": [("result", "fail", "nonconforming-output", {"zh": "处置不合格品", "en": "Handle the nonconforming product"})],
}


def defaults(tpl: ProcessTemplate, user, org: Organization, tz: tzinfo) -> dict[str, str]:
    props = tpl.body["schema"].get("properties") or {}
    wanted = dict(SHIPPED_DEFAULTS.get(tpl.key, {}))
    wanted.update({k: f[KEYWORD] for k, f in props.items() if isinstance(f.get(KEYWORD), str)})
    now = datetime.now(tz)
    out = {}
    for name, kind in wanted.items():
        f = props.get(name)
        if f is None:
            continue
        fmt = f.get("format")
        if kind == "user":
            out[name] = getattr(user, "name", "")
        elif kind == "org":
            out[name] = org.name
        elif kind == "today" or (kind == "now" and fmt == "date"):
            out[name] = now.date().isoformat()
        elif kind == "now":
            out[name] = now.strftime("%Y-%m-%dT%H:%M") if fmt == "date-time" else now.date().isoformat()
    return out


def copy_from(source: Record, source_tpl: ProcessTemplate, tpl: ProcessTemplate) -> dict[str, str]:
    """Form values for a record of `tpl` that answers or follows up `source`."""
    props = tpl.body["schema"].get("properties") or {}
    sprops = source_tpl.body["schema"].get("properties") or {}
    out: dict[str, str] = {}
    for name, f in props.items():
        kind = kind_of(f)
        if kind in ("rows", "object", "multichoice") or f.get("format") in ("attachment",) or numbering.KEYWORD in f:
            continue
        if f.get("format") == "record-link":
            if source.template_key in (f.get("linkTemplates") or []):
                out[name] = str(source.id)
            continue
        value = source.data.get(name)
        if name in sprops and kind_of(sprops[name]) == kind and value not in (None, "") and not isinstance(value, (dict, list)):
            if kind == "choice" and value not in (f.get("enum") or []):
                continue
            out[name] = "true" if value is True else "false" if value is False else str(value)
    for name in DESCRIPTIONS:
        if name in props and name not in out:
            text = next((source.data.get(s) for s in DESCRIPTIONS if isinstance(source.data.get(s), str) and source.data.get(s)), None)
            if text:
                out[name] = f"#{source.id} {source.title}: {text}"[:2000]
            break
    if "source_type" in props and source.template_key in SOURCE_TYPES:
        if SOURCE_TYPES[source.template_key] in (props["source_type"].get("enum") or []):
            out["source_type"] = SOURCE_TYPES[source.template_key]
    return out


def initial_values(db: Session, tpl: ProcessTemplate, args, user, org: Organization, tz: tzinfo) -> MultiDict:
    """What a new-record form starts with: defaults < copied from a source record < explicit link.* values."""
    values: dict[str, str] = defaults(tpl, user, org, tz)
    props = tpl.body["schema"].get("properties") or {}
    source_id = parse_id(args.get("from", ""))
    for name, f in props.items():
        raw = parse_id(args.get(f"link.{name}", ""))
        if f.get("format") == "record-link" and raw is not None:
            source_id = raw
    if source_id is not None:
        src = db.get(Record, source_id)
        if src is not None and src.org_id == org.id:
            values.update(copy_from(src, db.get(ProcessTemplate, src.template_id), tpl))
    values.update({k[5:]: v for k, v in args.items() if k.startswith("link.") and k[5:] in props})
    return MultiDict(values)


def follow_ups(db: Session, org: Organization, rec: Record) -> list[tuple[ProcessTemplate, dict]]:
    out = []
    for field, value, target, label in FOLLOW_UPS.get(rec.template_key, []):
        if rec.data.get(field) == value:
            t = library.adopted(db, org, target)
            if t is not None:
                out.append((t, label))
    return out
