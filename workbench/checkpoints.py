"""Checkpoints: the head of each organization's chain written to a file kept outside the database.

An operator writes one regularly (cron: `workbench trail checkpoint -o /backup/checkpoints/$(date +%F).json`)
and keeps the files where database administrators cannot change them (another host, WORM storage, mail).
`compare` then tells whether the current chain still has that head at that sequence number: if someone
rewrote history before it (even recomputing every hash) the hash differs; if someone deleted the last
events together with their records, the chain ends before it.

File format (JSON, UTF-8): {"format": "processbench-checkpoint-1", "written_at": ISO-8601 UTC,
"checkpoints": [{"org": slug, "org_id", "seq", "hash", "at" (the head event's time), "scheme"}]}.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from sqlmodel import Session, func, select

from workbench import trail
from workbench.models import Event, Organization, utcnow

FORMAT = "processbench-checkpoint-1"


def take(db: Session, orgs: list[Organization]) -> dict:
    out = []
    for org in orgs:
        e = trail.head(db, org.id)
        out.append({"org": org.slug, "org_id": org.id, "seq": e.seq if e else 0, "hash": e.hash if e else trail.GENESIS,
                    "at": trail.stamp(e.at) if e else None, "scheme": trail.scheme_of(e) if e else trail.SCHEME})
    return {"format": FORMAT, "written_at": trail.stamp(utcnow()), "checkpoints": out}


class BadCheckpoint(ValueError):
    pass


def load(text: str) -> list[dict]:
    """The checkpoints of a file (a single checkpoint object is accepted too)."""
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise BadCheckpoint(f"not JSON: {exc}") from None
    items = doc.get("checkpoints") if isinstance(doc, dict) and "checkpoints" in doc else [doc]
    if not isinstance(items, list):
        raise BadCheckpoint("no checkpoints in the file")
    for c in items:
        if not (isinstance(c, dict) and isinstance(c.get("org"), str) and isinstance(c.get("seq"), int)
                and isinstance(c.get("hash"), str)):
            raise BadCheckpoint("each checkpoint needs org (slug), seq (integer) and hash")
    return items


@dataclass
class Outcome:
    org: str
    ok: bool
    message: str


def compare(db: Session, org: Organization, cp: dict) -> Outcome:
    """Does the current chain contain the checkpoint's head at its sequence number?"""
    seq, want = int(cp["seq"]), cp["hash"]
    if seq == 0:
        return Outcome(org.slug, True, "checkpoint of an empty chain")
    e = db.exec(select(Event).where(Event.org_id == org.id, Event.seq == seq)).first()
    if e is None:
        last = db.exec(select(func.max(Event.seq)).where(Event.org_id == org.id)).one() or 0
        return Outcome(org.slug, False, f"TRUNCATED: the chain ends at event #{last}, before the checkpoint's "
                                        f"event #{seq} (events were deleted)")
    if e.hash != want or trail.event_hash(e) != want:
        return Outcome(org.slug, False, f"REWRITTEN: event #{seq} no longer has the checkpoint's hash {want[:16]}… "
                                        f"(history up to it was changed)")
    return Outcome(org.slug, True, f"extends the checkpoint at event #{seq}")
