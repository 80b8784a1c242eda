"""Verification of an organization's event chain and of everything the chain vouches for, in bounded memory.

The chain is streamed in sequence order in keyset batches (`seq > last ORDER BY seq LIMIT n`) as plain rows
(no ORM identity map). Records are cross-checked in batches of record ids (the events and revisions of one
batch at a time — never an `IN (...)` over all ids, which breaks SQLite's variable limit), so memory does
not grow with the size of the organization. Findings, checks and samples (an audit's artefacts, a few
hundred per organization) are compared with the last event that recorded each.

What is checked:
- every event's hash (under its scheme), its sequence number and its link to the previous event, and the chain
  head kept on the organization's row (trail.append) against the last event;
- every record: a creation event, each revision's data against the digest its event recorded, no revision
  outside the chain, its current data, revision number and state against the chain, its template against
  the creation event, and the derived columns sampling relies on (title, record_date, subject, due_date)
  recomputed from the verified revisions, and its record_link rows recomputed from its data (workbench.links);
- the record counts kept by triggers (record_day_tally, process_tally: workbench.tallies) against a GROUP BY
  over the records;
- every attached file against the digest its `attach` event recorded;
- every finding (its digest), check (verdict, note, auditor) and sample (its digest) against its last event;
- the organization's `membership` rows against the replay of the membership events (`_Memberships`): a
  staff row (member, manager, consultant) must have been created by a `membership_add` event naming its id,
  hold the role that event recorded and no validity window (grants have none), and not have been removed by a
  later `membership_remove`; a row the chain created must still exist. An auditor row must belong to a user
  the chain granted audit access here (`audit_grant`); its window follows the engagements and is not
  re-derived. Memberships that predate chaining are not reported: only rows whose id is at least the lowest
  membership id any `membership_add` event of this organization names are checked (ids only grow), and an
  organization whose chain has no membership events at all is not checked. The limit of that rule: a row
  inserted by hand with an explicit id below that first chained id goes unnoticed.

Read one consistent snapshot (`trail.snapshot(engine)`) when the database is in use.
"""
from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from datetime import date

from sqlalchemy import Text, cast, exists
from sqlmodel import Session, func, select

from workbench import links, tallies
from workbench.models import Attachment, Event, Organization, ProcessTemplate, Record, Revision
from workbench.trail import GENESIS, LEGACY_SCHEME, NotCanonical, Problem, Verification, digest, event_hash, scheme_of

EVENT_BATCH = 1000
RECORD_BATCH = 400
REVISION_ACTIONS = ("create", "edit")
DERIVED = ("title", "record_date", "subject", "due_date")


def stream_events(db: Session, org_id: int, after: int = 0, upto: int | None = None,
                  batch: int = EVENT_BATCH) -> Iterator:
    """The organization's events in sequence order (rows with Event's attributes), fetched in batches."""
    table = Event.__table__
    last = after
    while True:
        q = select(table).where(table.c.org_id == org_id, table.c.seq > last)
        if upto is not None:
            q = q.where(table.c.seq <= upto)
        rows = db.connection().execute(q.order_by(table.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def verify_org(db: Session, org_id: int) -> Verification:
    result = Verification(org_id)
    audit = _AuditArtefacts()
    members = _Memberships()
    actors = _ActorMapping()
    prev_hash, prev_id, expected = GENESIS, 0, 1
    for e in stream_events(db, org_id):
        where = f"event #{e.seq} (id {e.id})"
        if e.seq != expected:
            result.problems.append(Problem(where, f"out of order or missing: expected sequence {expected}"))
        if e.prev_hash != prev_hash:
            result.problems.append(Problem(where, "does not link to the previous event (row deleted, inserted or re-ordered)"))
        if e.id <= prev_id:
            result.problems.append(Problem(where, "stored out of order (rows re-ordered)"))
        if event_hash(e) != e.hash:
            result.problems.append(Problem(where, "content changed after it was written (hash mismatch)"))
        if e.action == "attach":
            result.problems += _attachment_problems(db, [e])
        result.problems += actors.see(e, where)
        audit.see(e)
        members.see(e)
        result.events += 1
        prev_hash, prev_id, expected = e.hash, e.id, e.seq + 1
        result.head_seq, result.head_hash = e.seq, e.hash
    result.problems += _head_problems(db, org_id, result)
    org = db.get(Organization, org_id)
    templates: dict[int, ProcessTemplate | None] = {}
    for ids in _record_id_batches(db, org_id):
        records = _stored_records(db, Record.__table__.c.id.in_(ids))
        events = db.connection().execute(select(Event.__table__).where(
            Event.__table__.c.org_id == org_id, Event.__table__.c.record_id.in_(ids)).order_by(Event.__table__.c.seq)).all()
        result.problems += _record_problems(db, org, records, events, templates)
        result.problems += links.problems(db, org_id, records, templates)
    missing = select(Event.record_id).where(Event.org_id == org_id, Event.action == "create",
                                            ~exists().where(Record.id == Event.record_id, Record.org_id == Event.org_id)
                                            ).order_by(Event.seq)
    for rid in db.exec(missing).all():
        result.problems.append(Problem(f"record {rid}", "is missing (deleted, or moved to another organization)"))
    result.problems += links.stray(db, org_id)
    result.problems += tallies.problems(db, org_id)
    result.problems += audit.problems(db, org_id)
    result.problems += members.problems(db, org_id)
    return result


def _head_problems(db: Session, org_id: int, result: Verification) -> list[Problem]:
    """The head kept on the organization's row (trail.append) must be the chain's last event."""
    org = Organization.__table__
    head = db.connection().execute(select(org.c.head_seq, org.c.head_hash).where(org.c.id == org_id)).first()
    if head is None or (head.head_seq, head.head_hash) == (result.head_seq, result.head_hash):
        return []
    return [Problem(f"organization {org_id}", f"its chain head (event #{head.head_seq} {head.head_hash[:16]}…) is not "
                    f"the chain's last event (#{result.head_seq} {result.head_hash[:16]}…): events were added, removed "
                    "or rewritten other than by appending")]


class _ActorMapping:
    """An event restored from an archive may carry the actor id its hash covers in `origin` (workbench.archive:
    users linked by e-mail get this instance's id). The mapping must be one-to-one across the whole chain, so
    re-pointing one event at another user and faking its origin does not pass unnoticed."""

    def __init__(self) -> None:
        self.forward: dict = {}
        self.back: dict = {}

    def see(self, e, where: str) -> list[Problem]:
        origin = getattr(e, "origin", None) or {}
        hashed = origin.get("actor_id", e.actor_id)
        if self.forward.setdefault(hashed, e.actor_id) != e.actor_id \
                or self.back.setdefault(e.actor_id, hashed) != hashed:
            return [Problem(where, "its actor differs from the one the restored chain maps that person to")]
        return []


def _record_id_batches(db: Session, org_id: int) -> Iterator[list[int]]:
    last = 0
    while True:
        ids = list(db.exec(select(Record.id).where(Record.org_id == org_id, Record.id > last)
                           .order_by(Record.id).limit(RECORD_BATCH)).all())
        if not ids:
            return
        yield ids
        last = ids[-1]


def verify_record(db: Session, org_id: int, record_id: int) -> Verification:
    """The record's events (hash, and links to their neighbours in the chain), revisions and state."""
    result = Verification(org_id)
    table = Event.__table__
    events = db.connection().execute(select(table).where(table.c.org_id == org_id, table.c.record_id == record_id)
                                     .order_by(table.c.seq)).all()
    result.events = len(events)
    seqs = {s for e in events for s in (e.seq - 1, e.seq + 1)} - {e.seq for e in events}
    neighbours = {n.seq: n for n in db.connection().execute(select(table).where(
        table.c.org_id == org_id, table.c.seq.in_(sorted(seqs)))).all()} if seqs else {}
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
    rec = next(iter(_stored_records(db, Record.__table__.c.id == record_id)), None)
    if rec is None or rec.org_id != org_id:
        if any(e.action == "create" for e in events):
            result.problems.append(Problem(f"record {record_id}", "is missing (deleted)"))
        return result
    result.problems += _record_problems(db, db.get(Organization, org_id), [rec], events, {})
    result.problems += _attachment_problems(db, events)
    return result


def _attachment_problems(db: Session, events) -> list[Problem]:
    """Every attached file is still there, unchanged (its SHA-256 is the one the chain recorded)."""
    problems = []
    table = Attachment.__table__
    for e in events:
        if e.action != "attach":
            continue
        att_id = (e.detail or {}).get("attachment")
        att = db.connection().execute(select(table.c.org_id, table.c.sha256, table.c.content)
                                      .where(table.c.id == att_id)).first() if att_id else None
        where = f"attachment {att_id}"
        if att is None or att.org_id != e.org_id:
            problems.append(Problem(where, "is missing (deleted)"))
        elif att.sha256 != e.data_digest or hashlib.sha256(att.content).hexdigest() != e.data_digest:
            problems.append(Problem(where, "file content changed after it was attached"))
    return problems


class _Stored:
    """A stored row (record or revision) whose JSON `data` is decoded only when read: verification compares a
    record's data with its latest revision's as text first."""
    __slots__ = ("row", "data_text", "_data")

    def __init__(self, row) -> None:
        self.row, self.data_text, self._data = row, row.data_text, _UNREAD

    def __getattr__(self, name: str):
        return getattr(self.row, name)

    @property
    def data(self):
        if self._data is _UNREAD:
            self._data = json.loads(self.data_text) if self.data_text is not None else None
        return self._data


_UNREAD = object()


def _stored_records(db: Session, where) -> list[_Stored]:
    t = Record.__table__
    columns = [c for c in t.c if c.key != "data"] + [cast(t.c.data, Text).label("data_text")]
    return [_Stored(r) for r in db.connection().execute(select(*columns).where(where))]


def _record_problems(db: Session, org: Organization | None, records, events, templates: dict) -> list[Problem]:
    """Cross-check records and their revisions against what the chain says about them (events: theirs)."""
    problems: list[Problem] = []
    chain_revisions: dict[int, dict[int, tuple[str, int]]] = {}
    chain_state: dict[int, str] = {}
    created: dict[int, object] = {}
    for e in events:
        if e.record_id is None:
            continue
        rev = (e.detail or {}).get("revision")
        if rev is not None and e.action in REVISION_ACTIONS:
            chain_revisions.setdefault(e.record_id, {})[int(rev)] = (e.data_digest, scheme_of(e))
        if e.action == "create":
            created.setdefault(e.record_id, e)
        if e.to_state:
            chain_state[e.record_id] = e.to_state
    ids = [r.id for r in records]
    revisions: dict[int, list] = {}
    if ids:
        table = Revision.__table__
        for rv in db.connection().execute(select(table.c.record_id, table.c.number, table.c.digest,
                                                 cast(table.c.data, Text).label("data_text"))
                                          .where(table.c.record_id.in_(ids)).order_by(table.c.record_id, table.c.number)):
            revisions.setdefault(rv.record_id, []).append(_Stored(rv))
    for r in records:
        expected = chain_revisions.get(r.id, {})
        stored = {rv.number: rv for rv in revisions.get(r.id, [])}
        if not expected:
            problems.append(Problem(f"record {r.id}", "has no creation event in the chain"))
            continue
        intact = True
        for number, (dig, scheme) in sorted(expected.items()):
            rv = stored.get(number)
            if rv is None:
                problems.append(Problem(f"revision {r.id}/{number}", "is missing (deleted)"))
                intact = False
            elif rv.digest != dig or _digest_or_none(rv.data, scheme) != dig:
                problems.append(Problem(f"revision {r.id}/{number}", "data changed after it was written"))
                intact = False
        for number in sorted(set(stored) - set(expected)):
            problems.append(Problem(f"revision {r.id}/{number}", "is not in the chain (inserted)"))
        latest = max(expected)
        # already digested above; the same JSON text (record and revision are written from one value) is the same data
        same = intact and latest in stored and (r.data_text == stored[latest].data_text or r.data == stored[latest].data)
        if r.revision != latest or not same and _digest_or_none(r.data, expected[latest][1]) != expected[latest][0]:
            problems.append(Problem(f"record {r.id}", "current data differs from its latest recorded revision"))
            intact = False
        if chain_state.get(r.id) and r.state != chain_state[r.id]:
            problems.append(Problem(f"record {r.id}", f"state '{r.state}' differs from the chain's '{chain_state[r.id]}'"))
        create = created.get(r.id)
        if intact and create is not None:
            problems += _derived_problems(db, org, r, create, [stored[n] for n in sorted(expected)], templates)
    return problems


def _digest_or_none(data, scheme: int) -> str | None:
    try:
        return digest(data, scheme)
    except (ValueError, NotCanonical):
        return None


def _derived_problems(db: Session, org, r, create, revisions, templates: dict) -> list[Problem]:
    """The record's template (against its creation event) and its derived columns, recomputed from its
    verified revisions exactly as records.create / records.edit compute them."""
    from workbench.records import derived_fields, local_date

    if r.template_id not in templates:
        templates[r.template_id] = db.get(ProcessTemplate, r.template_id)
    tpl = templates[r.template_id]
    detail = create.detail or {}
    if tpl is None or r.template_key != tpl.key or detail.get("template") not in (None, tpl.key) \
            or detail.get("version") not in (None, tpl.version):
        return [Problem(f"record {r.id}", "its template differs from the one it was created with")]
    expected: dict = {}
    for i, rv in enumerate(revisions):
        d = derived_fields(tpl.body, rv.data, search_text=False)  # search_text is not checked
        if i == 0:
            d["record_date"] = d["record_date"] or (local_date(create.at, org) if org else None)
            expected = d
        else:
            expected.update({k: v for k, v in d.items() if k != "record_date" or v is not None})
    out = []
    for k in DERIVED:
        have = getattr(r, k)
        if isinstance(have, date) and not isinstance(expected.get(k), date):
            have = have.isoformat()
        if have != expected.get(k) and not (k == "record_date" and expected.get(k) is None):
            out.append(Problem(f"record {r.id}", f"derived column {k} '{have}' differs from its data ('{expected.get(k)}')"))
    return out


def _rows(db: Session, model, org_id: int) -> list:
    """Plain rows as stored (never objects cached in the session's identity map)."""
    t = model.__table__
    return db.connection().execute(select(t).where(t.c.org_id == org_id).order_by(t.c.id)).all()


class _AuditArtefacts:
    """The last event recorded for each finding, check and sample while the chain streams past."""

    FINDING_ACTORS = {"audit_finding": "created_by", "audit_finding_answer": "answered_by",
                      "audit_finding_close": "closed_by"}

    def __init__(self) -> None:
        self.findings: dict[int, tuple] = {}
        self.finding_actors: dict[int, dict[str, int | None]] = {}
        self.checks: dict[tuple[int, int], object] = {}
        self.samples: dict[int, tuple] = {}

    def see(self, e) -> None:
        d = e.detail or {}
        if e.action.startswith("audit_finding") and d.get("finding") is not None:
            fid = int(d["finding"])
            self.findings[fid] = (e.seq, e.data_digest, scheme_of(e))
            who = self.finding_actors.setdefault(fid, {})
            if e.action in self.FINDING_ACTORS:
                who[self.FINDING_ACTORS[e.action]] = e.actor_id
        elif e.action == "audit_check" and d.get("record") is not None:
            self.checks[(int(d.get("engagement") or 0), int(d["record"]))] = (e.seq, d.get("verdict"), e.comment or "", e.actor_id)
        elif e.action in ("audit_sample", "audit_sample_more") and d.get("sample") is not None:
            self.samples[int(d["sample"])] = (e.seq, e.data_digest, scheme_of(e))

    def problems(self, db: Session, org_id: int) -> list[Problem]:
        from workbench.audit.models import Check, Finding, Sample
        from workbench.audit.sampling import sample_digest
        from workbench.audit.service import finding_digest

        out: list[Problem] = []
        seen = set()
        for f in _rows(db, Finding, org_id):
            seen.add(f.id)
            last = self.findings.get(f.id)
            if last is None:
                out.append(Problem(f"finding {f.id}", "is not in the chain (inserted)"))
            elif finding_digest(f, last[2]) != last[1]:
                out.append(Problem(f"finding {f.id}", f"differs from what event #{last[0]} recorded (changed)"))
            else:
                for column, actor in self.finding_actors.get(f.id, {}).items():
                    if getattr(f, column) != actor:
                        out.append(Problem(f"finding {f.id}", f"{column} differs from the chain's actor (changed)"))
        out += [Problem(f"finding {fid}", "is missing (deleted)") for fid in sorted(set(self.findings) - seen)]
        seen_checks = set()
        for c in _rows(db, Check, org_id):
            key = (c.engagement_id, c.record_id)
            seen_checks.add(key)
            last = self.checks.get(key)
            if last is None:
                out.append(Problem(f"check {c.id}", "is not in the chain (inserted)"))
            elif (c.verdict, c.note or "", c.checked_by) != last[1:]:
                out.append(Problem(f"check {c.id}", f"differs from what event #{last[0]} recorded (changed)"))
        out += [Problem(f"check of record {rid} (engagement {eid})", "is missing (deleted)")
                for eid, rid in sorted(set(self.checks) - seen_checks)]
        seen_samples = set()
        for s in _rows(db, Sample, org_id):
            seen_samples.add(s.id)
            last = self.samples.get(s.id)
            if last is None:
                out.append(Problem(f"sample {s.id}", "is not in the chain (inserted)"))
            elif s.digest != last[1] or sample_digest(s, last[2]) != last[1]:
                out.append(Problem(f"sample {s.id}", f"differs from what event #{last[0]} recorded (changed)"))
        out += [Problem(f"sample {sid}", "is missing (deleted)") for sid in sorted(set(self.samples) - seen_samples)]
        return out


class _Memberships:
    """The replay of the organization's membership events while the chain streams past (a few per org)."""

    STAFF = ("member", "manager", "consultant")

    def __init__(self) -> None:
        self.present: dict[int, tuple[int, int | None, str]] = {}  # membership id -> (seq, user, role)
        self.removed: dict[int, tuple[int, int | None, str]] = {}  # membership id -> (seq, user, role) of its removal
        self.auditors: set[int] = set()  # users the chain granted audit access
        self.chained = False

    def see(self, e) -> None:
        d = e.detail or {}
        if e.action == "membership_add" and d.get("membership") is not None:
            mid = int(d["membership"])
            self.present[mid] = (e.seq, d.get("user"), d.get("role"))
            self.removed.pop(mid, None)
            self.chained = True
        elif e.action == "membership_remove" and d.get("membership") is not None:
            mid = int(d["membership"])
            self.present.pop(mid, None)
            self.removed[mid] = (e.seq, d.get("user"), d.get("role"))
            self.chained = True
        elif e.action == "audit_grant" and d.get("auditor") is not None:
            self.auditors.add(int(d["auditor"]))

    def problems(self, db: Session, org_id: int) -> list[Problem]:
        from workbench.models import Membership

        if not self.chained:
            return []  # every membership of this organization predates chaining
        first = min([*self.present, *self.removed])
        out: list[Problem] = []
        seen = set()
        for m in _rows(db, Membership, org_id):
            seen.add(m.id)
            if m.id < first:
                continue  # predates chaining
            where = f"membership {m.id}"
            if m.role not in self.STAFF:
                if m.role != "auditor" or m.user_id not in self.auditors:
                    out.append(Problem(where, f"role '{m.role}' of user {m.user_id} was never granted in the chain (inserted)"))
                continue
            if m.id in self.removed:
                seq, user, role = self.removed[m.id]
                if (user is None or m.user_id == int(user)) and m.role == role:
                    out.append(Problem(where, f"was removed by event #{seq} but still exists (restored)"))
                else:  # SQLite may hand a removed row's id to a new one
                    out.append(Problem(where, f"is not in the chain (inserted; its id is that of the membership "
                                              f"event #{seq} removed)"))
                continue
            chain = self.present.get(m.id)
            if chain is None:
                out.append(Problem(where, "is not in the chain (inserted)"))
                continue
            seq, user, role = chain
            if (user is not None and m.user_id != int(user)) or m.role != role:
                out.append(Problem(where, f"user {m.user_id} with role '{m.role}' differs from what event #{seq} "
                                          f"recorded (user {user}, role '{role}') (changed)"))
            if m.valid_from is not None or m.valid_until is not None:
                out.append(Problem(where, f"has a validity window that event #{seq} did not record (changed)"))
        out += [Problem(f"membership {mid}", f"is missing (deleted; created by event #{self.present[mid][0]})")
                for mid in sorted(set(self.present) - seen)]
        return out


__all__ = ["LEGACY_SCHEME", "stream_events", "verify_org", "verify_record"]
