"""Audit tables. An engagement belongs to one organization; its team members get a time-boxed auditor
membership (workbench.models.Membership) for the engagement's access window (IAF MD 4 remote audit).

Samples, checks and findings are the auditors' artefacts: they never change the organization's records.
"""
from __future__ import annotations

from datetime import date, datetime
from typing import Optional

from sqlalchemy import JSON, BigInteger, Column, LargeBinary, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from workbench.models import utcnow

AUDIT_TYPES = ("initial", "surveillance", "recertification")
GRADES = ("conformity", "observation", "minor", "major")
NC_GRADES = ("minor", "major")
FINDING_STATES = ("noted", "open", "answered", "closed")


class Engagement(SQLModel, table=True):
    __tablename__ = "audit_engagement"
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    title: str = Field(max_length=200)
    audit_body: str = Field(default="", max_length=200)  # certification body
    standards: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    audit_type: str = Field(max_length=20)  # initial | surveillance | recertification
    period_start: date
    period_end: date
    scope_processes: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # template keys
    scope_clauses: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # [{standard, clause}]
    access_from: datetime  # auditors' remote access window (UTC)
    access_until: datetime
    programme_slot: Optional[str] = Field(default=None, max_length=20)  # workbench.cb.programme.SLOTS
    certificate_id: Optional[int] = None  # cb_certificate.id (no FK: adding one would rebuild the table on SQLite)
    audit_time: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False, server_default="{}"))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")
    # findings numbered so far: raise_finding increments it (the row lock serializes concurrent findings)
    finding_counter: int = Field(default=0, sa_column_kwargs={"server_default": "0"})


class TeamMember(SQLModel, table=True):
    """An auditor on an engagement; revoking keeps the row (who had access, and when, stays known)."""
    __tablename__ = "audit_team"
    __table_args__ = (UniqueConstraint("engagement_id", "user_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="audit_engagement.id", index=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    added_at: datetime = Field(default_factory=utcnow)
    added_by: Optional[int] = Field(default=None, foreign_key="user.id")
    revoked_at: Optional[datetime] = None
    revoked_by: Optional[int] = Field(default=None, foreign_key="user.id")


class Sample(SQLModel, table=True):
    """A seeded, recorded sample: population definition, the frozen population, the rule, the seed and the
    records drawn (in draw order). Anyone can re-draw it from these and compare (workbench.audit.sampling)."""
    __tablename__ = "audit_sample"
    id: Optional[int] = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="audit_engagement.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    number: int  # 1, 2, … within the engagement
    definition: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    rule: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    seed: int = Field(sa_column=Column(BigInteger, nullable=False))
    population_size: int
    population_ids: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # sorted record ids
    strata: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # parallel to ids, or []
    drawn: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # record ids in draw order
    draws: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # [{at, by, count}]
    digest: str = Field(default="", max_length=64)  # SHA-256 of the canonical sample, also in the event chain
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")
    # algorithm 2 (workbench.audit.frames): the frame is stored in SampleFrame chunks, population_ids stays [],
    # strata holds [stratum, size] pairs, and this is the SHA-256 of the frame's lines (in the sample's digest)
    frame_digest: Optional[str] = Field(default=None, max_length=64)


class SampleFrame(SQLModel, table=True):
    """One chunk of a sample's frozen frame (algorithm 2): zlib of consecutive frame lines (workbench.audit.frames).
    `first` is the position of its first line, `offsets` each stratum's count before it. Written once."""
    __tablename__ = "audit_sample_frame"
    __table_args__ = (UniqueConstraint("sample_id", "chunk"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    sample_id: int = Field(foreign_key="audit_sample.id", index=True)
    chunk: int
    first: int
    lines: int
    offsets: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))


class Check(SQLModel, table=True):
    """An auditor's verdict on one record in an engagement (conforming), with a note."""
    __tablename__ = "audit_check"
    __table_args__ = (UniqueConstraint("engagement_id", "record_id"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="audit_engagement.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    verdict: str = Field(default="conforming", max_length=16)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    checked_at: datetime = Field(default_factory=utcnow)
    checked_by: Optional[int] = Field(default=None, foreign_key="user.id")


class Finding(SQLModel, table=True):
    """Graded finding citing a clause and evidence records. Nonconformities are answered by the organization
    with a corrective-action record and closed by the auditor: open → answered → closed."""
    __tablename__ = "audit_finding"
    __table_args__ = (UniqueConstraint("engagement_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="audit_engagement.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    number: int
    grade: str = Field(max_length=16)  # conformity | observation | minor | major
    standard: str = Field(max_length=32)
    clause: str = Field(max_length=16)
    statement: str = Field(sa_column=Column(Text, nullable=False))
    evidence: list = Field(default_factory=list, sa_column=Column(JSON, nullable=False))  # record ids
    sample_id: Optional[int] = Field(default=None, foreign_key="audit_sample.id")
    status: str = Field(default="open", max_length=16)  # noted | open | answered | closed
    corrective_action_id: Optional[int] = Field(default=None, foreign_key="record.id")
    answer_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    answered_at: Optional[datetime] = None
    answered_by: Optional[int] = Field(default=None, foreign_key="user.id")
    closure_note: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    closed_at: Optional[datetime] = None
    closed_by: Optional[int] = Field(default=None, foreign_key="user.id")
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")

    @property
    def is_nc(self) -> bool:
        return self.grade in NC_GRADES


SEAL_KINDS = ("open", "report")


class Seal(SQLModel, table=True):
    """The head of the organization's event chain (seq + hash) when an engagement opened or its report was
    issued (workbench.audit.seals). `extends` records, for an opening seal, whether the chain then still
    contained the previous engagement's last sealed head: "ok", "broken" or "first" (nothing to compare)."""
    __tablename__ = "audit_seal"
    id: Optional[int] = Field(default=None, primary_key=True)
    engagement_id: int = Field(foreign_key="audit_engagement.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    kind: str = Field(max_length=16)  # open | report
    seq: int
    hash: str = Field(max_length=64)
    scheme: int = 1
    previous_seal_id: Optional[int] = Field(default=None, foreign_key="audit_seal.id")
    extends: str = Field(default="first", max_length=16)
    sealed_at: datetime = Field(default_factory=utcnow)
    sealed_by: Optional[int] = Field(default=None, foreign_key="user.id")
