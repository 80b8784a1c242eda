"""Audit report issuance tables (workbench.audit.issuance): report revisions with the team's conclusion, and the
audit team's e-signatures on them.

A report revision is a draft until it is issued; issuing freezes it (the rendered report and its SHA-256 are
stored and never change). A later change needs a new revision, with a reason; the earlier one is kept as
"superseded". Each team member signs a revision by re-entering the password; the signature stores the digest
of the conclusion it signed, so a conclusion changed after signing no longer counts as signed.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from workbench.models import utcnow

RECOMMENDATIONS = ("certify", "continue", "suspend")
REPORT_STATES = ("draft", "issued", "superseded")


class AuditReport(SQLModel, table=True):
    __tablename__ = "audit_report"
    __table_args__ = (UniqueConstraint("engagement_id", "revision"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="audit_engagement.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    revision: int = 1
    status: str = Field(default="draft", max_length=16)  # draft | issued | superseded
    recommendation: str = Field(default="", max_length=16)  # certify | continue | suspend
    statement: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    issue_date: Optional[date] = None
    reason: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # why this revision (2, 3, …)
    content_html: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))  # frozen at issue
    digest: str = Field(default="", max_length=64)  # SHA-256 of content_html, at issue
    issued_at: Optional[datetime] = None
    issued_by: Optional[int] = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")


class ReportSignature(SQLModel, table=True):
    __tablename__ = "audit_report_signature"
    __table_args__ = (UniqueConstraint("report_id", "user_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    report_id: int = Field(foreign_key="audit_report.id", index=True)
    user_id: int = Field(foreign_key="user.id")
    meaning: str = Field(default="", max_length=64)
    digest: str = Field(max_length=64)  # of the conclusion signed (see issuance.conclusion_digest)
    signed_at: datetime = Field(default_factory=utcnow)
