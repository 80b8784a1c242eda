"""SQLModel tables. One organization (tenant) owns its records, revisions and events."""
from __future__ import annotations

from datetime import date, datetime, timezone
from typing import Optional

from sqlalchemy import JSON, Column, Index, LargeBinary, String, Text, UniqueConstraint
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(timezone.utc)  # SQLModel's UTCDateTime stores aware UTC datetimes


ROLES = ("member", "manager", "consultant", "auditor")


class Organization(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    slug: str = Field(sa_column=Column(String(64), unique=True, nullable=False, index=True))
    name: str = Field(max_length=200)
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    headcount: Optional[int] = None
    kind: str = Field(default="client", max_length=16, sa_column_kwargs={"server_default": "client"})  # client | cb (certification body)
    credit_code: Optional[str] = Field(default=None, max_length=18)  # 统一社会信用代码 (GB 32100-2015)
    discharge_permit_no: Optional[str] = Field(default=None, max_length=64)  # 排污许可证编号
    discharge_permit_expiry: Optional[date] = None
    created_at: datetime = Field(default_factory=utcnow)
    # the head of the organization's event chain (seq and hash of its last event): written only by trail.append in
    # the appending transaction (its UPDATE is the chain's lock), checked against the chain by `trail verify`
    head_seq: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    head_hash: str = Field(default="0" * 64, max_length=64, sa_column_kwargs={"server_default": "0" * 64})


class User(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    email: str = Field(sa_column=Column(String(254), unique=True, nullable=False, index=True))
    name: str = Field(max_length=120)
    password_hash: str = Field(max_length=255)
    is_admin: bool = False
    locale: Optional[str] = Field(default=None, max_length=8)
    failed_logins: int = 0
    locked_until: Optional[datetime] = None
    # rotated by sign-out, password change and "sign out everywhere": a session carrying an older token is void
    session_token: Optional[str] = Field(default=None, max_length=64)
    created_at: datetime = Field(default_factory=utcnow)


class Membership(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("user_id", "org_id", "role"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    user_id: int = Field(foreign_key="user.id", index=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    role: str = Field(max_length=16)
    valid_from: Optional[datetime] = None  # auditors: access window of their engagement
    valid_until: Optional[datetime] = None
    engagement_id: Optional[int] = None


class ProcessTemplate(SQLModel, table=True):
    """One immutable version of a template. org_id NULL: the shipped library."""
    __tablename__ = "process_template"
    __table_args__ = (UniqueConstraint("org_id", "key", "version"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: Optional[int] = Field(default=None, foreign_key="organization.id", index=True)
    key: str = Field(max_length=64, index=True)
    version: int
    status: str = Field(default="published", max_length=16)  # draft | published
    body: dict = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")


class Adoption(SQLModel, table=True):
    """Which template version an organization currently uses for a process."""
    __table_args__ = (UniqueConstraint("org_id", "key"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    key: str = Field(max_length=64)
    template_id: int = Field(foreign_key="process_template.id")
    adopted_at: datetime = Field(default_factory=utcnow)


class Record(SQLModel, table=True):
    # lists: one process of one organization, by date (search/filter/sort/page in SQL, workbench.listing)
    # ix_record_frame: coverage counts and sample frames (period, clause's template versions, process, state)
    # read from the index alone, without the records' JSON (workbench.audit.coverage / frames)
    __table_args__ = (Index("ix_record_list", "org_id", "template_key", "record_date", "id"),
                      Index("ix_record_frame", "org_id", "record_date", "template_id", "template_key", "state", "id"))
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    template_id: int = Field(foreign_key="process_template.id")
    template_key: str = Field(max_length=64, index=True)
    state: str = Field(max_length=32, index=True)
    revision: int = 1
    data: dict = Field(sa_column=Column(JSON, nullable=False))
    # derived from data at every save, for lists, sampling, coverage and schedules
    title: str = Field(default="", max_length=300)
    record_date: Optional[date] = Field(default=None, index=True)
    subject: Optional[str] = Field(default=None, max_length=200)
    due_date: Optional[date] = None
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")
    updated_at: datetime = Field(default_factory=utcnow)
    updated_by: Optional[int] = Field(default=None, foreign_key="user.id")
    # list search (workbench.search): title, subject and the data's strings, ASCII lower-case; indexed by
    # SQLite FTS5 trigram (table record_search, triggers) / PostgreSQL pg_trgm (migration 0019)
    search_text: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))


# to-do (#11): records one may act on, per process and state (and the latest done one by date); records a person made
Index("ix_record_todo", Record.org_id, Record.template_key, Record.state, Record.record_date)
Index("ix_record_author", Record.org_id, Record.created_by, Record.template_key, Record.state)


class RecordValue(SQLModel, table=True):
    """Each record's top-level scalar field values (workbench.record_values), derived from record.data at every
    save: a list sorts by a field and filters on enum / date / boolean fields by walking ix_record_value."""
    __tablename__ = "record_value"
    __table_args__ = (Index("ix_record_value", "org_id", "template_key", "field", "vnum", "vtext", "record_id"),
                      {"sqlite_with_rowid": False})  # SQLite: the primary key holds the row (one look-up per check)
    record_id: int = Field(primary_key=True)  # no foreign key: derived rows, removed with their record's org
    field: str = Field(primary_key=True, max_length=200)
    org_id: int = Field(foreign_key="organization.id")
    template_key: str = Field(max_length=64)
    vtext: Optional[str] = Field(default=None, sa_column=Column(Text, nullable=True))  # strings; booleans 'true'/'false'
    vnum: Optional[float] = None  # numbers; booleans 1 / 0


class Revision(SQLModel, table=True):
    __table_args__ = (UniqueConstraint("record_id", "number"),)
    id: Optional[int] = Field(default=None, primary_key=True)
    record_id: int = Field(foreign_key="record.id", index=True)
    number: int
    data: dict = Field(sa_column=Column(JSON, nullable=False))
    digest: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")


class Event(SQLModel, table=True):
    """Append-only, hash-chained per organization: hash = SHA-256(canonical JSON of the fields + prev_hash)."""
    # ix_event_record: a record's events in chain order without scanning the chain (record page, verify_record)
    __table_args__ = (UniqueConstraint("org_id", "seq"), Index("ix_event_record", "org_id", "record_id", "seq"))
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    seq: int
    record_id: Optional[int] = Field(default=None, foreign_key="record.id", index=True)
    actor_id: Optional[int] = Field(default=None, foreign_key="user.id")
    actor_name: str = Field(default="", max_length=120)
    at: datetime = Field(default_factory=utcnow)
    action: str = Field(max_length=32)
    from_state: Optional[str] = Field(default=None, max_length=32)
    to_state: Optional[str] = Field(default=None, max_length=32)
    comment: str = Field(default="", sa_column=Column(Text, nullable=False, default=""))
    detail: dict = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    data_digest: str = Field(default="", max_length=64)
    prev_hash: str = Field(max_length=64)
    hash: str = Field(max_length=64)
    # canonical JSON of the hash (workbench.trail): 1 = Python json.dumps (events before 0005), 2 = RFC 8785
    scheme: int = Field(default=1, sa_column_kwargs={"server_default": "1"})
    # set only by `workbench org import` when the organization's or an actor's id changed: the original ids the
    # hash covers, e.g. {"org_id": 3, "actor_id": 7} (workbench.archive; docs/org-archive.md)
    origin: Optional[dict] = Field(default=None, sa_column=Column(JSON, nullable=True))


class Attachment(SQLModel, table=True):
    id: Optional[int] = Field(default=None, primary_key=True)
    org_id: int = Field(foreign_key="organization.id", index=True)
    record_id: Optional[int] = Field(default=None, foreign_key="record.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=100)
    size: int
    sha256: str = Field(max_length=64, index=True)
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow)
    created_by: Optional[int] = Field(default=None, foreign_key="user.id")


from workbench.audit import models as audit_models  # noqa: F401,E402  (registers the audit tables)
from workbench.studio import models as studio_models  # noqa: F401
from workbench import invitations as invitation_models  # noqa: F401,E402  (registers the invitation table)
from workbench.audit import report_models as audit_report_models  # noqa: F401,E402  (report issuance)
from workbench.documents import models as documents_models  # noqa: F401,E402
from workbench.cb import models as cb_models  # noqa: F401,E402
from workbench.notify import models as notify_models  # noqa: F401,E402  (outbox, notifications: daily)
from workbench import numbering as numbering_models  # noqa: F401,E402  (number counters: daily)
from workbench.api import models as api_models  # noqa: F401,E402  (personal access tokens: svc)
from workbench import links as links_models  # noqa: F401,E402  (record_link: record links by index, #11)
from workbench import latest as latest_models  # noqa: F401,E402  (subject_latest: due items by index, #11)
from workbench import tallies as tallies_models  # noqa: F401,E402  (record_day_tally: coverage counts, #11)
