"""Templates in the database: the shipped library, organizations' own versions, and adoption.

A `ProcessTemplate` row is one immutable version. An organization *adopts* one version per process key;
new records use the adopted version, and every record keeps rendering with the version it was made with.
"""
from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from flask import g, has_app_context
from sqlalchemy import inspect
from sqlalchemy.orm import defer
from sqlalchemy.orm.attributes import set_committed_value
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
    changed = row.template_id != tpl.id or row.id is None
    if has_app_context():
        g.pop("_adopted_versions", None)
    row.template_id = tpl.id
    db.add(row)
    if changed:  # remember the adoption; draft the successor of the process's procedure (document control)
        from workbench.documents.control import template_adopted

        template_adopted(db, org, tpl)
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


# --- parsed bodies, shared by requests (issue #11: the fixed cost of a page) ----------------------------------
# A published version is immutable (drafts live in studio_draft), so its parsed body is kept process-wide and
# handed to every later session: rows are read with the body column deferred and given the cached dict. Keyed
# by (id, created_at): a test's fresh database reuses ids; create_app clears the cache too. Callers must not
# mutate a template's body in place (copy.deepcopy first, as the studio does).
_BODIES: dict[tuple, dict] = {}
_SORT_KEYS: dict[tuple, tuple] = {}
_MAX = 10_000
parsed_bodies = 0  # bodies read from the database (the shape test counts these)


def clear_cache() -> None:
    _BODIES.clear()
    _SORT_KEYS.clear()
    _UPDATES.clear()


def _light():
    return select(ProcessTemplate).options(defer(ProcessTemplate.body))


def with_bodies(db: Session, rows: Iterable[ProcessTemplate]) -> list[ProcessTemplate]:
    """Give each row whose body is not loaded its body: from the cache, else one query for all missing."""
    global parsed_bodies
    rows = list(rows)
    need: dict[int, ProcessTemplate] = {}
    for t in rows:
        if "body" not in inspect(t).unloaded:
            continue
        body = _BODIES.get((t.id, t.created_at)) if t.status == "published" else None
        if body is None:
            need[t.id] = t
        else:
            set_committed_value(t, "body", body)
    if need:
        if len(_BODIES) > _MAX:
            clear_cache()
        for tid, body in db.exec(select(ProcessTemplate.id, ProcessTemplate.body).where(ProcessTemplate.id.in_(need))).all():
            parsed_bodies += 1
            t = need[tid]
            if t.status == "published":
                _BODIES[(tid, t.created_at)] = body
            set_committed_value(t, "body", body)
    return rows


def version(db: Session, template_id: int) -> ProcessTemplate | None:
    """One template version by id (its body from the cache when it has been read before)."""
    t = db.get(ProcessTemplate, template_id, options=[defer(ProcessTemplate.body)])
    return with_bodies(db, [t])[0] if t is not None else None


def versions(db: Session, ids: Iterable[int]) -> list[ProcessTemplate]:
    ids = set(ids)
    return with_bodies(db, db.exec(_light().where(ProcessTemplate.id.in_(ids))).all()) if ids else []


def _sort_key(t: ProcessTemplate) -> tuple:
    k = (t.id, t.created_at)
    if k not in _SORT_KEYS or t.status != "published":
        _SORT_KEYS[k] = (min(clauses.sort_key(c["clause"]) for c in t.body["clauses"]), t.key)
    return _SORT_KEYS[k]


def _request_memo(db: Session) -> dict | None:
    """The request's memo of adopted versions per organization (for this session; adopt() forgets it)."""
    if not has_app_context():
        return None
    memo = g.get("_adopted_versions")
    if memo is None or memo[0] is not db:
        memo = g._adopted_versions = (db, {})
    return memo[1]


def processes(db: Session, org: Organization) -> list[ProcessTemplate]:
    """The template versions the organization has adopted, ordered by first clause."""
    memo = _request_memo(db)
    if memo is not None and org.id in memo:
        return list(memo[org.id])
    rows = with_bodies(db, db.exec(_light().join(Adoption, Adoption.template_id == ProcessTemplate.id)
                                   .where(Adoption.org_id == org.id)).all())
    rows = sorted(rows, key=_sort_key)
    if memo is not None:
        memo[org.id] = rows
    return list(rows)


def adopted(db: Session, org: Organization, key: str) -> ProcessTemplate | None:
    t = db.exec(_light().join(Adoption, Adoption.template_id == ProcessTemplate.id)
                .where(Adoption.org_id == org.id, Adoption.key == key)).first()
    return with_bodies(db, [t])[0] if t is not None else None


def by_clause_group(templates: list[ProcessTemplate]) -> list[tuple[str, list[ProcessTemplate]]]:
    """Group templates by the top-level clause (4–10) of the first clause they serve."""
    groups: dict[str, list[ProcessTemplate]] = defaultdict(list)
    for t in templates:
        tops = sorted({clauses.top_level(c["clause"]) for c in t.body["clauses"]}, key=int)
        groups[tops[0]].append(t)
    return sorted(groups.items(), key=lambda kv: int(kv[0]))


# --- versions the organization could adopt (consultant studio) ----------------------------------------------


def published_versions(db: Session, org: Organization, key: str) -> list[ProcessTemplate]:
    """Every published version of a process the organization can use: the shipped library's and its own,
    oldest first (on equal numbers the organization's own version counts as the newer)."""
    from sqlalchemy import or_

    rows = db.exec(select(ProcessTemplate).where(
        ProcessTemplate.key == key, ProcessTemplate.status == "published",
        or_(ProcessTemplate.org_id.is_(None), ProcessTemplate.org_id == org.id))).all()
    return sorted(rows, key=lambda t: (t.version, t.org_id is not None, t.id))


# available_updates on every manager page (#11): the answer, as version ids, kept process-wide per (organization,
# its adopted versions, the newest / number of published versions it can see). Published versions are
# immutable rows that are only ever added, so one aggregate read tells whether the answer may have changed.
_UPDATES: dict[tuple, list[tuple[int | None, int]]] = {}


def available_updates(db: Session, org: Organization) -> list[tuple[ProcessTemplate | None, ProcessTemplate]]:
    """(adopted version or None, newest version) for every process with a newer version than the adopted one,
    and for processes published for the organization that it has not adopted yet."""
    from sqlalchemy import func, or_

    mark = db.exec(select(func.max(ProcessTemplate.id), func.count(), func.max(ProcessTemplate.created_at)).where(
        ProcessTemplate.status == "published",
        or_(ProcessTemplate.org_id.is_(None), ProcessTemplate.org_id == org.id))).one()
    key = (org.id, tuple(mark), tuple(sorted((t.key, t.id) for t in processes(db, org))))
    ids = _UPDATES.get(key)
    if ids is None:
        found = _available_updates(db, org)
        if len(_UPDATES) > _MAX:
            _UPDATES.clear()
        _UPDATES[key] = [(cur.id if cur else None, new.id) for cur, new in found]
        return found
    rows = {t.id: t for t in versions(db, {i for pair in ids for i in pair if i is not None})}
    return [(rows[cur] if cur is not None else None, rows[new]) for cur, new in ids]


def _available_updates(db: Session, org: Organization) -> list[tuple[ProcessTemplate | None, ProcessTemplate]]:
    from sqlalchemy import or_

    current = {a.key: a.template_id for a in db.exec(select(Adoption).where(Adoption.org_id == org.id)).all()}
    newest: dict[str, ProcessTemplate] = {}
    by_id: dict[int, ProcessTemplate] = {}
    for t in with_bodies(db, db.exec(_light().where(
            ProcessTemplate.status == "published",
            or_(ProcessTemplate.org_id.is_(None), ProcessTemplate.org_id == org.id))).all()):
        by_id[t.id] = t
        best = newest.get(t.key)
        if best is None or (t.version, t.org_id is not None, t.id) > (best.version, best.org_id is not None, best.id):
            newest[t.key] = t
    out: list[tuple[ProcessTemplate | None, ProcessTemplate]] = []
    for key, new in newest.items():
        cur = by_id.get(current[key]) if key in current else None
        if key in current and cur is None:
            cur = version(db, current[key])
        if cur is None:
            if key not in current and new.org_id == org.id:
                out.append((None, new))
        elif new.id != cur.id and new.version > cur.version:
            out.append((cur, new))
    return sorted(out, key=lambda pair: pair[1].key)
