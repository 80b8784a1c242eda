"""The record_link table (issue #11) is kept right by every path that writes records: create, edit (link changed,
removed, unchanged), the importer, the org archive restore, the bulk generator of the benchmarks and migration
0016's backfill; `trail verify` reports a link row changed by hand."""
from __future__ import annotations

import io

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlmodel import Session, select

from tests.test_postgres import pg_url  # noqa: F401  (fixture: the throw-away PostgreSQL cluster)
from workbench import links, records, trail
from workbench.links import RecordLink
from workbench.templates import shipped_library

KEYS = ("nonconforming-output", "corrective-action", "measuring-equipment", "calibration-record")


@pytest.fixture
def linked_world(app, db, world):
    """acme: two nonconformities, a corrective action answering the first; other: a nonconformity."""
    lib = shipped_library()
    tpls = {k: world.add_template(lib[k], world.acme) for k in KEYS}
    user = world.users["member"]
    with app.test_request_context():
        nc1 = records.create(db, world.acme, tpls["nonconforming-output"], lib["nonconforming-output"]["examples"][0], user)
        nc2 = records.create(db, world.acme, tpls["nonconforming-output"], lib["nonconforming-output"]["examples"][0], user)
        foreign = records.create(db, world.other, tpls["nonconforming-output"], lib["nonconforming-output"]["examples"][0],
                                 world.users["outsider"])
        ca = records.create(db, world.acme, tpls["corrective-action"],
                            dict(lib["corrective-action"]["examples"][0], source_record=str(nc1.id)), user)
        db.commit()
    return tpls, nc1, nc2, foreign, ca


def rows(db, org_id=None) -> set[tuple]:
    q = select(RecordLink)
    if org_id is not None:
        q = q.where(RecordLink.org_id == org_id)
    return {(r.from_record_id, r.field, r.org_id, r.to_record_id) for r in db.exec(q).all()}


def test_create_writes_the_link_and_the_record_page_finds_it_both_ways(app, db, world, linked_world):
    tpls, nc1, nc2, _foreign, ca = linked_world
    assert rows(db) == {(ca.id, "source_record", world.acme.id, nc1.id)}
    assert [(d, r.id) for d, r in records.linked(db, nc1, tpls["nonconforming-output"])] == [("from", ca.id)]
    assert [(d, r.id) for d, r in records.linked(db, ca, tpls["corrective-action"])] == [("to", nc1.id)]
    assert records.linked(db, nc2, tpls["nonconforming-output"]) == []


def test_edit_repoints_removes_and_keeps_the_link(app, db, world, linked_world):
    tpls, nc1, nc2, _foreign, ca = linked_world
    user = world.users["member"]
    with app.test_request_context():
        records.edit(db, ca, tpls["corrective-action"], dict(ca.data, source_record=str(nc2.id)), user)
        db.commit()
        assert rows(db) == {(ca.id, "source_record", world.acme.id, nc2.id)}
        assert records.linked(db, nc1, tpls["nonconforming-output"]) == []
        assert [r.id for d, r in records.linked(db, nc2, tpls["nonconforming-output"])] == [ca.id]
        records.edit(db, ca, tpls["corrective-action"], dict(ca.data, verification="再次验证"), user)  # link unchanged
        db.commit()
        assert rows(db) == {(ca.id, "source_record", world.acme.id, nc2.id)}
        records.edit(db, ca, tpls["corrective-action"], {k: v for k, v in ca.data.items() if k != "source_record"}, user)
        db.commit()
        assert rows(db) == set()
        assert records.linked(db, nc2, tpls["nonconforming-output"]) == []
    assert trail.verify(db, world.acme.id).ok


def test_a_link_to_another_organizations_record_or_to_nothing_is_not_stored(app, db, world, linked_world):
    tpls, _nc1, _nc2, foreign, _ca = linked_world
    lib = shipped_library()
    with app.test_request_context():
        for value in (str(foreign.id), "999999", "12abc", "-3", "٣"):
            rec = records.create(db, world.acme, tpls["corrective-action"],
                                 dict(lib["corrective-action"]["examples"][0], source_record=value), world.users["member"])
            db.flush()
            assert not [r for r in rows(db) if r[0] == rec.id], value
        db.rollback()


def test_the_importer_writes_links(app, db, world, linked_world):
    import csv

    import forms
    from workbench.importing import files, service

    tpls, nc1, _nc2, _foreign, _ca = linked_world
    tpl = tpls["corrective-action"]
    example = {k: v for k, v in shipped_library()["corrective-action"]["examples"][0].items() if k != "actions"}
    values = dict(forms.flatten(tpl.body["schema"], example), source_record=str(nc1.id))
    buf = io.StringIO()
    csv.writer(buf).writerows([list(values), list(values.values())])
    with app.test_request_context():
        stored = files.save(app.instance_path, world.acme.id, io.BytesIO(buf.getvalue().encode("utf-8-sig")), "ca.csv")
        out = service.run(db, world.acme, tpl, world.users["member"], stored, commit=True)
        db.commit()
    assert out.error_count == 0, out.errors
    (new_id,) = out.created
    assert (new_id, "source_record", world.acme.id, nc1.id) in rows(db)
    assert new_id in [r.id for d, r in records.linked(db, nc1, tpls["nonconforming-output"]) if d == "from"]


def test_archive_restore_rebuilds_the_links(app, db, world, linked_world, tmp_path):
    from workbench import create_app
    from workbench.cli import main

    _tpls, nc1, _nc2, _foreign, ca = linked_world
    out = tmp_path / "acme.zip"
    r = app.test_cli_runner().invoke(main, args=["org", "export", "--org", "acme", "-o", str(out)])
    assert r.exit_code == 0, r.output
    target = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'target.db'}", "SECRET_KEY": "t", "TESTING": True})
    r = target.test_cli_runner().invoke(main, args=["org", "import", str(out)])
    assert r.exit_code == 0, r.output
    with Session(target.extensions["workbench.engine"]) as tdb:
        assert rows(tdb) == {(ca.id, "source_record", world.acme.id, nc1.id)}
    # restoring over the same organization (--replace) deletes its link rows before its records
    r = target.test_cli_runner().invoke(main, args=["org", "import", str(out), "--replace"])
    assert r.exit_code == 0, r.output
    with Session(target.extensions["workbench.engine"]) as tdb:
        assert rows(tdb) == {(ca.id, "source_record", world.acme.id, nc1.id)}


def test_the_bulk_generator_writes_links(app, db, world, linked_world):
    from bench.chain_data import synthetic_records

    tpls, nc1, _nc2, _foreign, _ca = linked_world
    example = shipped_library()["corrective-action"]["examples"][0]
    before = rows(db)
    synthetic_records(db, world.acme, tpls["corrective-action"], 3, world.users["member"], scheme=1,
                      data_for=lambda i: dict(example, source_record=str(nc1.id if i != 1 else 999999)))
    new = rows(db) - before
    assert len(new) == 2 and {r[3] for r in new} == {nc1.id}
    assert trail.verify(db, world.acme.id).ok


def test_verify_reports_a_link_row_changed_by_hand(app, db, world, linked_world):
    _tpls, nc1, nc2, _foreign, ca = linked_world
    assert trail.verify(db, world.acme.id).ok
    db.execute(text("UPDATE record_link SET to_record_id = :t WHERE from_record_id = :f"), {"t": nc2.id, "f": ca.id})
    db.commit()
    v = trail.verify(db, world.acme.id)
    assert not v.ok and any(p.where == f"record {ca.id}" and "link" in p.reason for p in v.problems), v.problems
    db.execute(text("DELETE FROM record_link"))
    db.execute(text("INSERT INTO record_link (from_record_id, field, org_id, to_record_id) VALUES (:f, 'x', :o, :t)"),
               {"f": nc1.id, "o": world.acme.id, "t": nc2.id})
    db.commit()
    where = {p.where for p in trail.verify(db, world.acme.id).problems}
    assert {f"record {ca.id}", f"record {nc1.id}"} <= where


def _heads_but(engine, *skip: str) -> list[str]:
    from workbench.migrate import alembic_config

    return [h for h in ScriptDirectory.from_config(alembic_config(engine)).get_heads() if h not in skip]


def _backfilled(engine) -> set[tuple]:
    """Upgrade to every head but 0016, store records from before it, upgrade: the link rows 0016 made."""
    from workbench.migrate import upgrade

    for head in _heads_but(engine, "0016", "0021"):  # 0021 (tally triggers) depends on 0016
        upgrade(engine, head)
    _old_records(engine)
    upgrade(engine)
    with engine.connect() as c:
        return {"links": set(c.execute(text("SELECT from_record_id, field, org_id, to_record_id FROM record_link")).all()),
                "tally": set(c.execute(text("SELECT org_id, template_key, records FROM process_tally")).all()),
                "latest": {tuple(str(v) for v in row) for row in c.execute(text(
                    "SELECT org_id, template_key, subject, record_id, rank_date, due_date FROM subject_latest")).all()}}


def test_migration_0016_backfills_the_links_set_based(tmp_path):
    """A database from before 0016 with records in two organizations: the upgrade fills record_link, process_tally
    and subject_latest."""
    from workbench.db import make_engine

    assert _backfilled(make_engine(f"sqlite:///{tmp_path / 'old.db'}")) == EXPECTED


EXPECTED = {
    "links": {(3, "source_record", 1, 1), (6, "source_record", 2, 5)},
    "tally": {(1, "nonconforming-output", 2), (1, "corrective-action", 5), (2, "nonconforming-output", 2),
              (2, "corrective-action", 3)},
    # subject G1: the record of the later date (11), not the higher id (12); no subject: the record itself
    "latest": {("1", "corrective-action", "G1", "11", "2026-03-01", "2026-09-01"),
               ("1", "corrective-action", "#13", "13", "2026-01-05", "2026-02-01")},
}


def _old_records(engine) -> None:
    """Two organizations; in each a nonconformity answered by a corrective action; plus links that must not
    count: to another organization's record, to no record, not a number, and a field that is not a link."""
    import json

    lib = shipped_library()
    ca, nc = lib["corrective-action"], lib["nonconforming-output"]
    with engine.begin() as c:
        for oid in (1, 2):
            c.execute(text("INSERT INTO organization (id, slug, name, timezone, created_at) VALUES (:i, :s, :s, 'UTC', '2026-01-01')"),
                      {"i": oid, "s": f"o{oid}"})
        for tid, body in ((1, nc), (2, ca)):
            c.execute(text("INSERT INTO process_template (id, org_id, key, version, status, body, created_at) "
                           "VALUES (:i, NULL, :k, :v, 'published', :b, '2026-01-01')"),
                      {"i": tid, "k": body["key"], "v": body["version"], "b": json.dumps(body)})
        rows_ = [(1, 1, 1, {"nc_no": "N1"}), (2, 1, 1, {"nc_no": "N2"}), (3, 1, 2, {"source_record": "1"}),
                 (4, 1, 2, {"source_record": "5"}), (5, 2, 1, {"nc_no": "N5"}), (6, 2, 2, {"source_record": "5"}),
                 (7, 2, 2, {"source_record": "99"}), (8, 2, 2, {"source_record": "5x"}), (9, 2, 1, {"source_record": "5"})]
        for rid, oid, tid, data in rows_:
            c.execute(text("INSERT INTO record (id, org_id, template_id, template_key, state, revision, data, title, "
                           "created_at, updated_at) VALUES (:i, :o, :t, :k, 's', 1, :d, '', '2026-01-01', '2026-01-01')"),
                      {"i": rid, "o": oid, "t": tid, "k": (nc, ca)[tid - 1]["key"], "d": json.dumps(data)})
        for rid, subject, day, due in ((11, "G1", "2026-03-01", "2026-09-01"), (12, "G1", "2026-02-01", "2026-08-01"),
                                       (13, None, "2026-01-05", "2026-02-01")):
            c.execute(text("INSERT INTO record (id, org_id, template_id, template_key, state, revision, data, title, "
                           "subject, record_date, due_date, created_at, updated_at) VALUES (:i, 1, 2, :k, 's', 1, '{}', '', "
                           ":s, :d, :u, '2026-01-01', '2026-01-01')"),
                      {"i": rid, "k": ca["key"], "s": subject, "d": day, "u": due})


@pytest.mark.postgres
def test_migration_0016_backfill_on_postgres(pg_url):  # noqa: F811
    from workbench.db import make_engine

    from tests.test_postgres import empty_schema

    empty_schema(pg_url)  # the cluster is shared by the module
    engine = make_engine(pg_url)
    assert _backfilled(engine) == EXPECTED
    engine.dispose()


def test_rebuild_gives_what_the_write_path_gave(app, db, world, linked_world):
    before = rows(db)
    assert before
    n = links.rebuild(db, world.acme.id)
    assert rows(db) == before and n == len(rows(db, world.acme.id))

