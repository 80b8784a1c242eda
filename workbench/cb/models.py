"""Certification-body tables: certificates (one per organization and standard) and client grants.

The organization's own registry facts (credit code, discharge permit) and its kind (client or
certification body) live on `Organization`; the engagement's programme slot and audit-time calculation on
`audit_engagement` (columns added by migration 0011).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from workbench.models import utcnow

CERT_STATUSES = ("valid", "suspended", "withdrawn", "expired")


class Certificate(SQLModel, table=True):
    __tablename__ = "cb_certificate"
    __table_args__ = (UniqueConstraint("cb_org_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)  # the certified client
    cb_org_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)  # the issuing body
    standard: str = Field(max_length=32)  # ISO9001 | ISO14001 | ISO45001
    number: str = Field(max_length=64)
    scope: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    sites: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    decision_date: date  # certification decision: the programme's due dates count from it
    issue_date: date
    expiry_date: date
    status: str = Field(default="valid", max_length=16)
    headcount: Optional[int] = None  # effective personnel at certification (audit-time band)
    scope_processes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # certified processes
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class Grant(SQLModel, table=True):
    """A client organization lets a certification body's staff see its portfolio data (read only).
    Revoking keeps the row; the client's event chain records both."""
    __tablename__ = "cb_grant"
    id: Optional[int] = Field(default=None, primary_key=True)
    client_org_id: int = Field(foreign_key="organization.id", index=True)
    cb_org_id: int = Field(foreign_key="organization.id", index=True)
    granted_at: datetime = Field(default_factory=utcnow)
    granted_by: Optional[int] = Field(default=None, foreign_key="user.id")
    revoked_at: Optional[datetime] = None
    revoked_by: Optional[int] = Field(default=None, foreign_key="user.id")


class DigestSent(SQLModel, table=True):
    """Which anomalies a certification body's weekly digest already reported (so the next one says only new ones)."""
    __tablename__ = "cb_digest_sent"
    __table_args__ = (UniqueConstraint("cb_org_id", "client_org_id", "anomaly_key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    cb_org_id: int = Field(foreign_key="organization.id", index=True)
    client_org_id: int = Field(foreign_key="organization.id")
    anomaly_key: str = Field(max_length=200)
    sent_at: datetime = Field(default_factory=utcnow)
