"""Issue #10 item 16: `trail verify` cross-checks the organization's membership rows against the replay of
its membership events; rows written behind the application's back are located problems, and memberships
that predate chaining (the fixture's, written directly) are not reported."""
from __future__ import annotations

import pytest
from sqlalchemy import text

from tests.conftest import PASSWORD, _fast
from workbench import members, trail
from workbench.models import Membership, User


def _user(db, email):
    u = User(email=email, name=email, password_hash=_fast.hash(PASSWORD))
    db.add(u)
    db.commit()
    return u


@pytest.fixture
def chained(app, db, world):
    """acme's chain holds membership events: one person added, another added and then removed."""
    with app.app_context():
        kept = members.grant(db, world.acme, _user(db, "kept@acme.test"), "member", by=world.users["manager"])
        gone = members.grant(db, world.acme, _user(db, "gone@acme.test"), "consultant", by=world.users["manager"])
        db.commit()
        gone_id = gone.id
        members.remove(db, world.acme, gone_id, by=world.users["manager"])
        db.commit()
    return kept, gone_id


def _where(v):
    return [(p.where, p.reason) for p in v.problems]


def test_an_untouched_org_verifies_with_and_without_membership_events(db, world, chained):
    assert trail.verify(db, world.acme.id).ok, trail.verify(db, world.acme.id).problems
    assert trail.verify(db, world.other.id).ok  # no membership events: its fixture rows predate chaining


def test_an_inserted_membership_row_is_located(db, world, chained):
    intruder = _user(db, "intruder@acme.test")
    m = Membership(user_id=intruder.id, org_id=world.acme.id, role="manager")
    db.add(m)
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert [w for w, _ in _where(v)] == [f"membership {m.id}"]
    assert "inserted" in v.problems[0].reason


def test_an_inserted_auditor_row_is_located(db, world, chained):
    m = Membership(user_id=_user(db, "peek@acme.test").id, org_id=world.acme.id, role="auditor")
    db.add(m)
    db.commit()
    assert [w for w, _ in _where(trail.verify(db, world.acme.id))] == [f"membership {m.id}"]


def test_a_changed_role_is_located(db, world, chained):
    kept, _ = chained
    db.execute(text("UPDATE membership SET role = 'manager' WHERE id = :id"), {"id": kept.id})
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert [w for w, _ in _where(v)] == [f"membership {kept.id}"]
    assert "role 'manager'" in v.problems[0].reason and "changed" in v.problems[0].reason


def test_a_changed_validity_window_is_located(db, world, chained):
    kept, _ = chained
    db.execute(text("UPDATE membership SET valid_until = '2099-01-01 00:00:00' WHERE id = :id"), {"id": kept.id})
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert [w for w, _ in _where(v)] == [f"membership {kept.id}"]
    assert "validity window" in v.problems[0].reason


def test_a_removed_but_restored_row_is_located(db, world, chained):
    _, gone_id = chained
    user = db.exec(text("SELECT id FROM user WHERE email = 'gone@acme.test'")).one()[0]
    db.execute(text("INSERT INTO membership (id, user_id, org_id, role) VALUES (:id, :u, :o, 'consultant')"),
               {"id": gone_id, "u": user, "o": world.acme.id})
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert [w for w, _ in _where(v)] == [f"membership {gone_id}"]
    assert "removed by event" in v.problems[0].reason


def test_a_deleted_chained_row_is_located(db, world, chained):
    kept, _ = chained
    db.execute(text("DELETE FROM membership WHERE id = :id"), {"id": kept.id})
    db.commit()
    assert [w for w, _ in _where(trail.verify(db, world.acme.id))] == [f"membership {kept.id}"]


def test_memberships_written_before_chaining_are_not_reported(db, world):
    """The fixture writes acme's rows directly and no membership event exists: nothing to compare them with."""
    db.execute(text("UPDATE membership SET role = 'manager' WHERE org_id = :o AND role = 'member'"), {"o": world.acme.id})
    db.commit()
    assert trail.verify(db, world.acme.id).ok
