"""The append-only, hash-chained event log (one chain per organization) and its verification.

Each event's hash is SHA-256 over the canonical JSON (sorted keys, no spaces, UTF-8) of its own fields
plus the previous event's hash. `verify` recomputes the chain and also cross-checks records and
revisions against it, so changing, deleting or re-ordering any stored row is detected and located.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from sqlmodel import Session, func, select

from workbench.models import Event, Organization, Record, Revision, utcnow

GENESIS = "0" * 64


def canonical(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


def digest(obj: Any) -> str:
    return hashlib.sha256(canonical(obj).encode("utf-8")).hexdigest()


def _stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def event_payload(e: Event) -> dict:
    return {
        "org_id": e.org_id, "seq": e.seq, "record_id": e.record_id, "actor_id": e.actor_id,
        "actor_name": e.actor_name, "at": _stamp(e.at), "action": e.action, "from_state": e.from_state,
        "to_state": e.to_state, "comment": e.comment or "", "detail": e.detail or {},
        "data_digest": e.data_digest or "", "prev_hash": e.prev_hash,
    }


def event_hash(e: Event) -> str:
    return digest(event_payload(e))


def append(db: Session, org_id: int, action: str, *, record_id: int | None = None, actor=None,
           from_state: str | None = None, to_state: str | None = None, comment: str = "",
           detail: dict | None = None, data_digest: str = "", at: datetime | None = None) -> Event:
    """Add the next event of the organization's chain to the session (the caller commits).

    The organization's row is locked (SELECT … FOR NO KEY UPDATE on PostgreSQL: it does not conflict with the
    key-share locks that inserting rows referencing the organization take), so concurrent requests
    of several workers append one after the other instead of both taking the same sequence number.
    """
    db.flush()
    db.exec(select(Organization.id).where(Organization.id == org_id).with_for_update(key_share=True)).one()
    last = db.exec(select(Event).where(Event.org_id == org_id).order_by(Event.seq.desc()).limit(1)).first()
    e = Event(org_id=org_id, seq=(last.seq + 1) if last else 1, record_id=record_id,
              actor_id=getattr(actor, "id", None), actor_name=getattr(actor, "name", "") or "",
              at=at or utcnow(), action=action, from_state=from_state, to_state=to_state, comment=comment or "",
              detail=detail or {}, data_digest=data_digest, prev_hash=last.hash if last else GENESIS, hash="")
    e.hash = event_hash(e)
    db.add(e)
    db.flush()
    return e


@dataclass
class Problem:
    where: str  # "event #12", "record 5", "revision 5/2"
    reason: str

    def __str__(self) -> str:
        return f"{self.where}: {self.reason}"


@dataclass
class Verification:
    org_id: int
    events: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def verify(db: Session, org_id: int, record_id: int | None = None) -> Verification:
    """Recompute the organization's chain; with record_id, check only what touches that record."""
    if record_id is not None:
        return verify_record(db, org_id, record_id)
    result = Verification(org_id)
    events = db.exec(select(Event).where(Event.org_id == org_id).order_by(Event.id)).all()
    result.events = len(events)
    prev = GENESIS
    for expected_seq, e in enumerate(events, start=1):
        where = f"event #{e.seq} (id {e.id})"
        if e.seq != expected_seq:
            result.problems.append(Problem(where, f"out of order or missing: expected sequence {expected_seq}"))
        if e.prev_hash != prev:
            result.problems.append(Problem(where, "does not link to the previous event (row deleted, inserted or re-ordered)"))
        if event_hash(e) != e.hash:
            result.problems.append(Problem(where, "content changed after it was written (hash mismatch)"))
        prev = e.hash
    records = db.exec(select(Record).where(Record.org_id == org_id)).all()
    result.problems += _record_problems(db, records, events, expect_all=True)
    result.problems += _attachment_problems(db, events)
    return result


def verify_record(db: Session, org_id: int, record_id: int) -> Verification:
    """The record's events (hash, and links to their neighbours in the chain), revisions and state."""
    result = Verification(org_id)
    events = db.exec(select(Event).where(Event.org_id == org_id, Event.record_id == record_id).order_by(Event.id)).all()
    result.events = len(events)
    seqs = {s for e in events for s in (e.seq - 1, e.seq + 1)} - {e.seq for e in events}
    neighbours = {n.seq: n for n in db.exec(select(Event).where(Event.org_id == org_id, Event.seq.in_(seqs))).all()} if seqs else {}
    by_seq = {**neighbours, **{e.seq: e for e in events}}
    last_seq = db.exec(select(func.max(Event.seq)).where(Event.org_id == org_id)).one() or 0
    for e in events:
        where = f"event #{e.seq} (id {e.id})"
        if event_hash(e) != e.hash:
            result.problems.append(Problem(where, "content changed after it was written (hash mismatch)"))
        before = by_seq.get(e.seq - 1)
        if (before.hash if before else GENESIS if e.seq == 1 else None) != e.prev_hash:
            result.problems.append(Problem(where, "does not link to the previous event (row deleted, inserted or re-ordered)"))
        after = by_seq.get(e.seq + 1)
        if e.seq < last_seq and (after is None or after.prev_hash != e.hash):
            result.problems.append(Problem(where, "the next event does not link to it (row deleted, inserted or re-ordered)"))
    rec = db.get(Record, record_id)
    if rec is None or rec.org_id != org_id:
        if any(e.action == "create" for e in events):
            result.problems.append(Problem(f"record {record_id}", "is missing (deleted)"))
        return result
    result.problems += _record_problems(db, [rec], events, expect_all=False)
    result.problems += _attachment_problems(db, events)
    return result


def _attachment_problems(db: Session, events: list[Event]) -> list[Problem]:
    """Every attached file is still there, unchanged (its SHA-256 is the one the chain recorded)."""
    import hashlib

    from workbench.models import Attachment

    problems = []
    for e in events:
        if e.action != "attach":
            continue
        att_id = (e.detail or {}).get("attachment")
        att = db.get(Attachment, att_id) if att_id else None
        where = f"attachment {att_id}"
        if att is None or att.org_id != e.org_id:
            problems.append(Problem(where, "is missing (deleted)"))
        elif att.sha256 != e.data_digest or hashlib.sha256(att.content).hexdigest() != e.data_digest:
            problems.append(Problem(where, "file content changed after it was attached"))
    return problems


def _record_problems(db: Session, records: list[Record], events: list[Event], expect_all: bool) -> list[Problem]:
    """Cross-check records and their revisions against what the chain says about them."""
    problems: list[Problem] = []
    chain_revisions: dict[int, dict[int, str]] = {}
    chain_state: dict[int, str] = {}
    for e in events:
        if e.record_id is None:
            continue
        rev = (e.detail or {}).get("revision")
        if rev is not None and e.action in ("create", "edit"):
            chain_revisions.setdefault(e.record_id, {})[int(rev)] = e.data_digest
        if e.to_state:
            chain_state[e.record_id] = e.to_state
    rec_ids = {r.id for r in records}
    revisions: dict[int, list[Revision]] = {}
    if rec_ids:
        for rv in db.exec(select(Revision).where(Revision.record_id.in_(rec_ids)).order_by(Revision.record_id, Revision.number)).all():
            revisions.setdefault(rv.record_id, []).append(rv)
    for r in records:
        expected = chain_revisions.get(r.id, {})
        stored = {rv.number: rv for rv in revisions.get(r.id, [])}
        if not expected:
            problems.append(Problem(f"record {r.id}", "has no creation event in the chain"))
            continue
        for number, dig in sorted(expected.items()):
            rv = stored.get(number)
            if rv is None:
                problems.append(Problem(f"revision {r.id}/{number}", "is missing (deleted)"))
            elif digest(rv.data) != dig or rv.digest != dig:
                problems.append(Problem(f"revision {r.id}/{number}", "data changed after it was written"))
        for number in sorted(set(stored) - set(expected)):
            problems.append(Problem(f"revision {r.id}/{number}", "is not in the chain (inserted)"))
        latest = max(expected)
        if r.revision != latest or digest(r.data) != expected[latest]:
            problems.append(Problem(f"record {r.id}", "current data differs from its latest recorded revision"))
        if chain_state.get(r.id) and r.state != chain_state[r.id]:
            problems.append(Problem(f"record {r.id}", f"state '{r.state}' differs from the chain's '{chain_state[r.id]}'"))
    if expect_all:
        for rid in sorted(set(chain_revisions) - rec_ids):
            problems.append(Problem(f"record {rid}", "is missing (deleted)"))
    return problems


def count_events(db: Session, org_id: int) -> int:
    return db.exec(select(func.count()).select_from(Event).where(Event.org_id == org_id)).one()
