"""The event chain: any random sequence of operations verifies; any single tampering with the database
(update a column, delete a row, swap two rows) is detected and located."""
from __future__ import annotations

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import PASSWORD, load_fixture
from workbench import records, trail, workflow
from workbench.models import Event, Record, Revision

KS = load_fixture("kitchen-sink.json")
BASE = {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": 10}


class Actor:
    def __init__(self, user):
        self.id, self.name = user.id, user.name


def make_history(db, world, tpl, ops):
    """Apply a sequence of operations: ('create',), ('edit', i, qty), ('submit', i), ('release', i)."""
    member, manager = Actor(world.users["member"]), Actor(world.users["manager"])
    recs = []
    for op in ops:
        if op[0] == "create" or not recs:
            recs.append(records.create(db, world.acme, tpl, dict(BASE, batch_no=f"B{len(recs)}"), member))
        elif op[0] == "edit":
            rec = recs[op[1] % len(recs)]
            records.edit(db, rec, tpl, dict(rec.data, quantity=op[2], release_by="王芳"), member, comment="fix")
        else:
            rec = recs[op[1] % len(recs)]
            name = {"draft": "submit", "submitted": "release"}.get(rec.state)
            if name:
                actor, roles = (member, {"member"}) if name == "submit" else (manager, {"manager"})
                if name == "release" and "release_by" not in rec.data:
                    records.edit(db, rec, tpl, dict(rec.data, release_by="王芳"), member)
                workflow.take(db, rec, tpl.body, name, actor, roles, password=PASSWORD)
        db.commit()
    return recs


OPS = st.lists(st.one_of(st.just(("create",)), st.tuples(st.just("edit"), st.integers(0, 5), st.integers(1, 999)),
                         st.tuples(st.just("step"), st.integers(0, 5))), min_size=1, max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
@given(ops=OPS)
def test_any_sequence_of_operations_verifies(app, db, world, ops):
    """Each example runs in a fresh organization of the same database."""
    from workbench.models import Membership, Organization

    org = Organization(slug=f"h{db.exec(select(Organization)).all()[-1].id + 1}", name="h")
    db.add(org)
    db.commit()
    for role in ("member", "manager"):
        db.add(Membership(user_id=world.users[role].id, org_id=org.id, role=role))
    world.acme = org
    tpl = world.add_template(dict(KS, key=f"ks-{org.id}"), org)
    with app.app_context():
        recs = make_history(db, world, tpl, ops)
    v = trail.verify(db, org.id)
    assert v.ok, v.problems
    created = db.exec(select(Event).where(Event.org_id == org.id, Event.action == "create")).all()
    assert len(created) == len(recs)


@pytest.fixture
def history(app, db, world):
    tpl = world.add_template(KS, world.acme)
    with app.app_context():
        recs = make_history(db, world, tpl, [("create",), ("create",), ("edit", 0, 5), ("step", 0), ("step", 0),
                                             ("edit", 1, 7), ("step", 1)])
    assert trail.verify(db, world.acme.id).ok
    return recs


def tamper(db, sql, **params):
    for statement in sql.split(";"):
        db.execute(text(statement), params)
    db.commit()
    db.expire_all()


TAMPERING = [
    ("event comment changed", "UPDATE event SET comment = 'nothing happened' WHERE seq = 3", "event #3"),
    ("event actor changed", "UPDATE event SET actor_name = 'someone else' WHERE seq = 2", "event #2"),
    ("event time changed", "UPDATE event SET at = '2020-01-01 00:00:00' WHERE seq = 4", "event #4"),
    ("event deleted", "DELETE FROM event WHERE seq = 5", "event #6"),
    ("events swapped", "UPDATE event SET seq = -1 WHERE seq = 2; UPDATE event SET seq = 2 WHERE seq = 3; UPDATE event SET seq = 3 WHERE seq = -1", "event #"),
    ("revision data changed", "UPDATE revision SET data = json_set(data, '$.quantity', 1) WHERE record_id = 1 AND number = 2", "revision 1/2"),
    ("revision deleted", "DELETE FROM revision WHERE record_id = 1 AND number = 1", "revision 1/1"),
    ("revisions swapped", "UPDATE revision SET data = (SELECT data FROM revision WHERE record_id = 1 AND number = 1) WHERE record_id = 1 AND number = 2", "revision 1/2"),
    ("record data changed", "UPDATE record SET data = json_set(data, '$.batch_no', 'FORGED') WHERE id = 2", "record 2"),
    ("record state changed", "UPDATE record SET state = 'released' WHERE id = 2", "record 2"),
    ("record deleted", "DELETE FROM record WHERE id = 2", "record 2"),
]


@pytest.mark.parametrize("name,sql,where", TAMPERING, ids=[t[0] for t in TAMPERING])
def test_tampering_is_detected_and_located(history, db, world, name, sql, where):
    tamper(db, "PRAGMA foreign_keys=OFF")
    tamper(db, sql)
    v = trail.verify(db, world.acme.id)
    assert not v.ok, f"{name} went unnoticed"
    assert str(v.first).startswith(where) or any(str(p).startswith(where) for p in v.problems), [str(p) for p in v.problems]


def test_event_swap_by_id_is_detected(history, db, world):
    """Swapping two whole event rows (every column but the id) breaks the links."""
    e2, e3 = db.exec(select(Event).where(Event.org_id == world.acme.id, Event.seq.in_([2, 3])).order_by(Event.seq)).all()
    cols = ["seq", "record_id", "actor_id", "actor_name", "at", "action", "from_state", "to_state", "comment",
            "detail", "data_digest", "prev_hash", "hash"]
    rows = {e.id: db.execute(text(f"SELECT {', '.join(cols)} FROM event WHERE id = :i"), {"i": e.id}).one() for e in (e2, e3)}
    tamper(db, "UPDATE event SET seq = -1 WHERE id = :i", i=e2.id)
    for target, source in ((e3.id, e2.id), (e2.id, e3.id)):
        values = dict(zip(cols, rows[source]))
        sets = ", ".join(f"{c} = :{c}" for c in cols)
        tamper(db, f"UPDATE event SET {sets} WHERE id = :id", id=target, **values)
    v = trail.verify(db, world.acme.id)
    assert not v.ok and v.first.where.startswith("event #")


def test_other_organizations_chain_is_independent(history, db, world):
    tamper(db, "UPDATE event SET comment = 'x' WHERE seq = 3 AND org_id = :o", o=world.acme.id)
    assert not trail.verify(db, world.acme.id).ok
    assert trail.verify(db, world.other.id).ok


def test_cli_trail_verify(history, app, db, world):
    from flask.cli import ScriptInfo

    from workbench.cli import main

    info = ScriptInfo(create_app=lambda: app)
    runner = CliRunner()
    ok = runner.invoke(main, ["trail", "verify", "--org", "acme"], obj=info)
    assert ok.exit_code == 0 and "chain intact" in ok.output
    tamper(db, "UPDATE revision SET data = json_set(data, '$.quantity', 99999) WHERE record_id = 2 AND number = 1")
    bad = runner.invoke(main, ["trail", "verify"], obj=info)
    assert bad.exit_code == 1
    assert "acme: first broken link: revision 2/1: data changed after it was written" in bad.output
    assert "other: 0 events, chain intact" in bad.output


def test_record_page_shows_chain_status(history, db, client_for):
    c = client_for("member")
    assert "事件链已验证" in c.get("/o/acme/r/1").get_data(as_text=True)
    tamper(db, "UPDATE record SET data = json_set(data, '$.quantity', 1) WHERE id = 1")
    html = c.get("/o/acme/r/1").get_data(as_text=True)
    assert "事件链已断裂" in html
    assert "record 1" in html


def test_edit_creates_revision_never_overwrites(history, db, client_for):
    rec = db.get(Record, 2)
    before = [r.data for r in db.exec(select(Revision).where(Revision.record_id == 2).order_by(Revision.number)).all()]
    assert len(before) == 2 and before[0]["quantity"] == 10 and before[1]["quantity"] == 7
    assert rec.revision == 2
    c = client_for("member")
    page = c.get("/o/acme/r/2/revisions/2").get_data(as_text=True)
    assert "数量" in page and ">10<" in page and ">7<" in page  # the field label, not its key


@pytest.mark.parametrize("name,sql,where", [t for t in TAMPERING if "record 1" in t[2] or "revision 1/" in t[2]
                                            or t[0].startswith("event")], ids=lambda v: v if isinstance(v, str) else "")
def test_record_level_verification_sees_tampering_of_its_own_rows(history, db, world, name, sql, where):
    """verify(record_id=…) checks only one record's rows and neighbours; it must still catch them."""
    tamper(db, "PRAGMA foreign_keys=OFF")
    affected = {e.record_id for e in db.exec(select(Event).where(Event.org_id == world.acme.id)).all()}
    tamper(db, sql)
    whole = trail.verify(db, world.acme.id)
    assert not whole.ok
    hits = [rid for rid in affected if rid and not trail.verify(db, world.acme.id, record_id=rid).ok]
    assert hits, f"{name}: no record-level check noticed"
