"""Organization backup and restore (`workbench org export` / `workbench org import`, workbench.archive):
round trips SQLite → SQLite and SQLite → PostgreSQL with the same chain head, identical records and attachment
bytes; tampered archives, slug clashes and id clashes are refused and leave nothing; existing users are linked,
not overwritten; every table with an organization key is archived or excluded on purpose."""
from __future__ import annotations

import hashlib
import json
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import Session, select

from tests.conftest import PASSWORD, load_fixture
from tests.test_postgres import pg_app, pg_url  # noqa: F401  (the throw-away PostgreSQL cluster)
from workbench import archive, attachments, create_app, records, trail, workflow
from workbench.cli import main
from workbench.models import Attachment, Event, Membership, Organization, Record, Revision, User

KS = load_fixture("kitchen-sink.json")
PNG = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4


@pytest.fixture
def source(app, db, world):
    """acme with two records (one edited and submitted), an attached file, an open audit engagement."""
    tpl = world.add_template(KS, world.acme)
    with app.test_request_context(headers={"Accept-Language": "en"}):
        r1 = records.create(db, world.acme, tpl, {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass",
                                                   "quantity": 10}, world.users["member"])
        records.edit(db, r1, tpl, dict(r1.data, quantity=11), world.users["member"], comment="复检")
        workflow.take(db, r1, KS, "submit", world.users["member"], {"member"})
        att = attachments.store(db, world.acme.id, "photo.png", PNG, "image/png", world.users["member"])
        attachments.link_to_record(db, att, r1.id, "photo", world.users["member"])
        records.create(db, world.acme, tpl, {"batch_no": "B2", "inspected_on": "2026-01-06", "result": "fail",
                                             "nc_description": "毛刺", "quantity": 3}, world.users["manager"])
        db.commit()
    world.open_engagement_for_auditor()
    assert trail.verify(db, world.acme.id).ok
    return world


def _export(app, tmp_path, slug="acme") -> Path:
    out = tmp_path / f"{slug}.zip"
    r = app.test_cli_runner().invoke(main, args=["org", "export", "--org", slug, "-o", str(out)])
    assert r.exit_code == 0, r.output
    return out


def _import(app, path, *args):
    return app.test_cli_runner().invoke(main, args=["org", "import", str(path), *args])


def _target(tmp_path, name="target"):
    return create_app({"DATABASE_URL": f"sqlite:///{tmp_path / (name + '.db')}", "SECRET_KEY": "t", "TESTING": True,
                       "SESSION_COOKIE_SECURE": False})


def _picture(engine, slug):
    """What must survive a round trip: records, revisions, events (hashes), attachments (bytes), members."""
    with Session(engine) as db:
        org = db.exec(select(Organization).where(Organization.slug == slug)).one()
        recs = db.exec(select(Record).where(Record.org_id == org.id).order_by(Record.id)).all()
        revs = db.exec(select(Revision).where(Revision.record_id.in_([r.id for r in recs])).order_by(Revision.id)).all()
        events = db.exec(select(Event).where(Event.org_id == org.id).order_by(Event.seq)).all()
        atts = db.exec(select(Attachment).where(Attachment.org_id == org.id).order_by(Attachment.id)).all()
        emails = sorted(db.get(User, m.user_id).email + "/" + m.role
                        for m in db.exec(select(Membership).where(Membership.org_id == org.id)).all())
        v = trail.verify(db, org.id)
        return {"records": [(r.id, r.template_key, r.state, r.revision, r.data, r.record_date) for r in recs],
                "revisions": [(r.record_id, r.number, r.digest, r.data) for r in revs],
                "events": [(e.seq, e.action, e.record_id, e.hash, e.prev_hash, e.detail) for e in events],
                "attachments": [(a.id, a.record_id, a.filename, a.sha256, bytes(a.content)) for a in atts],
                "members": emails, "ok": v.ok, "first": str(v.first), "head": (v.head_seq, v.head_hash)}


def test_every_table_with_an_organization_key_is_archived_or_excluded_on_purpose():
    planned = set(archive.plan())
    for name in archive.org_tables():
        assert name in planned or name in archive.EXCLUDED or name in archive.SHARED, \
            f"table {name} has an organization key but is neither archived nor in archive.EXCLUDED"
    tables = sa.MetaData()
    from sqlmodel import SQLModel
    for name, t in SQLModel.metadata.tables.items():  # a bare org_id column without a foreign key is caught too
        if any(c.name.endswith("org_id") for c in t.columns):
            assert name in planned or name in archive.EXCLUDED or name in archive.SHARED, name
    assert {"record", "revision", "event", "attachment", "membership", "adoption", "audit_engagement",
            "audit_sample", "audit_finding", "audit_check", "audit_seal"} <= planned
    del tables


def test_round_trip_sqlite_to_sqlite_same_head_same_bytes(app, source, tmp_path):
    before = _picture(app.extensions["workbench.engine"], "acme")
    assert before["ok"] and before["attachments"] and before["head"][0] > 5
    path = _export(app, tmp_path)
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        assert manifest["chain_head"] == {"seq": before["head"][0], "hash": before["head"][1]}
        assert manifest["counts"]["record"] == 2 and manifest["counts"]["attachment"] == 1
        assert f"attachments/{hashlib.sha256(PNG).hexdigest()}" in zf.namelist()
        assert set(manifest["sha256"]) == set(zf.namelist()) - {"manifest.json"}
        users = [json.loads(x) for x in zf.read("tables/user.jsonl").decode().splitlines()]
        assert "manager@other.test" not in {u["email"] for u in users}  # another organization's people stay home
    target = _target(tmp_path)
    out = _import(target, path)
    assert out.exit_code == 0, out.output
    assert before["head"][1] in out.output
    after = _picture(target.extensions["workbench.engine"], "acme")
    assert after == before
    verify = target.test_cli_runner().invoke(main, args=["trail", "verify", "--org", "acme"])
    assert verify.exit_code == 0 and "chain intact" in verify.output


def test_existing_users_are_linked_not_duplicated_and_keep_their_password(app, source, tmp_path):
    path = _export(app, tmp_path)
    target = _target(tmp_path)
    eng = target.extensions["workbench.engine"]
    with Session(eng) as db:  # the target already knows the member (another id, another password)
        db.add(User(email="filler@x.test", name="filler", password_hash="x"))
        db.add(User(email="filler2@x.test", name="filler", password_hash="x"))
        db.commit()
        db.add(User(email="member@acme.test", name="已有", password_hash="kept-hash"))
        db.commit()
    out = _import(target, path)
    assert out.exit_code == 0, out.output
    with Session(eng) as db:
        [member] = db.exec(select(User).where(User.email == "member@acme.test")).all()
        assert member.password_hash == "kept-hash" and member.name == "已有"
        org = db.exec(select(Organization).where(Organization.slug == "acme")).one()
        assert db.exec(select(Membership).where(Membership.org_id == org.id, Membership.user_id == member.id)).first()
        moved = db.exec(select(Event).where(Event.org_id == org.id, Event.actor_id == member.id)).all()
        assert moved and all(e.origin == {"actor_id": source.users["member"].id} for e in moved)
    assert _picture(eng, "acme")["head"] == _picture(app.extensions["workbench.engine"], "acme")["head"]
    assert _picture(eng, "acme")["ok"]


@pytest.mark.parametrize("how", ["revision-byte", "manifest-digest", "extra-member"])
def test_a_tampered_archive_is_refused_with_the_member_named(app, source, tmp_path, how):
    path = _export(app, tmp_path)
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bad, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            if how == "revision-byte" and info.filename == "tables/revision.jsonl":
                data = data.replace(b'"quantity": 11', b'"quantity": 12', 1)
                assert data != zin.read(info)
            if how == "manifest-digest" and info.filename == "manifest.json":
                m = json.loads(data)
                m["sha256"]["tables/event.jsonl"] = "0" * 64
                data = json.dumps(m).encode()
            zout.writestr(info, data)
        if how == "extra-member":
            zout.writestr("tables/smuggled.jsonl", b"{}\n")
    target = _target(tmp_path)
    out = _import(target, bad)
    assert out.exit_code == 1
    where = {"revision-byte": "tables/revision.jsonl", "manifest-digest": "tables/event.jsonl",
             "extra-member": "tables/smuggled.jsonl"}[how]
    assert where in out.output
    with Session(target.extensions["workbench.engine"]) as db:
        assert db.exec(select(Organization).where(Organization.slug == "acme")).first() is None


def test_slug_clash_refused_without_replace_and_replaced_in_one_go(app, source, tmp_path):
    path = _export(app, tmp_path)
    eng = app.extensions["workbench.engine"]
    before = _picture(eng, "acme")
    out = _import(app, path)  # the same instance still has acme
    assert out.exit_code == 1 and "--replace" in out.output and "'acme'" in out.output
    assert _picture(eng, "acme") == before
    with Session(eng) as db:  # a record added after the backup disappears on restore
        org = db.exec(select(Organization).where(Organization.slug == "acme")).one()
        tpl = db.get(Record, before["records"][0][0]).template_id
        from workbench.models import ProcessTemplate
        with app.test_request_context():
            records.create(db, org, db.get(ProcessTemplate, tpl), {"batch_no": "LATE", "inspected_on": "2026-02-01",
                                                                   "result": "pass", "quantity": 1},
                           source.users["member"])
        db.commit()
    out = _import(app, path, "--replace")
    assert out.exit_code == 0, out.output
    assert _picture(eng, "acme") == before
    with Session(eng) as db:  # the other organization is untouched, people are not deleted
        assert db.exec(select(Organization).where(Organization.slug == "other")).one()
        assert db.exec(select(User).where(User.email == "member@acme.test")).one()


def test_a_failing_import_leaves_nothing(app, source, tmp_path):
    path = _export(app, tmp_path)
    target = _target(tmp_path)
    eng = target.extensions["workbench.engine"]
    with Session(eng) as db:  # an unrelated organization whose record takes one of the archived record ids
        from workbench.models import ProcessTemplate
        filler = Organization(slug="filler", name="占位")
        db.add(filler)
        db.commit()
        t = ProcessTemplate(org_id=None, key="x-filler", version=1, body={"key": "x-filler"})
        db.add(t)
        db.commit()
        for _ in range(3):
            db.add(Record(org_id=filler.id, template_id=t.id, template_key="x-filler", state="draft", data={}))
        db.commit()
        users_before = db.exec(select(sa.func.count()).select_from(User)).one()
    out = _import(target, path, "--slug", "acme2")
    assert out.exit_code == 1
    assert "id" in out.output and "already used" in out.output  # located: which table, which id
    with Session(eng) as db:
        assert db.exec(select(Organization).where(Organization.slug.in_(["acme", "acme2"]))).first() is None
        assert db.exec(select(sa.func.count()).select_from(User)).one() == users_before


def test_cli_refuses_an_unknown_org_and_a_non_archive(app, world, tmp_path):
    r = app.test_cli_runner().invoke(main, args=["org", "export", "--org", "nope", "-o", str(tmp_path / "x.zip")])
    assert r.exit_code == 1 and "nope" in r.output and not (tmp_path / "x.zip").exists()
    junk = tmp_path / "junk.zip"
    junk.write_bytes(b"not a zip")
    r = _import(app, junk)
    assert r.exit_code == 1 and "not a zip" in r.output


def test_export_is_streamed_per_table(app, source, tmp_path, monkeypatch):
    """Rows are fetched in batches (yield_per), never a whole table at once."""
    seen = []
    real = sa.engine.Connection.execution_options

    def spy(self, **kw):
        seen.append(kw.get("yield_per"))
        return real(self, **kw)

    monkeypatch.setattr(sa.engine.Connection, "execution_options", spy)
    _export(app, tmp_path)
    assert seen.count(500) >= len(archive.plan())


def test_round_trip_sqlite_to_postgres(app, source, tmp_path, pg_app):  # noqa: F811
    before = _picture(app.extensions["workbench.engine"], "acme")
    path = _export(app, tmp_path)
    out = _import(pg_app, path)
    assert out.exit_code == 0, out.output
    eng = pg_app.extensions["workbench.engine"]
    after = _picture(eng, "acme")
    assert after == before and after["ok"]
    with Session(eng) as db:  # sequences moved past the restored ids: new rows get fresh ids
        org = db.exec(select(Organization).where(Organization.slug == "acme")).one()
        with pg_app.test_request_context():
            tpl = db.get(Record, before["records"][0][0])
            from workbench.models import ProcessTemplate
            new = records.create(db, org, db.get(ProcessTemplate, tpl.template_id),
                                 {"batch_no": "PG", "inspected_on": "2026-03-01", "result": "pass", "quantity": 2},
                                 db.exec(select(User).where(User.email == "member@acme.test")).one())
        db.commit()
        assert new.id > max(r[0] for r in before["records"])
        assert trail.verify(db, org.id).ok
    # and back again: PostgreSQL → SQLite with the same head
    again = tmp_path / "again.zip"
    r = pg_app.test_cli_runner().invoke(main, args=["org", "export", "--org", "acme", "-o", str(again)])
    assert r.exit_code == 0, r.output
    back = _target(tmp_path, "back")
    assert _import(back, again).exit_code == 0
    assert _picture(back.extensions["workbench.engine"], "acme")["head"] == _picture(eng, "acme")["head"]
    assert PASSWORD  # the imported users sign in with their old password (hash carried over)


def test_an_insider_cannot_repoint_a_restored_event_to_another_user(app, source, tmp_path):
    """event.origin is not a free pass: re-pointing an event at another user with a faked origin is caught."""
    path = _export(app, tmp_path)
    target = _target(tmp_path)
    eng = target.extensions["workbench.engine"]
    with Session(eng) as db:
        db.add(User(email="filler@x.test", name="filler", password_hash="x"))
        db.commit()
        db.add(User(email="member@acme.test", name="已有", password_hash="kept-hash"))
        db.commit()
    assert _import(target, path).exit_code == 0
    with Session(eng) as db:
        org = db.exec(select(Organization).where(Organization.slug == "acme")).one()
        manager = db.exec(select(User).where(User.email == "manager@acme.test")).one()
        ev = db.exec(select(Event).where(Event.org_id == org.id, Event.actor_id == manager.id)).first()
        member = db.exec(select(User).where(User.email == "member@acme.test")).one()
        hashed = (ev.origin or {}).get("actor_id", ev.actor_id)  # what the hash covers: it still matches
        db.execute(sa.update(Event).where(Event.id == ev.id).values(actor_id=member.id, origin={"actor_id": hashed}))
        db.commit()
        v = trail.verify(db, org.id)
        assert str(v.first) == f"event #{ev.seq} (id {ev.id}): its actor differs from the one the restored chain " \
                               "maps that person to"
        assert all("maps that person to" in p.reason for p in v.problems)  # no hash mismatch: only the mapping


def test_demo_organizations_round_trip_with_samples_findings_and_a_certification_body(app, tmp_path):
    """The demo: audits with a drawn sample, checks, a finding, seals; a certification body and its clients
    whose certificates are shared rows. Restored one after the other into a fresh instance, every chain keeps its
    head and the shared certificates are not doubled."""
    with app.app_context():
        from workbench import demo

        demo.seed()
    eng = app.extensions["workbench.engine"]
    slugs = ["hengtai", "demo", "huaren"]
    paths = {s: _export(app, tmp_path, s) for s in slugs}
    target = _target(tmp_path)
    for s in slugs:
        out = _import(target, paths[s])
        assert out.exit_code == 0, out.output
    teng = target.extensions["workbench.engine"]
    for s in slugs:
        before, after = _picture(eng, s), _picture(teng, s)
        assert after == before and after["ok"], (s, after["first"])
    from workbench.audit.models import Finding, Sample
    from workbench.cb.models import Certificate
    with Session(eng) as a, Session(teng) as b:
        for model in (Sample, Finding, Certificate):
            rows_a = {r.id: r.model_dump() for r in a.exec(select(model)).all()
                      if getattr(r, "org_id", None) in {o.id for o in a.exec(select(Organization).where(
                          Organization.slug.in_(slugs))).all()}}
            rows_b = {r.id: r.model_dump() for r in b.exec(select(model)).all() if r.id in rows_a}
            assert rows_a == rows_b, model


def test_backup_is_an_operator_command_without_a_web_route(app):
    """Export / import need shell access to the server (docs/org-archive.md, "Who may run it"): no route offers
    an organization's archive, so no role of the web app can download every password hash of an organization."""
    rules = [r.rule for r in app.url_map.iter_rules()]
    assert not [r for r in rules if "archive" in r or "backup" in r or "org-export" in r or "restore" in r]
    org_group = main.get_command(None, "org")
    assert set(org_group.commands) == {"export", "import"}


@pytest.mark.parametrize("how", ["broken-line", "missing-field", "unknown-file"])
def test_a_malformed_archive_with_matching_digests_is_refused_located(app, source, tmp_path, how):
    """Someone rewrote a member AND its digest: the digests pass, the content is still checked, nothing stored."""
    path = _export(app, tmp_path)
    bad = tmp_path / "crafted.zip"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(bad, "w") as zout:
        m = json.loads(zin.read("manifest.json"))
        for info in zin.infolist():
            if info.filename == "manifest.json":
                continue
            data = zin.read(info)
            if info.filename == "tables/revision.jsonl":
                lines = data.decode().splitlines()
                if how == "broken-line":
                    lines[1] = lines[1][:20]
                elif how == "missing-field":
                    lines[1] = json.dumps({k: v for k, v in json.loads(lines[1]).items() if k != "record_id"})
                data = ("\n".join(lines) + "\n").encode()
            if how == "unknown-file" and info.filename == "tables/attachment.jsonl":
                data = data.replace(b'"attachments/', b'"attachments/0', 1)
            m["sha256"][info.filename] = hashlib.sha256(data).hexdigest()
            zout.writestr(info, data)
        zout.writestr("manifest.json", json.dumps(m))
    target = _target(tmp_path)
    out = _import(target, bad)
    assert out.exit_code == 1, out.output
    assert out.output.startswith("✘") and "Traceback" not in out.output
    if how == "broken-line":
        assert "tables/revision.jsonl: line 2: not JSON" in out.output
    with Session(target.extensions["workbench.engine"]) as db:
        assert db.exec(select(Organization).where(Organization.slug == "acme")).first() is None
        assert db.exec(select(sa.func.count()).select_from(Record)).one() == 0
