"""The chain anchored outside the database (issue #9.2) and what verification covers beyond records (#10.16):
RFC 8785 hashing with a scheme per event (old scheme-1 chains keep verifying), checkpoints that catch a
consistent insider rewrite and a truncation, engagement seals in the report and on the readiness page, and
derived columns, findings, checks and samples cross-checked against the chain."""
from __future__ import annotations

import io
import json
import math
from datetime import date, datetime, timedelta, timezone

import pytest
import rfc8785
from click.testing import CliRunner
from flask.cli import ScriptInfo
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import text
from sqlmodel import select

from tests.conftest import load_fixture
from workbench import checkpoints, jcs, records, trail
from workbench.audit import sampling, seals, service
from workbench.audit.models import Check, Engagement, Finding, Seal
from workbench.models import Event, Record, Revision

KS = load_fixture("kitchen-sink.json")
TODAY = date.today()


class Actor:
    def __init__(self, user):
        self.id, self.name = user.id, user.name


@pytest.fixture
def tpl(world):
    return world.add_template(KS, world.acme)


def make_records(app, db, world, tpl, n=5, org=None):
    org = org or world.acme
    with app.app_context():
        out = [records.create(db, org, tpl, {"batch_no": f"B{i:03d}", "inspected_on": (TODAY - timedelta(days=i)).isoformat(),
                                             "result": "pass", "quantity": i + 1}, Actor(world.users["member"]))
               for i in range(n)]
        db.commit()
    return out


def run_cli(app, *args):
    from workbench.cli import main

    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app))


def rewrite_consistently(db, org_id, seq, comment="nothing to see"):
    """The insider: change event #seq, then recompute every hash (and link) after it, as the code would."""
    db.execute(text("UPDATE event SET comment = :c WHERE org_id = :o AND seq = :s"), {"c": comment, "o": org_id, "s": seq})
    db.commit()
    db.expire_all()
    prev = trail.GENESIS
    for e in db.exec(select(Event).where(Event.org_id == org_id).order_by(Event.seq)).all():
        if e.seq >= seq:
            e.prev_hash = prev
            e.hash = trail.event_hash(e)
            db.add(e)
        prev = e.hash
    db.commit()
    move_head(db, org_id)


def move_head(db, org_id):
    """The insider also sets the head kept on the organization's row (else `trail verify` reports it)."""
    trail.set_heads(db.connection(), org_id)
    db.commit()
    db.expire_all()


def truncate(db, org_id, keep):
    """The insider: delete the last events together with the records (and revisions) they created."""
    db.execute(text("PRAGMA foreign_keys=OFF"))
    gone = [r for (r,) in db.execute(text("SELECT record_id FROM event WHERE org_id = :o AND seq > :k AND action = 'create'"),
                                     {"o": org_id, "k": keep}).all()]
    db.execute(text("DELETE FROM event WHERE org_id = :o AND seq > :k"), {"o": org_id, "k": keep})
    for rid in gone:
        db.execute(text("DELETE FROM revision WHERE record_id = :r"), {"r": rid})
        db.execute(text("DELETE FROM record WHERE id = :r"), {"r": rid})
    db.commit()
    move_head(db, org_id)


# --- canonical JSON --------------------------------------------------------------------------------------

JSON = st.recursive(st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1)
                    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
                    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=6), kids, max_size=4),
                    max_leaves=20)


@settings(max_examples=300, deadline=None)
@given(value=JSON)
def test_stdlib_jcs_matches_the_rfc8785_package(value):
    assert jcs.dumps(value) == rfc8785.dumps(value)


@settings(max_examples=300, deadline=None)
@given(value=JSON | st.dictionaries(st.text(alphabet=st.sampled_from("a\ue000\uffff\U0001f600\U00010000é"), max_size=3),
                                    st.integers(0, 3), max_size=5))
def test_the_fast_path_is_rfc8785(value):
    assert trail.canonical_bytes(value) == rfc8785.dumps(value)


@pytest.mark.parametrize("number,expected", [(0.0, "0"), (-0.0, "0"), (1.0, "1"), (100.0, "100"), (1e21, "1e+21"),
                                             (1e20, "100000000000000000000"), (1e-7, "1e-7"), (1e-6, "0.000001"),
                                             (123.456, "123.456"), (-1.5e-9, "-1.5e-9"), (5e-324, "5e-324"),
                                             (1.7976931348623157e308, "1.7976931348623157e+308"), (0.1 + 0.2, "0.30000000000000004")])
def test_jcs_numbers_follow_ecmascript(number, expected):
    assert jcs.dumps(number).decode() == expected == rfc8785.dumps(number).decode()


def test_jcs_sorts_keys_by_utf16_code_units():
    value = {"\U0001f600": 1, "\ue000": 2, "a": 3, "é": 4}
    assert jcs.dumps(value) == rfc8785.dumps(value)
    assert list(json.loads(jcs.dumps(value))) == ["a", "é", "\U0001f600", "\ue000"]


def test_numbers_without_an_exact_form_are_a_user_error():
    with pytest.raises(trail.NotCanonical):
        trail.digest({"n": 2**60})
    with pytest.raises(trail.NotCanonical):
        trail.digest({"n": math.nan})
    assert trail.NotCanonical.status == 422


# --- scheme versions ---------------------------------------------------------------------------------------


def test_new_events_use_rfc8785_and_name_their_scheme(app, db, world, tpl):
    rec = make_records(app, db, world, tpl, 1)[0]
    e = db.exec(select(Event).where(Event.record_id == rec.id)).one()
    assert e.scheme == trail.SCHEME == 2
    payload = trail.event_payload(e)
    assert payload["scheme"] == 2
    assert e.hash == __import__("hashlib").sha256(rfc8785.dumps(payload)).hexdigest()
    rv = db.exec(select(Revision).where(Revision.record_id == rec.id)).one()
    assert rv.digest == e.data_digest == __import__("hashlib").sha256(rfc8785.dumps(rv.data)).hexdigest()


def to_scheme_1(db, org_id):
    """Rewrite the organization's history as it was stored before migration 0005: scheme-1 hashes and digests."""
    prev = trail.GENESIS
    for e in db.exec(select(Event).where(Event.org_id == org_id).order_by(Event.seq)).all():
        if e.action in ("create", "edit"):
            rv = db.exec(select(Revision).where(Revision.record_id == e.record_id,
                                                Revision.number == e.detail["revision"])).one()
            rv.digest = e.data_digest = trail.digest(rv.data, 1)
            db.add(rv)
        e.scheme, e.prev_hash = 1, prev
        e.hash = trail.event_hash(e)
        prev = e.hash
        db.add(e)
    db.commit()
    move_head(db, org_id)  # as migration 0018 sets it for such a history


def test_scheme_1_chains_keep_verifying_and_new_events_continue_them(app, db, world, tpl):
    recs = make_records(app, db, world, tpl, 3)
    to_scheme_1(db, world.acme.id)
    assert {e.scheme for e in db.exec(select(Event)).all()} == {1}
    v = trail.verify(db, world.acme.id)
    assert v.ok, v.problems
    with app.app_context():
        records.edit(db, recs[0], tpl, dict(recs[0].data, quantity=99), Actor(world.users["member"]), comment="fix")
        db.commit()
    schemes = [e.scheme for e in db.exec(select(Event).where(Event.org_id == world.acme.id).order_by(Event.seq)).all()]
    assert schemes == [1, 1, 1, 2]
    assert trail.verify(db, world.acme.id).ok
    assert trail.verify(db, world.acme.id, record_id=recs[0].id).ok
    # tampering is still found under both schemes
    db.execute(text("UPDATE event SET comment = 'x' WHERE seq IN (2, 4) AND org_id = :o"), {"o": world.acme.id})
    db.commit()
    db.expire_all()
    wheres = [p.where for p in trail.verify(db, world.acme.id).problems]
    assert any(w.startswith("event #2") for w in wheres) and any(w.startswith("event #4") for w in wheres)


def test_downgrading_an_events_scheme_is_detected(app, db, world, tpl):
    make_records(app, db, world, tpl, 2)
    db.execute(text("UPDATE event SET scheme = 1 WHERE seq = 2"))
    db.commit()
    assert trail.verify(db, world.acme.id).first.where.startswith("event #2")


# --- checkpoints ----------------------------------------------------------------------------------------


def test_checkpoint_catches_a_consistent_rewrite(app, db, world, tpl, tmp_path):
    make_records(app, db, world, tpl, 4)
    out = run_cli(app, "trail", "checkpoint", "--org", "acme", "-o", str(tmp_path / "cp.json"))
    assert out.exit_code == 0, out.output
    cp = json.loads((tmp_path / "cp.json").read_text())
    assert cp["format"] == checkpoints.FORMAT
    [c] = cp["checkpoints"]
    assert (c["org"], c["seq"], c["scheme"]) == ("acme", 4, 2) and len(c["hash"]) == 64 and c["at"]
    ok = run_cli(app, "trail", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert ok.exit_code == 0 and "extends the checkpoint at event #4" in ok.output, ok.output

    rewrite_consistently(db, world.acme.id, 2)
    plain = run_cli(app, "trail", "verify", "--org", "acme")
    assert plain.exit_code == 0, "the rewrite is consistent: without an anchor it cannot be seen"
    caught = run_cli(app, "trail", "verify", "--org", "acme", "--checkpoint", str(tmp_path / "cp.json"))
    assert caught.exit_code == 1 and "REWRITTEN: event #4" in caught.output, caught.output


def test_checkpoint_catches_a_truncation(app, db, world, tpl, tmp_path):
    make_records(app, db, world, tpl, 5)
    assert run_cli(app, "trail", "checkpoint", "-o", str(tmp_path / "cp.json")).exit_code == 0
    truncate(db, world.acme.id, keep=3)
    assert db.exec(select(Record).where(Record.org_id == world.acme.id)).all().__len__() == 3
    assert run_cli(app, "trail", "verify", "--org", "acme").exit_code == 0
    caught = run_cli(app, "trail", "verify", "--checkpoint", str(tmp_path / "cp.json"))
    assert caught.exit_code == 1 and "TRUNCATED: the chain ends at event #3, before the checkpoint's event #5" in caught.output
    assert "✔ other" in caught.output  # the other organization is unaffected


def test_a_malformed_checkpoint_file_is_refused(app, tmp_path):
    (tmp_path / "bad.json").write_text("{nope")
    out = run_cli(app, "trail", "verify", "--checkpoint", str(tmp_path / "bad.json"))
    assert out.exit_code == 2 and "checkpoint file" in out.output


# --- seals -------------------------------------------------------------------------------------------------


def engagement(db, world, title="E", days_ago=0):
    now = datetime.now(timezone.utc)
    return service.create_engagement(db, world.acme, Actor(world.users["manager"]), title=title, audit_body="CB",
                                     standards=["ISO 9001:2015"], audit_type="surveillance",
                                     period_start=TODAY - timedelta(days=365), period_end=TODAY, scope_processes=[],
                                     scope_clauses=[], access_from=now - timedelta(days=1), access_until=now + timedelta(days=9))


def test_engagements_seal_the_head_and_the_next_one_checks_it(app, db, world, tpl):
    make_records(app, db, world, tpl, 3)
    with app.test_request_context():
        e1 = engagement(db, world, "2025")
        db.commit()
        [s1] = seals.seals_of(db, e1)
        assert (s1.kind, s1.seq, s1.extends) == ("open", 4, "first")  # 3 records + the engagement event
        assert db.exec(select(Event).where(Event.seq == 5, Event.org_id == world.acme.id)).one().action == "audit_seal"
        report_seal = seals.seal(db, e1, "report")
        db.commit()
        assert report_seal.seq == 5
        make_records(app, db, world, tpl, 2)
        e2 = engagement(db, world, "2026")
        db.commit()
        assert seals.seals_of(db, e2)[0].extends == "ok"
        assert seals.continuity(db, world.acme.id, e2).status == "ok"

        rewrite_consistently(db, world.acme.id, 2)  # before both seals
        e3 = engagement(db, world, "2027")
        db.commit()
        s3 = seals.seals_of(db, e3)[0]
        assert s3.extends == "broken"
        c = seals.continuity(db, world.acme.id, e3)
        assert c.status == "broken" and {s.id for s in c.broken} >= {s1.id, report_seal.id}
        assert "no longer contains the head" in c.message or "不再包含" in c.message


def test_seals_appear_in_report_xlsx_and_readiness(app, db, world, tpl, client_for):
    from openpyxl import load_workbook

    make_records(app, db, world, tpl, 2)
    with app.test_request_context():
        e = engagement(db, world)
        db.commit()
    s = seals.seals_of(db, e)[0]
    manager = client_for("manager")
    html = manager.get(f"/o/acme/audit/e/{e.id}/report").get_data(as_text=True)
    assert s.hash in html and f"#{s.seq}" in html
    xlsx = manager.get(f"/o/acme/audit/e/{e.id}/report.xlsx").data
    cells = [str(c.value) for row in load_workbook(io.BytesIO(xlsx)).worksheets[0].iter_rows() for c in row if c.value]
    assert any(s.hash in c for c in cells)
    page = manager.get(f"/o/acme/audit/e/{e.id}/readiness").get_data(as_text=True)
    assert "sealed heads" in page or "封存" in page

    rewrite_consistently(db, world.acme.id, 1)
    page = manager.get(f"/o/acme/audit/e/{e.id}/readiness").get_data(as_text=True)
    assert "no longer contains the head" in page or "不再包含" in page
    html = manager.get(f"/o/acme/audit/e/{e.id}/report").get_data(as_text=True)
    assert "no longer contains the head" in html or "不再包含" in html


# --- what verification covers beyond records (#10.16) --------------------------------------------------------


DERIVED_TAMPERING = [
    ("title", "UPDATE record SET title = 'FORGED' WHERE id = :r"),
    ("record_date", "UPDATE record SET record_date = '2001-01-01' WHERE id = :r"),
    ("subject", "UPDATE record SET subject = 'someone' WHERE id = :r"),
    ("due_date", "UPDATE record SET due_date = '2099-01-01' WHERE id = :r"),
    ("template", "UPDATE record SET template_key = 'other' WHERE id = :r"),
]


def test_a_record_moved_to_another_organization_is_missing_from_its_own(app, db, world, tpl):
    recs = make_records(app, db, world, tpl, 2)
    db.execute(text("UPDATE record SET org_id = :o WHERE id = :r"), {"o": world.other.id, "r": recs[0].id})
    db.commit()
    assert any(p.where == f"record {recs[0].id}" and "missing" in p.reason for p in trail.verify(db, world.acme.id).problems)
    assert not trail.verify(db, world.other.id).ok


@pytest.mark.parametrize("name,sql", DERIVED_TAMPERING, ids=[d[0] for d in DERIVED_TAMPERING])
def test_derived_columns_are_recomputed_and_located(app, db, world, tpl, name, sql):
    recs = make_records(app, db, world, tpl, 3)
    with app.app_context():  # an edit (revision 2) must be followed too
        records.edit(db, recs[1], tpl, dict(recs[1].data, batch_no="B-EDITED"), Actor(world.users["member"]))
        db.commit()
    assert trail.verify(db, world.acme.id).ok
    db.execute(text(sql), {"r": recs[1].id})
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert not v.ok and v.first.where == f"record {recs[1].id}", v.problems
    assert name in v.first.reason


@pytest.fixture
def audited(app, db, world, tpl):
    recs = make_records(app, db, world, tpl, 6)
    auditor = Actor(world.users["auditor"])
    with app.test_request_context():
        e = engagement(db, world)
        s = sampling.create_sample(db, e, {"start": None, "end": None, "process": "kitchen-sink"},
                                   sampling.make_rule("fixed", n=3), 42, auditor)
        service.mark_conforming(db, e, recs[0], auditor, "ok")
        f = service.raise_finding(db, e, auditor, grade="minor", standard="ISO 9001:2015", clause="8.5.1",
                                  statement="missing gauge id", evidence=[recs[1].id])
        db.commit()
    assert trail.verify(db, world.acme.id).ok, trail.verify(db, world.acme.id).problems
    return e, s, f, recs


AUDIT_TAMPERING = [
    ("finding statement", "UPDATE audit_finding SET statement = 'all fine'", "finding"),
    ("finding grade", "UPDATE audit_finding SET grade = 'observation'", "finding"),
    ("finding deleted", "DELETE FROM audit_finding", "finding"),
    ("finding author", "UPDATE audit_finding SET created_by = (SELECT id FROM user WHERE email = 'manager@acme.test')", "finding"),
    ("check note", "UPDATE audit_check SET note = 'seen'", "check"),
    ("check auditor", "UPDATE audit_check SET checked_by = NULL", "check"),
    ("check deleted", "DELETE FROM audit_check", "check of record"),
    ("sample drawn", "UPDATE audit_sample SET drawn = '[1, 2, 3]', digest = 'x'", "sample"),
]


@pytest.mark.parametrize("name,sql,where", AUDIT_TAMPERING, ids=[a[0] for a in AUDIT_TAMPERING])
def test_findings_checks_and_samples_are_verified(audited, db, world, name, sql, where):
    db.execute(text("PRAGMA foreign_keys=OFF"))
    db.execute(text(sql))
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert not v.ok and any(p.where.startswith(where) for p in v.problems), v.problems


def test_an_inserted_check_is_detected(audited, db, world):
    e, _s, _f, recs = audited
    db.add(Check(engagement_id=e.id, org_id=world.acme.id, record_id=recs[5].id, note="fake", checked_by=world.users["auditor"].id))
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert any(p.where.startswith("check") and "inserted" in p.reason for p in v.problems)


def test_finding_numbers_use_the_engagement_counter(audited, db, world):
    e, _s, f, recs = audited
    assert f.number == 1
    f2 = service.raise_finding(db, e, Actor(world.users["auditor"]), grade="observation", standard="ISO 9001:2015",
                               clause="8.5.1", statement="note", evidence=[recs[2].id])
    db.commit()
    assert f2.number == 2 and db.get(Engagement, e.id).finding_counter == 2


def test_a_form_refuses_integers_without_an_exact_json_form():
    """An integer field posted 2**60 would have no RFC 8785 form (so no hash): the form says so, never a 500."""
    import forms
    from werkzeug.datastructures import MultiDict

    data, errors = forms.parse(KS["schema"], MultiDict({"batch_no": "x", "quantity": str(2**60), "temperature": "-" + "9" * 20}))
    assert set(errors) == {"quantity", "temperature"}
    data, errors = forms.parse(KS["schema"], MultiDict({"batch_no": "x", "quantity": str(2**53 - 1), "temperature": "12.5"}))
    assert not errors and data["quantity"] == 2**53 - 1
