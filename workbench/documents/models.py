"""Document-control tables: the register of controlled documents, per-organization settings, adoption history.

A `ControlledDocument` row is one version of one document (a procedure generated from one template version,
or a manual generated from the organization's records at one moment). Rows are never deleted; status moves
draft -> in_force (approved with an e-signature) -> superseded (when a successor is approved).
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from workbench.models import utcnow

DRAFT, IN_FORCE, SUPERSEDED = "draft", "in_force", "superseded"
STATUSES = (DRAFT, IN_FORCE, SUPERSEDED)
PROCEDURE, MANUAL = "procedure", "manual"


class ControlledDocument(SQLModel, table=True):
    __tablename__ = "controlled_document"
    __table_args__ = (UniqueConstraint("org_id", "number", "version"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    kind: str = Field(max_length=16)  # procedure | manual
    key: str = Field(max_length=64)  # template key, or "manual"
    number: str = Field(max_length=40)  # e.g. CX-07, SC-01
    version: int
    title: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # {zh, en}
    template_id: Optional[int] = Field(default=None, foreign_key="process_template.id")
    status: str = Field(default=DRAFT, max_length=16)
    content: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # manual snapshot
    changes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # vs predecessor
    effective_date: Optional[date] = None
    next_review: Optional[date] = None
    review_months: int = 12
    approved_by: Optional[int] = Field(default=None, foreign_key="user.id")
    approved_at: Optional[datetime] = None
    signature: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))  # {meaning, signer, signer_id}
    superseded_at: Optional[datetime] = None
    reviewed_at: Optional[datetime] = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")


class DocumentSettings(SQLModel, table=True):
    """Per organization: review interval, the standards the manual covers, the detector's thresholds."""
    __tablename__ = "document_settings"
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", unique=True)
    review_months: int = 12
    standards: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    thresholds: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class AdoptionHistory(SQLModel, table=True):
    """Every adoption of a template version (library.adopt), for "as of" views: which version was in use when."""
    __tablename__ = "adoption_history"
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    key: str = Field(max_length=64)
    template_id: int = Field(foreign_key="process_template.id")
    at: datetime = Field(default_factory=utcnow)
