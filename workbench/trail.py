"""The append-only, hash-chained event log (one chain per organization) and its verification.

Each event's hash is SHA-256 over the canonical JSON of its own fields plus the previous event's hash.
Which canonical JSON is the event's *scheme*, stored per event (column `event.scheme`):

- scheme 1 (events written before migration 0005): Python's ``json.dumps(sort_keys=True, separators=(",", ":"),
  ensure_ascii=False)`` in UTF-8. Existing chains keep verifying under it; nothing is rewritten.
- scheme 2 (every new event): RFC 8785 JCS (the `rfc8785` package; values on which Python's C JSON encoder
  provably gives the same bytes take that faster path), and the payload names its scheme
  (``"scheme": 2``), so a verifier in any language can recompute hashes. The digests an event carries
  (`data_digest` of a revision, a sample, a finding) are computed with the same scheme as the event.

The head of each chain (seq and hash of its last event) is kept on the organization's row (migration 0018) and
moved only by `append`, whose UPDATE of that row is also the chain's lock; writers that bypass `append` (the bulk
generator of the benchmarks, archive import) set it with `set_heads`.

`verify` (workbench.integrity) recomputes the chain and cross-checks records, revisions, attachments,
derived columns, findings and checks against it, so changing, deleting or re-ordering any stored row is
detected and located. `snapshot` gives it one consistent view of a live database. Checkpoints
(workbench.checkpoints) anchor the head outside the database.
"""
from __future__ import annotations

import hashlib
import json
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Iterator

import rfc8785
from flask_babel import gettext as _
from sqlalchemy import bindparam, text
from sqlalchemy.engine import Engine
from sqlmodel import Session, func, select

from workbench.errors import UserError
from workbench.models import Event, Organization, utcnow

GENESIS = "0" * 64
LEGACY_SCHEME = 1
SCHEME = 2  # RFC 8785
SCHEMES = (LEGACY_SCHEME, SCHEME)


class NotCanonical(UserError):
    """A value without an RFC 8785 form (an integer beyond ±2**53−1, NaN): it cannot be stored and hashed."""


def canonical(obj: Any) -> str:
    """Scheme 1's canonical JSON (also used to compare two values for equality)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)


_SAFE_INT = 2**53 - 1


def _json_equals_jcs(v: Any) -> bool:
    """True when Python's sorted compact JSON of `v` is byte for byte its RFC 8785 form: only plain dicts (str keys
    without characters beyond U+FFFF, where UTF-16 and code-point order differ), lists, str, bool, None and
    integers within ±(2**53−1) — no floats (their ECMAScript form differs), tuples or other types.
    (A loop over a stack, not recursion: every save and every verified revision pass here.)"""
    stack = [v]
    pop, push, extend = stack.pop, stack.append, stack.extend
    while stack:
        v = pop()
        t = type(v)
        if t is str or t is bool or v is None:
            continue
        if t is int:
            if not -_SAFE_INT <= v <= _SAFE_INT:
                return False
        elif t is dict:
            for k, x in v.items():
                if type(k) is not str or not (k.isascii() or max(k) <= "\uffff"):
                    return False
                push(x)
        elif t is list:
            extend(v)
        else:
            return False
    return True


def canonical_bytes(obj: Any, scheme: int = SCHEME) -> bytes:
    if scheme == LEGACY_SCHEME:
        return canonical(obj).encode("utf-8")
    if _json_equals_jcs(obj):  # fast path (C json encoder); tests/test_trail_anchoring.py checks it equals rfc8785
        try:
            return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError:  # a lone surrogate: the package refuses it below
            pass
    try:
        try:
            return rfc8785.dumps(obj)
        except rfc8785.CanonicalizationError:
            # not plain JSON (dates, integer keys…): hash what the database stores, the value's JSON round trip
            return rfc8785.dumps(json.loads(json.dumps(obj, ensure_ascii=False, default=str)))
    except (rfc8785.CanonicalizationError, ValueError) as exc:
        raise NotCanonical(_("A number is too large (or not a number) to be stored exactly: "
                             "numbers must lie within ±9007199254740991; enter it as text.")) from exc


def digest(obj: Any, scheme: int = SCHEME) -> str:
    return hashlib.sha256(canonical_bytes(obj, scheme)).hexdigest()


def stamp(at: datetime) -> str:
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


_stamp = stamp  # older name


def event_payload(e) -> dict:
    """What an event's hash covers (`e`: an Event or a row with the same attributes)."""
    payload = {
        "org_id": e.org_id, "seq": e.seq, "record_id": e.record_id, "actor_id": e.actor_id,
        "actor_name": e.actor_name, "at": stamp(e.at), "action": e.action, "from_state": e.from_state,
        "to_state": e.to_state, "comment": e.comment or "", "detail": e.detail or {},
        "data_digest": e.data_digest or "", "prev_hash": e.prev_hash,
    }
    if scheme_of(e) != LEGACY_SCHEME:
        payload["scheme"] = scheme_of(e)
    origin = getattr(e, "origin", None)  # an imported event whose org / actor id was remapped (workbench.archive)
    if origin:
        payload.update({k: v for k, v in origin.items() if k in ("org_id", "actor_id")})
    return payload


def scheme_of(e) -> int:
    return getattr(e, "scheme", None) or LEGACY_SCHEME


def event_hash(e) -> str:
    scheme = scheme_of(e)
    if scheme not in SCHEMES:
        return ""  # unknown scheme: never matches
    return digest(event_payload(e), scheme)


@dataclass
class Appended:
    """The event `append` wrote (its columns; not an ORM object: load `Event` rows to change nothing anyway)."""
    id: int
    org_id: int
    seq: int
    record_id: int | None
    actor_id: int | None
    actor_name: str
    at: datetime
    action: str
    from_state: str | None
    to_state: str | None
    comment: str
    detail: dict
    data_digest: str
    prev_hash: str
    hash: str
    scheme: int
    origin: dict | None = None


_ORG, _EVENT = Organization.__table__, Event.__table__
_EVENT_COLUMNS = tuple(k for k in _EVENT.c.keys() if k not in ("id", "origin"))
# the head moves from the one this process last wrote (org id -> (seq, hash) in `_heads`, a guess) …
_ADVANCE = _ORG.update().where(_ORG.c.id == bindparam("o"), _ORG.c.head_seq == bindparam("s0"),
                               _ORG.c.head_hash == bindparam("h0")).values(head_seq=bindparam("s"), head_hash=bindparam("h"))
_heads: dict[int, tuple[int, str]] = {}
# … or, when another process moved it, from the one read under the lock
_TAKE = _ORG.update().where(_ORG.c.id == bindparam("o")).values(head_seq=_ORG.c.head_seq + 1) \
    .returning(_ORG.c.head_seq, _ORG.c.head_hash)
_SET_HASH = _ORG.update().where(_ORG.c.id == bindparam("o")).values(head_hash=bindparam("h"))
_INSERT = _EVENT.insert()


def append(db: Session, org_id: int, action: str, *, record_id: int | None = None, actor=None,
           from_state: str | None = None, to_state: str | None = None, comment: str = "",
           detail: dict | None = None, data_digest: str = "", at: datetime | None = None) -> Appended:
    """Add the next event of the organization's chain in the session's transaction (the caller commits).

    The chain's head (seq, hash of the last event) lives on the organization's row and is advanced by an UPDATE
    of that row, which holds the row (PostgreSQL: FOR NO KEY UPDATE, which does not conflict with the key-share
    locks that inserting rows referencing the organization take; SQLite: the database's write lock) until the
    transaction ends, so concurrent requests of several workers append one after the other. One statement in
    the usual case: `UPDATE … SET head = (new) WHERE head = (the head this process last wrote)`; when another
    process (or a rolled-back transaction) moved the head, `UPDATE … SET head_seq = head_seq + 1 RETURNING` reads
    it under the lock and a second UPDATE stores the new hash. Then one INSERT of the event.
    `data_digest` must be `digest(...)` of the current scheme.
    """
    db.flush()  # pending rows first (the event refers to them), as before the chain is taken
    e = Appended(id=0, org_id=org_id, seq=0, record_id=record_id, actor_id=getattr(actor, "id", None),
                 actor_name=getattr(actor, "name", "") or "", at=at or utcnow(), action=action, from_state=from_state,
                 to_state=to_state, comment=comment or "", data_digest=data_digest, prev_hash=GENESIS, hash="",
                 detail=json.loads(json.dumps(detail or {}, ensure_ascii=False, default=str)), scheme=SCHEME)
    conn = db.connection()
    guess = _heads.get(org_id)
    moved = 0
    if guess is not None:
        e.seq, e.prev_hash = guess[0] + 1, guess[1]
        e.hash = event_hash(e)
        moved = conn.execute(_ADVANCE, {"o": org_id, "s0": guess[0], "h0": guess[1], "s": e.seq, "h": e.hash}).rowcount
    if moved != 1:
        e.seq, e.prev_hash = conn.execute(_TAKE, {"o": org_id}).one()
        e.hash = event_hash(e)
        conn.execute(_SET_HASH, {"o": org_id, "h": e.hash})
    _heads[org_id] = (e.seq, e.hash)
    e.id = conn.execute(_INSERT, {k: getattr(e, k) for k in _EVENT_COLUMNS}).inserted_primary_key[0]
    return e


def set_heads(conn, org_id: int | None = None) -> None:
    """Set the chain head of one organization (or all) from its events, set-based: after rows were written
    without `append` (bulk generators, archive import)."""
    where = "WHERE organization.id = :o" if org_id is not None else ""
    conn.execute(text(
        "UPDATE organization SET "
        "head_seq = COALESCE((SELECT e.seq FROM event e WHERE e.org_id = organization.id ORDER BY e.seq DESC LIMIT 1), 0), "
        "head_hash = COALESCE((SELECT e.hash FROM event e WHERE e.org_id = organization.id "
        f"ORDER BY e.seq DESC LIMIT 1), '{GENESIS}') {where}"), {"o": org_id} if org_id is not None else {})


def head(db: Session, org_id: int) -> Event | None:
    return db.exec(select(Event).where(Event.org_id == org_id).order_by(Event.seq.desc()).limit(1)).first()


def count_events(db: Session, org_id: int) -> int:
    return db.exec(select(func.count()).select_from(Event).where(Event.org_id == org_id)).one()


@contextmanager
def snapshot(engine: Engine) -> Iterator[Session]:
    """A read-only session on one consistent snapshot of the database, for as long as the block runs:
    REPEATABLE READ on PostgreSQL; on SQLite (WAL) an explicit BEGIN, whose first read fixes the snapshot."""
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        elif conn.dialect.name == "sqlite":
            conn.exec_driver_sql("BEGIN")
        with Session(bind=conn, autoflush=False) as s:
            yield s
        conn.rollback()


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
    head_seq: int = 0
    head_hash: str = GENESIS

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def first(self) -> Problem | None:
        return self.problems[0] if self.problems else None


def verify(db: Session, org_id: int, record_id: int | None = None) -> Verification:
    """Recompute the organization's chain; with record_id, check only what touches that record.
    For a live database, pass a session from `snapshot(engine)`."""
    from workbench import integrity

    if record_id is not None:
        return integrity.verify_record(db, org_id, record_id)
    return integrity.verify_org(db, org_id)
