"""The outbox: every outgoing message (email, 企业微信 / 钉钉 robot, signed webhook) is a row first, sent later.

    enqueue(db, channel, target, payload, dedupe_key)  # in the caller's transaction; a repeated key is a no-op
    deliver(engine, worker="w1")                          # `workbench deliver`: claim, send, record the outcome

Guarantees:
- nothing is sent twice: `dedupe_key` is unique, and a worker claims a row with one conditional UPDATE
  (`... WHERE id = :id AND state = 'pending'`); two workers at once never both get rowcount 1. Receivers also
  get the key (webhook header `X-Workbench-Delivery`, email `Message-ID`) so a crash between sending and
  recording the result is recognisable downstream.
- nothing is dropped: a failure (SMTP down, HTTP 5xx, timeout) puts the row back to `pending` with
  `next_at = now + BACKOFF_BASE · 2^attempts` (capped); after MAX_ATTEMPTS it becomes `failed`, stays in the
  table, is listed for the admin (/admin/outbox) and can be retried. A worker that dies while sending leaves
  a `sending` row whose lease expires; the next run takes it again.
"""
from __future__ import annotations

import socket
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from workbench.models import utcnow
from workbench.notify.models import Outbox

CHANNELS = ("email", "wecom", "dingtalk", "webhook")
MAX_ATTEMPTS = 8
BACKOFF_BASE = timedelta(minutes=1)
BACKOFF_CAP = timedelta(hours=6)
LEASE = timedelta(minutes=5)


def enqueue(db: Session, channel: str, target: str, payload: dict, dedupe_key: str, org_id: int | None = None) -> bool:
    """Queue one message in the caller's transaction. False when `dedupe_key` was queued before (nothing added)."""
    if channel not in CHANNELS:
        raise ValueError(f"unknown channel {channel!r}")
    if db.exec(select(Outbox.id).where(Outbox.dedupe_key == dedupe_key)).first() is not None:
        return False
    try:
        with db.begin_nested():
            db.add(Outbox(channel=channel, target=target, payload=payload, dedupe_key=dedupe_key[:200], org_id=org_id))
    except IntegrityError:  # another transaction queued the same key at the same moment
        return False
    return True


def backoff(attempts: int) -> timedelta:
    return min(BACKOFF_CAP, BACKOFF_BASE * (2 ** max(0, attempts - 1)))


@dataclass
class DeliveryReport:
    sent: list[int] = field(default_factory=list)
    retry: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)


def claim(engine: Engine, worker: str, now: datetime | None = None, limit: int = 50) -> list[int]:
    """Atomically take up to `limit` due rows for `worker` (pending, or sending with an expired lease)."""
    now = now or utcnow()
    with Session(engine) as db:
        ids = db.exec(select(Outbox.id).where(
            ((Outbox.state == "pending") & (Outbox.next_at <= now))
            | ((Outbox.state == "sending") & (Outbox.lease_until < now))).order_by(Outbox.id).limit(limit)).all()
    mine = []
    for oid in ids:
        with Session(engine) as db:
            res = db.exec(update(Outbox).where(
                Outbox.id == oid,
                ((Outbox.state == "pending") & (Outbox.next_at <= now))
                | ((Outbox.state == "sending") & (Outbox.lease_until < now)))
                .values(state="sending", claimed_by=worker, lease_until=now + LEASE))
            db.commit()
            if res.rowcount == 1:
                mine.append(oid)
    return mine


def deliver(engine: Engine, worker: str | None = None, now: datetime | None = None, send=None) -> DeliveryReport:
    """Send every due message once. `send(row)` raises on failure (default: workbench.notify.channels.send)."""
    from workbench.notify import channels

    worker = worker or f"{socket.gethostname()}:{uuid.uuid4().hex[:8]}"
    send = send or channels.send
    report = DeliveryReport()
    for oid in claim(engine, worker, now):
        with Session(engine) as db:
            row = db.get(Outbox, oid)
            error = ""
            try:
                send(row)
            except Exception as e:  # noqa: BLE001 - every failure is recorded on the row and retried
                error = f"{type(e).__name__}: {e}"[:2000]
            at = utcnow()
            if row.claimed_by != worker:  # our lease expired and someone else took it: leave it to them
                continue
            row.attempts += 1
            row.lease_until = None
            if not error:
                row.state, row.sent_at, row.last_error = "sent", at, ""
                report.sent.append(oid)
            elif row.attempts >= MAX_ATTEMPTS:
                row.state, row.last_error = "failed", error
                report.failed.append(oid)
            else:
                row.state, row.last_error, row.next_at = "pending", error, (now or at) + backoff(row.attempts)
                report.retry.append(oid)
            db.add(row)
            db.commit()
    return report


def retry(db: Session, oid: int) -> None:
    """Admin: send a failed message again (resets its attempts)."""
    row = db.get(Outbox, oid)
    if row is not None and row.state == "failed":
        row.state, row.attempts, row.next_at = "pending", 0, utcnow()
        db.add(row)


def problems(db: Session, limit: int = 200) -> list[Outbox]:
    """Messages that failed at least once and are not sent yet (for the admin)."""
    return list(db.exec(select(Outbox).where(Outbox.state != "sent", Outbox.last_error != "")
                         .order_by(Outbox.id.desc()).limit(limit)).all())
