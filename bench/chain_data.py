"""A large, valid history fast: records, their first revisions and `create` events, inserted in bulk exactly as
records.create would write them (same derived columns, digests and hashes), moving the organization's chain head
(organization.head_seq / head_hash, as trail.append does) with each chunk. Used by `make bench` and by the
memory-shape test of `trail verify` (tests/test_trail_live.py)."""
from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import func, insert, text, update
from sqlmodel import select

from workbench import latest, links, record_values, records, trail
from workbench.models import Event, Organization, Record, RecordValue, Revision, utcnow


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
        recs, revs, events, wanted, values = [], [], [], [], []
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
            wanted += [(rid, f, t) for f, t in links.targets(body, data).items()]
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
        if db.get_bind().dialect.name == "postgresql":  # ids given explicitly: move the id sequence past them
            db.execute(text("SELECT setval(pg_get_serial_sequence('record', 'id'), :n)"), {"n": next_id - 1})
        db.execute(insert(Revision), revs)
        db.execute(insert(Event), events)
        db.execute(update(Organization).where(Organization.id == org.id).values(head_seq=seq, head_hash=prev))
        if wanted:  # record_link rows, as records.create writes them (targets: records of the organization)
            found = set(db.exec(select(Record.id).where(Record.org_id == org.id,
                                                        Record.id.in_({t for _r, _f, t in wanted}))).all())
            rows = [dict(from_record_id=r, field=f, org_id=org.id, to_record_id=t) for r, f, t in wanted if t in found]
            if rows:
                db.execute(insert(links.RecordLink), rows)
        db.execute(insert(RecordValue), values)
        db.commit()
    latest.rebuild(db, org.id, tpl.key)  # each subject's latest record (set-based, as migration 0016 fills it)
    db.commit()
