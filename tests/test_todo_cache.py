"""Issue #11, the top bar's to-do number is kept per (organization, user) until the organization's chain moves
(workbench.todo.top_bar_count): a page in between runs no count, and a new record, a transition, a finding, a
membership change or a new adoption shows on the very next page the user loads."""
from __future__ import annotations

import re

import pytest
from sqlmodel import Session, select

from tests.conftest import World, login
from tests.test_chain_head import statements
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from workbench import records, todo, workflow
from workbench.audit import service as audit
from workbench.audit.models import Engagement
from workbench.models import Membership
from workbench.templates import LIBRARY_DIR, load_file

PAGES = ["/o/acme/", "/o/acme/p/production-inspection/", "/o/acme/p/production-inspection/new"]


def badge(client, url: str = "/o/acme/") -> int:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    m = re.search(r'class="count-badge"[^>]*>([^<]+)<', resp.get_data(as_text=True))
    return 0 if m is None else int(m.group(1).replace("+", ""))


def uncached(db, world, role: str) -> int:
    user = world.users[role]
    from workbench.auth import roles_in

    return todo.count(db, world.acme, user, roles_in(db, user, world.acme.id), cap=todo.CAP)


def submitted(db, world, tpl, n: int = 1) -> list:
    out = []
    for i in range(n):
        rec = records.create(db, world.acme, tpl, dict(tpl.body["examples"][0], batch_no=f"C{i:04d}"), world.users["member"])
        workflow.take(db, rec, tpl.body, "submit", world.users["member"], {"member"})
        out.append(rec)
    db.commit()
    return out


@pytest.fixture
def insp(world):
    return world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))


def test_writes_show_on_the_next_page(app, db, world, insp, client_for):
    manager, member = client_for("manager"), client_for("member")
    start = badge(manager)
    assert start == uncached(db, world, "manager")
    assert badge(manager) == start  # from the cache
    recs = submitted(db, world, insp, 2)  # a new record, submitted: the manager signs it
    assert badge(manager) == start + 2 == uncached(db, world, "manager")
    workflow.take(db, recs[0], insp.body, "return", world.users["manager"], {"manager"}, comment="批号写错")
    db.commit()  # a transition: no longer the manager's, back with its author
    assert badge(manager) == start + 1 == uncached(db, world, "manager")
    assert badge(member) == uncached(db, world, "member") >= 1
    world.open_engagement_for_auditor()  # an engagement: a chained write
    e = db.exec(select(Engagement).where(Engagement.org_id == world.acme.id)).first()
    before = badge(manager)
    audit.raise_finding(db, e, world.users["auditor"], grade="minor", standard="ISO 9001:2015", clause="8.5.1",
                        statement="gauge id missing", evidence=[recs[1].id])
    db.commit()
    assert badge(manager) == before + 1 == uncached(db, world, "manager")


def test_a_cached_count_runs_no_count_statement(app, db, world, insp, client_for):
    submitted(db, world, insp, 3)
    manager = client_for("manager")
    cache = app.extensions.setdefault("workbench.todo_counts", {})
    for url in PAGES:
        badge(manager, url)  # warm-up
        engine = app.extensions["workbench.engine"]
        cold = statements(engine, lambda: (cache.clear(), badge(manager, url)))
        warm = statements(engine, lambda: badge(manager, url))
        # act, returned and findings counted (3 statements here) vs the chain head read (1)
        assert len(warm) <= len(cold) - 2, (url, warm, cold)
        assert warm.count("SELECT organization") == 2, warm  # the slug (tenancy) and the chain head


def test_users_roles_and_adoptions_are_counted_apart(app, db, world, insp, client_for):
    submitted(db, world, insp, 2)
    manager, member = client_for("manager"), client_for("member")
    m, w = badge(manager), badge(member)
    assert (m, w) == (uncached(db, world, "manager"), uncached(db, world, "member"))
    assert m >= 2 and m != w
    # the member becomes a manager too (the membership itself is not read by the count): recounted
    db.add(Membership(user_id=world.users["member"].id, org_id=world.acme.id, role="manager"))
    db.commit()
    assert badge(member) == uncached(db, world, "member") >= 2
    # a new process adopted without any chained write: the adopted versions are part of the stamp
    before = badge(manager)
    lib_nc = load_file(LIBRARY_DIR / "nonconforming-output.json")
    world.add_template(lib_nc, world.acme)
    assert badge(manager) == uncached(db, world, "manager")
    assert before <= badge(manager)


def test_a_new_day_recounts(app, db, world, insp, client_for, monkeypatch):
    from datetime import date

    submitted(db, world, insp, 1)
    manager = client_for("manager")
    badge(manager)
    stamp = next(iter(app.extensions["workbench.todo_counts"].values()))[0]
    assert stamp[-1] == date.today()

    class Tomorrow(date):
        @classmethod
        def today(cls):
            return date.fromordinal(date.today().toordinal() + 1)
    monkeypatch.setattr(todo, "date", Tomorrow)
    badge(manager)
    assert next(iter(app.extensions["workbench.todo_counts"].values()))[0][-1] == Tomorrow.today()


@pytest.mark.postgres
def test_writes_show_on_the_next_page_on_postgres(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        tpl = world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
        client = pg_app.test_client()
        assert login(client, world.users["manager"].email).status_code == 302
        start = badge(client)
        assert badge(client) == start
        submitted(db, world, tpl, 2)
        assert badge(client) == start + 2 == uncached(db, world, "manager")
