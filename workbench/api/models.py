"""Personal access tokens: one user, one organization, scopes, expiry, revocation; stored as SHA-256 only."""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, String
from sqlmodel import Field, SQLModel

from workbench.models import utcnow


class ApiToken(SQLModel, table=True):
    __tablename__ = "api_token"
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    name: str = Field(default="", max_length=100)
    prefix: str = Field(max_length=16)  # shown in lists so the owner can tell tokens apart
    token_hash: str = Field(sa_column=Column(String(64), unique=True, nullable=False, index=True))
    scopes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    expires_at: Optional[datetime] = None
    revoked_at: Optional[datetime] = None
    last_used_at: Optional[datetime] = None


class OrgWebhook(SQLModel, table=True):
    """A URL an organization's admin registered for record events; deliveries are HMAC-SHA256 signed with `secret`."""
    __tablename__ = "api_webhook"
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    url: str = Field(max_length=500)
    secret: str = Field(max_length=64)
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")
