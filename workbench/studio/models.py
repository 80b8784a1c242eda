"""Studio tables. Published versions are `ProcessTemplate` rows (immutable); everything editable is a draft.

A `StudioDraft` belongs either to an organization (`org_id`: any author there — consultant, manager,
admin — may edit it and publish it as the organization's next version of `key`) or to one consultant
(`owner_user_id`: the personal library, reusable across clients; never used for records directly).
Personal templates are not stored as ProcessTemplate rows because `org_id IS NULL` there means "the
shipped library", which every new organization adopts.
"""
from __future__ import annotations

from datetime import datetime
from typing import Optional

from sqlalchemy import JSON, Column, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from workbench.models import utcnow


class StudioDraft(SQLModel, table=True):
    __tablename__ = "studio_draft"
    __table_args__ = (UniqueConstraint("org_id", "key"), UniqueConstraint("owner_user_id", "key"))
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)
    owner_user_id: Optional[int] = Field(default=None, foreign_key="user.id", index=True)
    key: str = Field(max_length=64)
    body: dict = Field(sa_column=Column(JSON, nullable=False))
    base_template_id: Optional[int] = Field(default=None, foreign_key="process_template.id")  # cloned from
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: Optional[int] = Field(default=None, foreign_key="user.id")

    @property
    def personal(self) -> bool:
        return self.org_id is None


class TemplateRelease(SQLModel, table=True):
    """The release note (变更说明) of a published version, and what the publisher was shown it would change for
    existing records. One row per published version; like the version, it never changes."""
    __tablename__ = "template_release"
    id: Optional[int] = Field(default=None, primary_key=True)
    template_id: int = Field(foreign_key="process_template.id", unique=True, index=True)
    note: str = Field(sa_column=Column(Text, nullable=False))
    impact: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # lines shown before publishing
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")
