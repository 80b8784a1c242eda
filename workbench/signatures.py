"""Electronic signatures and what they are bound to, read back from the event chain.

A signed transition appends a `sign` event whose detail holds the signer, the meaning and the number and
digest of the exact revision signed (its `data_digest` is that digest too); the event's time is the
signature's time. Nothing else stores signatures, so the chain (and `trail verify`) protects them.

A signature *counts* (is in force) from the signed step until either
- the record is edited: the new revision was not signed. `records.edit` then requires a reason, appends a
  `signature_void` event and returns the record to the state before the earliest signature in force, so
  the signer signs the new revision (events written before this rule existed show the edit without the
  return: `SignedEdit.reverted` is False — the record still claims a signed state for unsigned content); or
- a later transition takes the record back to a state on its path before the signature (returned for
  rework): the signed step is undone, editing is ordinary work again. (The path is the sequence of states
  from the initial one with loops cut out, so a record signed again after rework is bound again.)

`replay` walks one record's events in chain order; every question here is answered from it.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cache
from datetime import date, datetime
from typing import Iterable

from sqlmodel import Session, select

from workbench.actions import Action
from workbench.models import Event, Record, Revision

VALID, VOID, SUPERSEDED = "valid", "void", "superseded"


@dataclass
class Signature:
    seq: int
    signer: str
    signer_id: int | None
    meaning: dict
    at: datetime
    revision: int
    digest: str
    transition: str
    from_state: str | None
    to_state: str | None
    status: str = VALID  # valid | void (edited after signature) | superseded (sent back before it)
    voided_by: "SignedEdit | None" = None
    before: set[str] = field(default_factory=set, repr=False)  # states on the record's path before it


@dataclass
class SignedEdit:
    """An edit made while signatures were in force."""
    record_id: int
    seq: int
    revision: int  # the new revision (the signed one is signatures[0].revision)
    actor: str
    at: datetime
    reason: str
    signatures: list[Signature]
    reverted: bool = False  # the record was returned to the state before the signatures
    state_before: str | None = None  # where it returned to

    @property
    def signed_revision(self) -> int:
        return self.signatures[0].revision


@dataclass
class History:
    signatures: list[Signature] = field(default_factory=list)
    edits: list[SignedEdit] = field(default_factory=list)  # edits after signature

    @property
    def in_force(self) -> list[Signature]:
        return [s for s in self.signatures if s.status == VALID and s.voided_by is None and _binding(s)]

    @property
    def unsigned_in_signed_state(self) -> bool:
        """An edit after signature left the record in the signed state (written before the rule existed)."""
        return any(not e.reverted for e in self.edits)


def _binding(s: Signature) -> bool:
    """A signed step back to an earlier state (a signed rejection) does not hold the content."""
    return s.to_state not in s.before


def replay(events: Iterable[Event]) -> History:
    """One record's events (any order; sorted by seq here) -> its signatures and the edits made after them."""
    out = History()
    revision, digests = 0, {}
    path: list[str] = []  # the states from the initial one to the current one, loops cut out
    in_force: list[Signature] = []
    for e in sorted(events, key=lambda ev: ev.seq):
        d = e.detail or {}
        if e.action in (Action.CREATE, Action.EDIT) and d.get("revision") is not None:
            revision = int(d["revision"])
            digests[revision] = e.data_digest
            if e.action == Action.EDIT and in_force:
                edit = SignedEdit(e.record_id, e.seq, revision, e.actor_name, e.at, e.comment or "", list(in_force))
                for s in in_force:
                    s.status, s.voided_by = VOID, edit
                out.edits.append(edit)
                in_force = []
        elif e.action == Action.SIGNATURE_VOID:
            for edit in out.edits:
                if edit.seq in (d.get("edit"),) or {s.seq for s in edit.signatures} & set(d.get("signatures") or []):
                    edit.reverted, edit.state_before = True, e.to_state
        if e.action in (Action.TRANSITION, Action.SIGN) and e.to_state:  # sent back before a signature: undone
            for s in [s for s in in_force if e.to_state in s.before]:
                s.status = SUPERSEDED
                in_force.remove(s)
        if e.action == Action.SIGN:
            sig = d.get("signature") or {}
            rev = int(sig.get("revision") or revision)
            s = Signature(e.seq, sig.get("signer") or e.actor_name, sig.get("signer_id", e.actor_id),
                          sig.get("meaning") or {}, e.at, rev, sig.get("digest") or digests.get(rev, ""),
                          d.get("transition", ""), e.from_state, e.to_state, before=set(path))
            out.signatures.append(s)
            if _binding(s):
                in_force.append(s)
        if e.action in (Action.CREATE, Action.TRANSITION, Action.SIGN, Action.SIGNATURE_VOID) and e.to_state:
            path = path[:path.index(e.to_state) + 1] if e.to_state in path else [*path, e.to_state]
    return out


def record_events(db: Session, rec: Record) -> list[Event]:
    return list(db.exec(select(Event).where(Event.org_id == rec.org_id, Event.record_id == rec.id)
                        .order_by(Event.seq)).all())


def of_record(db: Session, rec: Record, events: list[Event] | None = None) -> History:
    return replay(events if events is not None else record_events(db, rec))


def edited_after_signature(db: Session, org_id: int, record_ids: Iterable[int] | None = None) -> dict[int, History]:
    """Records of the organization with an edit made while a signature was in force -> their history."""
    q = select(Event).where(Event.org_id == org_id, Event.record_id.is_not(None),
                            Event.action.in_([Action.CREATE, Action.EDIT, Action.SIGN, Action.TRANSITION,
                                              Action.SIGNATURE_VOID]))
    if record_ids is not None:
        ids = list(record_ids)
        if not ids:
            return {}
        q = q.where(Event.record_id.in_(ids))
    else:  # only a record that was ever signed can have been edited after signature: replay those alone
        q = q.where(Event.record_id.in_(select(Event.record_id).where(Event.org_id == org_id, Event.action == Action.SIGN)))
    from itertools import groupby

    out = {}  # one record's events at a time (ix_event_record: organization, record, seq), not every signed record's
    for rid, events in groupby(db.exec(q.order_by(Event.record_id, Event.seq).execution_options(yield_per=1000)),
                               key=lambda e: e.record_id):
        h = replay(list(events))
        if h.edits:
            out[rid] = h
    return out


@dataclass
class EditDiff:
    edit: SignedEdit
    changes: list[tuple[str, object, object]]  # (label, signed value, edited value)


def diffs(db: Session, rec: Record, history: History, labels: dict[str, str]) -> list[EditDiff]:
    """For each edit after signature: what changed between the signed revision and the edit."""
    from workbench.records import labelled_diff

    revs = {r.number: r.data for r in db.exec(select(Revision).where(Revision.record_id == rec.id)).all()}
    return [EditDiff(e, labelled_diff(revs.get(e.signed_revision) or {}, revs.get(e.revision) or {}, labels))
            for e in history.edits]


# --- readiness: one hook in workbench/audit/readiness.py --------------------------------------------------

READINESS_CHECK, READINESS_CAUSE = "signatures", 14  # cause 14: falsified documents


def readiness_items(db: Session, org_id: int, start: date, end: date) -> list:
    """Readiness items: records dated in the period that were edited after they were signed.

    fail: a record still claims its signed state for content nobody signed (edited before the rule existed);
    warn: edited after signature and returned for signing again (the auditor will ask why); none: no item."""
    from workbench.audit.readiness import FAIL, WARN

    item = _item_class()
    flagged = edited_after_signature(db, org_id)
    recs = [r for r in db.exec(select(Record).where(Record.id.in_(list(flagged) or [0])).order_by(Record.id)).all()
            if r.record_date and start <= r.record_date <= end]
    silent = [r for r in recs if flagged[r.id].unsigned_in_signed_state]
    cap = 50  # evidence records kept (readiness.EVIDENCE); `total` says how many
    if silent:
        return [item(READINESS_CHECK, READINESS_CAUSE, FAIL, "signed_edit_unsigned", "", records=silent[:cap],
                     params={"n": len(silent), "all": len(recs)}, total=len(silent))]
    if recs:
        return [item(READINESS_CHECK, READINESS_CAUSE, WARN, "signed_edit", "", records=recs[:cap], params={"n": len(recs)},
                     total=len(recs))]
    return []  # nothing to report (an "ok" line for every organization would only be noise)


def readiness_title() -> str:
    from flask_babel import gettext as _

    return _("Records edited after signature")


@cache
def _item_class():
    """readiness.Item with this check's messages (built on first use: readiness imports this module)."""
    from flask_babel import gettext as _

    from workbench.audit.readiness import Item

    class SignatureItem(Item):
        @property
        def message(self) -> str:
            p = self.params
            return {
                "signed_edit_unsigned": _("%(n)s record(s) were edited after signature and still show the signed "
                                          "state: the content in force was never signed (%(all)s edited after "
                                          "signature in all).", n=p.get("n", 0), all=p.get("all", 0)),
                "signed_edit": _("%(n)s record(s) were edited after signature (each returned for signing again): "
                                 "check the reasons and the changes.", n=p.get("n", 0)),
            }.get(self.code, self.code)

    return SignatureItem
