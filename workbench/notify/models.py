"""Notification tables: the outbox (every outgoing message, with its delivery state), in-app notifications,
per-user settings and per-organization robot channels.

Outbox states: pending → sending (claimed by one worker, with a lease) → sent; a failed attempt goes back to
pending with `next_at` pushed out exponentially; after MAX_ATTEMPTS it is `failed` (kept, shown to the admin,
retried on request). `dedupe_key` is unique: the same message can never be queued twice.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from workbench.models import utcnow


class Outbox(SQLModel, table=True):
    __tablename__ = "outbox"
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)
    channel: str = Field(max_length=16)  # email | wecom | dingtalk | webhook
    target: str = Field(sa_column=Column(Text, nullable=False))  # address or URL
    payload: dict = Field(sa_column=Column(JSON, nullable=False))
    dedupe_key: str = Field(sa_column=Column(String(200), unique=True, nullable=False))
    state: str = Field(default="pending", max_length=16, index=True)  # pending | sending | sent | failed
    attempts: int = 0
    next_at: datetime = Field(default_factory=utcnow, index=True)
    claimed_by: Optional[str] = Field(default=None, max_length=64)
    lease_until: Optional[datetime] = None
    last_error: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    created_at: datetime = Field(default_factory=utcnow)
    sent_at: Optional[datetime] = None


class Notification(SQLModel, table=True):
    """In-app: always on. One row per (user, dedupe key)."""
    __tablename__ = "notification"
    __table_args__ = (UniqueConstraint("user_id", "dedupe_key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    org_id: Optional[int] = Field(default=None, foreign_key="organization.id")
    kind: str = Field(max_length=32)
    text: str = Field(sa_column=Column(Text, nullable=False))
    link: str = Field(default="", max_length=300)
    dedupe_key: str = Field(max_length=200)
    created_at: datetime = Field(default_factory=utcnow)
    read_at: Optional[datetime] = None


class NotifyPref(SQLModel, table=True):
    """A user's channels besides in-app: email, and a personal webhook signed with HMAC-SHA256."""
    __tablename__ = "notify_pref"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", unique=True)
    email: bool = True
    webhook_url: str = Field(default="", max_length=500)
    webhook_secret: str = Field(default="", max_length=128)


class OrgChannel(SQLModel, table=True):
    """An organization's group robot (企业微信 / 钉钉): receives due reminders, findings and the daily digest."""
    __tablename__ = "org_channel"
    __table_args__ = (UniqueConstraint("org_id", "kind"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    kind: str = Field(max_length=16)  # wecom | dingtalk
    url: str = Field(max_length=500)
    secret: str = Field(default="", max_length=128)  # 钉钉 加签 secret (optional)
    enabled: bool = True
