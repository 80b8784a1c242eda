"""Shared fixtures: an app on a fresh SQLite file, organizations, users per role, signed-in clients."""
from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from argon2 import PasswordHasher
from sqlmodel import Session

from workbench import create_app, library
from workbench.models import Membership, Organization, ProcessTemplate, User

FIXTURES = Path(__file__).parent / "fixtures"
PASSWORD = "correct horse battery"
_fast = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)


def load_fixture(name: str) -> dict:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def migrated_db(tmp_path_factory) -> Path:
    """One SQLite file brought to the newest migration, once per test session; each test's app starts from a
    copy of it (running the migrations again for every test was most of the suite's set-up time).
    tests/test_migrations.py still runs the migrations themselves on fresh and older databases."""
    from workbench.db import create_schema, make_engine

    path = tmp_path_factory.mktemp("migrated") / "migrated.db"
    engine = make_engine(f"sqlite:///{path}")
    create_schema(engine)
    with engine.connect() as c:  # everything in the main file, so a plain copy is the whole database
        c.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def app(tmp_path, migrated_db, monkeypatch):
    shutil.copyfile(migrated_db, tmp_path / "test.db")
    monkeypatch.setenv("WORKBENCH_INSTANCE", str(tmp_path / "instance"))  # imports, secret key: per test
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'test.db'}", "SECRET_KEY": "test",
                      "TESTING": True, "SESSION_COOKIE_SECURE": False, "AUTO_MIGRATE": False})
    yield app
    app.extensions["workbench.engine"].dispose()


@pytest.fixture
def db(app):
    with Session(app.extensions["workbench.engine"], expire_on_commit=False) as s:
        yield s


class World:
    """Two organizations (acme, other) with one user per role in acme and a manager in other."""

    def __init__(self, db: Session):
        self.db = db
        self.acme = self.org("acme", "甲公司")
        self.other = self.org("other", "乙公司")
        self.users = {}
        for role in ("member", "manager", "consultant", "auditor"):
            self.users[role] = self.user(f"{role}@acme.test", f"{role} of acme", self.acme, role)
        self.users["admin"] = self.user("admin@test", "admin", None, None, is_admin=True)
        self.users["outsider"] = self.user("manager@other.test", "manager of other", self.other, "manager")

    def org(self, slug, name):
        o = Organization(slug=slug, name=name)
        self.db.add(o)
        self.db.commit()
        return o

    def user(self, email, name, org, role, is_admin=False, **membership):
        u = User(email=email, name=name, password_hash=_fast.hash(PASSWORD), is_admin=is_admin)
        self.db.add(u)
        self.db.commit()
        if org is not None:
            self.db.add(Membership(user_id=u.id, org_id=org.id, role=role, **membership))
            self.db.commit()
        return u

    def open_engagement_for_auditor(self) -> None:
        """Auditors read only while an engagement they are on is open: give acme's auditor one (covering every
        standard, no listed processes) unless a test put them on a team already."""
        from datetime import timedelta

        from sqlmodel import select

        from workbench.audit import service
        from workbench.audit.models import TeamMember
        from workbench.models import utcnow

        auditor = self.users["auditor"]
        if self.db.exec(select(TeamMember).where(TeamMember.user_id == auditor.id)).first() is not None:
            return
        from workbench.records import local_date

        now = utcnow()
        today = local_date(now, self.acme)  # the organization's day (China: UTC+8), as records are dated
        e = service.create_engagement(self.db, self.acme, self.users["manager"], title="fixture audit",
                                      standards=["ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018"],
                                      audit_type="surveillance", period_start=today - timedelta(days=365), period_end=today,
                                      scope_processes=[], scope_clauses=[], access_from=now - timedelta(days=1),
                                      access_until=now + timedelta(days=30))
        service.grant_auditor(self.db, e, auditor, self.users["manager"])
        self.db.commit()

    def add_template(self, body: dict, org: Organization | None = None) -> ProcessTemplate:
        """Store a template version and let both organizations adopt it."""
        t = ProcessTemplate(org_id=org.id if org else None, key=body["key"], version=body["version"], body=body)
        self.db.add(t)
        self.db.commit()
        for o in ([org] if org else [self.acme, self.other]):
            library.adopt(self.db, o, t)
        self.db.commit()
        return t


@pytest.fixture
def world(db):
    return World(db)


def login(client, email, password=PASSWORD):
    page = client.get("/login")
    token = csrf_from(page.get_data(as_text=True))
    return client.post("/login", data={"email": email, "password": password, "csrf_token": token})


def csrf_from(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF token"
    return m.group(1)


@pytest.fixture
def client_for(app, world):
    """client_for('member') -> a test client signed in as that role's user."""
    def make(role: str):
        if role == "auditor":
            world.open_engagement_for_auditor()
        c = app.test_client()
        resp = login(c, world.users[role].email)
        assert resp.status_code == 302, resp.get_data(as_text=True)[:500]
        return c
    return make
