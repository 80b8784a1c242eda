"""A large, valid history fast: records, their first revisions and `create` events, inserted in bulk exactly as
records.create would write them (same derived columns, digests and hashes). Used by `make bench` and by the
memory-shape test of `trail verify` (tests/test_trail_live.py)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import func, insert
from sqlmodel import select

from workbench import record_values, records, trail
from workbench.models import Event, Record, RecordValue, Revision, utcnow


def synthetic_records(db, org, tpl, n: int, user, chunk: int = 2000, scheme: int = trail.SCHEME,
                      data_for: Callable[[int], dict] | None = None) -> None:
    """Append n records of template `tpl` to `org` (the caller's session; committed per chunk). scheme=1 writes
    the history as it was stored before migration 0005 (and is much faster to hash). `data_for(i)` gives the
    i-th record's data (valid for `tpl`); by default an inspection record."""
    body = tpl.body
    head = trail.head(db, org.id)
    seq, prev = (head.seq, head.hash) if head else (0, trail.GENESIS)
    next_id = (db.exec(select(func.max(Record.id))).one() or 0) + 1
    start = date(2025, 1, 1)
    for base in range(0, n, chunk):
        recs, revs, events, values = [], [], [], []
        for i in range(base, min(n, base + chunk)):
            now = utcnow()
            data = data_for(i) if data_for else {"batch_no": f"S{i:07d}", "inspected_on": (start + timedelta(days=i % 365)).isoformat(),
                    "result": "pass", "quantity": i % 500 + 1}
            derived = records.derived_fields(body, data)
            derived["record_date"] = derived["record_date"] or records.local_date(now, org)
            dig = trail.digest(data, scheme)
            rid = next_id
            next_id += 1
            recs.append(dict(id=rid, org_id=org.id, template_id=tpl.id, template_key=tpl.key,
                             state=body["workflow"]["initial"], revision=1, data=data, created_at=now, updated_at=now,
                             created_by=user.id, updated_by=user.id, **derived))
            values += record_values.rows_of(rid, org.id, tpl.key, body, data)
            revs.append(dict(record_id=rid, number=1, data=data, digest=dig, created_at=now, created_by=user.id))
            seq += 1
            e = Event(org_id=org.id, seq=seq, record_id=rid, actor_id=user.id, actor_name=user.name, at=now,
                      action="create", from_state=None, to_state=body["workflow"]["initial"], comment="",
                      detail={"revision": 1, "template": tpl.key, "version": tpl.version}, data_digest=dig,
                      prev_hash=prev, hash="", scheme=scheme)
            e.hash = prev = trail.event_hash(e)
            events.append({k: getattr(e, k) for k in ("org_id", "seq", "record_id", "actor_id", "actor_name", "at", "action",
                                                      "from_state", "to_state", "comment", "detail", "data_digest",
                                                      "prev_hash", "hash", "scheme")})
        db.execute(insert(Record), recs)
        db.execute(insert(Revision), revs)
        db.execute(insert(Event), events)
        db.execute(insert(RecordValue), values)
        db.commit()
