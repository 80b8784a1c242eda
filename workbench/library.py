"""Templates in the database: the shipped library, organizations' own versions, and adoption.

A `ProcessTemplate` row is one immutable version. An organization *adopts* one version per process key;
new records use the adopted version, and every record keeps rendering with the version it was made with.
"""
from __future__ import annotations

from collections import defaultdict

from sqlmodel import Session, select

from workbench import clauses
from workbench.models import Adoption, Organization, ProcessTemplate
from workbench.templates import shipped_library


def install_shipped(db: Session) -> int:
    """Insert shipped template versions the database does not have yet. Returns how many were added."""
    have = {(t.key, t.version) for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.org_id.is_(None))).all()}
    added = 0
    for key, body in shipped_library().items():
        if (key, body["version"]) not in have:
            db.add(ProcessTemplate(org_id=None, key=key, version=body["version"], status="published", body=body))
            added += 1
    db.commit()
    return added


def latest_shipped(db: Session) -> dict[str, ProcessTemplate]:
    out: dict[str, ProcessTemplate] = {}
    for t in db.exec(select(ProcessTemplate).where(ProcessTemplate.org_id.is_(None), ProcessTemplate.status == "published")
                     .order_by(ProcessTemplate.key, ProcessTemplate.version)).all():
        out[t.key] = t
    return out


def adopt(db: Session, org: Organization, tpl: ProcessTemplate) -> Adoption:
    row = db.exec(select(Adoption).where(Adoption.org_id == org.id, Adoption.key == tpl.key)).first()
    if row is None:
        row = Adoption(org_id=org.id, key=tpl.key, template_id=tpl.id)
    row.template_id = tpl.id
    db.add(row)
    return row


def adopt_library(db: Session, org: Organization) -> int:
    """Adopt every shipped process the organization does not use yet."""
    used = {a.key for a in db.exec(select(Adoption).where(Adoption.org_id == org.id)).all()}
    n = 0
    for key, tpl in latest_shipped(db).items():
        if key not in used:
            adopt(db, org, tpl)
            n += 1
    db.commit()
    return n


def processes(db: Session, org: Organization) -> list[ProcessTemplate]:
    """The template versions the organization has adopted, ordered by first clause."""
    rows = db.exec(select(ProcessTemplate).join(Adoption, Adoption.template_id == ProcessTemplate.id)
                   .where(Adoption.org_id == org.id)).all()
    return sorted(rows, key=lambda t: (min(clauses.sort_key(c["clause"]) for c in t.body["clauses"]), t.key))


def adopted(db: Session, org: Organization, key: str) -> ProcessTemplate | None:
    return db.exec(select(ProcessTemplate).join(Adoption, Adoption.template_id == ProcessTemplate.id)
                   .where(Adoption.org_id == org.id, Adoption.key == key)).first()


def by_clause_group(templates: list[ProcessTemplate]) -> list[tuple[str, list[ProcessTemplate]]]:
    """Group templates by the top-level clause (4–10) of the first clause they serve."""
    groups: dict[str, list[ProcessTemplate]] = defaultdict(list)
    for t in templates:
        tops = sorted({clauses.top_level(c["clause"]) for c in t.body["clauses"]}, key=int)
        groups[tops[0]].append(t)
    return sorted(groups.items(), key=lambda kv: int(kv[0]))
