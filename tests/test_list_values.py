"""#12 sorting and filtering a list by a template field through `record_value` (workbench/record_values.py,
migration 0020), on SQLite and PostgreSQL: the side table follows create / edit / restore, its SQL backfill
computes what Python computes, the lists it serves hold the same rows in the same order as the JSON path and
a sort in Python, SQLite walks its index (no sort of the process), and the statements of a page stay constant."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import delete, text
from sqlmodel import Session, select
from werkzeug.datastructures import MultiDict

from tests.conftest import World
from tests.test_org_backup import _export, _import, _target, source  # noqa: F401 (fixture)
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from tests.test_scale_shape import page_shape, scaled  # noqa: F401 (fixture)
from workbench import listing, record_values, records
from workbench.models import Record, RecordValue
from workbench.templates import LIBRARY_DIR, load_file


def _body() -> dict:
    body = copy.deepcopy(load_file(LIBRARY_DIR / "production-inspection.json"))
    body["schema"]["properties"]["urgent"] = {"type": "boolean", "label": "urgent"}
    return body


def _stored(db, org_id=None) -> set[tuple]:
    q = select(RecordValue)
    if org_id is not None:
        q = q.where(RecordValue.org_id == org_id)
    return {(v.record_id, v.field, v.org_id, v.template_key, v.vtext, v.vnum) for v in db.exec(q).all()}


def _expected(db, body, org_id=None) -> set[tuple]:
    q = select(Record) if org_id is None else select(Record).where(Record.org_id == org_id)
    return {tuple(r.values()) for rec in db.exec(q).all()
            for r in record_values.rows_of(rec.id, rec.org_id, rec.template_key, body, rec.data)}


def _many(db, world):
    """Twelve inspections: ties, a missing optional number, booleans, dates out of id order, long text."""
    tpl = world.add_template(_body())
    ex = {k: v for k, v in tpl.body["examples"][0].items() if k != "lot_qty"}
    made = []
    for i in range(12):
        data = dict(ex, batch_no=f"B{(i * 7) % 5}", result="fail" if i % 4 == 1 else "pass", urgent=i % 3 == 0,
                    inspected_at=f"2026-0{1 + i % 3}-{10 + (i * 5) % 17}T08:00:00+08:00",
                    inspector="检验员" + "长" * (300 if i == 4 else 1) + str(i % 2))
        if i % 5:
            data["lot_qty"] = (i * 37) % 11 * 10
        made.append(records.create(db, world.acme if i != 11 else world.other, tpl, data, world.users["member"] if i != 11 else world.users["outsider"]))
    db.commit()
    return tpl, made


def check_follows_create_and_edit(db, world) -> None:
    tpl, made = _many(db, world)
    assert _stored(db) == _expected(db, tpl.body)
    rec = made[3]
    records.edit(db, rec, tpl, dict(rec.data, result="fail", lot_qty=7, urgent=None), world.users["member"])
    db.commit()
    got = {(v.field, v.vtext, v.vnum) for v in db.exec(select(RecordValue).where(RecordValue.record_id == rec.id)).all()}
    assert ("result", "fail", None) in got and ("lot_qty", None, 7.0) in got and ("urgent", None, None) in got
    assert ("result", "pass", None) not in got
    assert _stored(db) == _expected(db, tpl.body)


def check_backfill(db, world) -> None:
    _many(db, world)
    want = _stored(db)
    db.execute(delete(RecordValue))
    db.commit()
    with db.get_bind().begin() as conn:
        n = record_values.backfill(conn)
    assert n == len(want) and _stored(db) == want


def check_same_rows(db, world) -> None:
    tpl, made = _many(db, world)
    org = world.acme.id

    def page(db_=db, **kw):
        lq = listing.ListQuery.from_args(tpl, MultiDict(kw), db_)
        return lq, [r.id for r in db.exec(lq.select(org)).all()]

    mine = [r for r in made if r.org_id == org]
    for key in ("inspected_at", "batch_no", "lot_qty", "inspector", "urgent", "result"):
        for direction in ("asc", "desc"):
            fast, rows = page(sort=key, dir=direction)
            slow, json_rows = page(db_=None, sort=key, dir=direction)
            assert fast.by_value and not slow.by_value
            assert rows == json_rows, (key, direction)
            if key not in ("lot_qty", "urgent"):  # no NULLs (where they go is the database's rule)
                python = sorted(mine, key=lambda r: (r.data[key][:record_values.TEXT_MAX], r.id), reverse=direction == "desc")
                assert rows == [r.id for r in python], (key, direction)
    for filters in ({"f.result": "fail"}, {"f.urgent": "1"}, {"f.urgent": "0"},
                    {"f.inspected_at.from": "2026-02-01", "f.inspected_at.to": "2026-02-26"},
                    {"f.inspected_at.to": "2026-01-20", "f.result": "pass"}):
        for key in ("date", "lot_qty", "inspected_at"):
            assert page(sort=key, **filters)[1] == page(db_=None, sort=key, **filters)[1], (filters, key)
        fr, to = filters.get("f.inspected_at.from", ""), filters.get("f.inspected_at.to", "9")
        python = [r.id for r in mine if filters.get("f.result", r.data["result"]) == r.data["result"]
                  and ("f.urgent" not in filters or (filters["f.urgent"] == "1") == r.data["urgent"])
                  and fr <= r.data["inspected_at"][:10] <= to]
        assert sorted(page(sort="id", **filters)[1]) == sorted(python), filters
        counted = listing.ListQuery.from_args(tpl, MultiDict(dict(filters, sort="lot_qty")), db).select(org, counting=True)
        assert listing.count(db, counted) == len(python) and listing.count(db, counted, cap=1) == min(2, len(python)), filters
    # paged: each page of a field sort is the slice of the whole order
    whole = page(sort="inspected_at")[1]
    lq = listing.ListQuery.from_args(tpl, MultiDict({"sort": "inspected_at"}), db)
    assert [r.id for r in db.exec(lq.select(org).offset(3).limit(4)).all()] == whole[3:7]
    assert listing.count(db, lq.select(org)) == len(mine) and listing.count(db, lq.select(org), cap=4) == 5


def test_follows_create_and_edit_on_sqlite(app, db, world):
    check_follows_create_and_edit(db, world)


def test_backfill_equals_python_on_sqlite(app, db, world):
    check_backfill(db, world)


def test_same_rows_as_json_and_python_on_sqlite(app, db, world):
    check_same_rows(db, world)


def test_a_common_value_walks_the_list_order_with_the_same_rows(app, db, world, monkeypatch):
    """SQLite: a filter matching at least COMMON_VALUE records is checked per record (EXISTS) on the page."""
    monkeypatch.setattr(listing, "COMMON_VALUE", 1)
    check_same_rows(db, world)
    tpl = listing.ProcessTemplate
    lq = listing.ListQuery.from_args(db.exec(select(tpl).where(tpl.key == "production-inspection")).first(),
                                     MultiDict({"f.result": "pass", "sort": "lot_qty"}), db)
    assert "EXISTS" in str(lq.select(world.acme.id)) and "EXISTS" not in str(lq.select(world.acme.id, counting=True))


def test_a_version_without_the_field_falls_back_to_json(app, db, world):
    """Records of a version that lacks the field have no row for it: the sort reads the JSON (all records)."""
    old = copy.deepcopy(_body())
    old["version"] = 0
    del old["schema"]["properties"]["urgent"]
    tpl0 = world.add_template(old)
    first = records.create(db, world.acme, tpl0, old["examples"][0], world.users["member"])
    db.commit()
    tpl, _ = _many(db, world)
    lq = listing.ListQuery.from_args(tpl, MultiDict({"sort": "urgent"}), db)
    assert not lq.by_value
    assert first.id in [r.id for r in db.exec(lq.select(world.acme.id)).all()]
    assert listing.ListQuery.from_args(tpl, MultiDict({"sort": "lot_qty"}), db).by_value


def test_sqlite_walks_the_value_index(app, db, world):
    tpl, _ = _many(db, world)
    for args in ({"sort": "inspected_at", "dir": "desc"}, {"sort": "lot_qty", "dir": "asc", "state": "draft"}):
        stmt = listing.ListQuery.from_args(tpl, MultiDict(args), db).select(world.acme.id).limit(50)
        sql = str(stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True}))
        plan = " | ".join(r[-1] for r in db.execute(text("EXPLAIN QUERY PLAN " + sql)).all())
        assert "ix_record_value" in plan and "TEMP B-TREE" not in plan, plan


def test_restore_rebuilds_the_values(app, source, tmp_path):  # noqa: F811
    path = _export(app, tmp_path)
    target = _target(tmp_path)
    out = _import(target, path)
    assert out.exit_code == 0, out.output
    with Session(target.extensions["workbench.engine"]) as db:
        from workbench.models import ProcessTemplate
        bodies = {t.id: t.body for t in db.exec(select(ProcessTemplate)).all()}
        want = {tuple(r.values()) for rec in db.exec(select(Record)).all()
                for r in record_values.rows_of(rec.id, rec.org_id, rec.template_key, bodies[rec.template_id], rec.data)}
        assert want and _stored(db) == want


# statements per page at 100 vs 1,000 records for sorts and filters through record_value: LIST_URLS in
# tests/test_list_search.py


POSTGRES_CHECKS = {"create and edit": check_follows_create_and_edit, "backfill": check_backfill,
                   "same rows": check_same_rows}


@pytest.mark.postgres
@pytest.mark.parametrize("check", list(POSTGRES_CHECKS))
def test_on_postgres(pg_app, check):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        POSTGRES_CHECKS[check](db, World(db))


def _migrate_0020(url: str) -> None:
    """Records made before 0020 (a template whose properties the data partly lacks; a number, a boolean, a
    null, a long text, a nested object and rows): the migration's backfill stores what rows_of computes."""
    import json

    from workbench.db import make_engine
    from workbench.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine, "0003")
    body = {"schema": {"properties": {"a": {"type": "string"}, "n": {"type": "integer"}, "b": {"type": "boolean"},
                                      "missing": {"type": "number"}, "rows": {"type": "array"}, "o": {"type": "object"}}}}
    rows = [{"id": 1, "data": {"a": "电机" * 150, "n": 5, "b": True, "rows": [{"x": "y"}], "o": {"k": 1}, "extra": 2.5}},
            {"id": 2, "data": {"a": "x", "n": -3, "b": False, "gone": None}}]
    with engine.begin() as c:
        c.execute(text("INSERT INTO organization (id, slug, name, timezone, created_at) VALUES (1, 'o', 'o', 'UTC', '2026-01-01')"))
        c.execute(text("INSERT INTO process_template (id, key, version, status, body, created_at) "
                       "VALUES (1, 'k', 1, 'published', :b, '2026-01-01')"), {"b": json.dumps(body)})
        for r in rows:
            c.execute(text("INSERT INTO record (id, org_id, template_id, template_key, state, revision, data, title, "
                           "created_at, updated_at) VALUES (:id, 1, 1, 'k', 'draft', 1, :data, 't', '2026-01-01', "
                           "'2026-01-01')"), {"id": r["id"], "data": json.dumps(r["data"], ensure_ascii=False)})
    upgrade(engine)
    with engine.connect() as c:
        got = {tuple(x) for x in c.execute(text("SELECT record_id, field, org_id, template_key, vtext, vnum FROM record_value"))}
    engine.dispose()
    want = {tuple(v.values()) for r in rows for v in record_values.rows_of(r["id"], 1, "k", body, r["data"])}
    assert got == want and ("missing" in {f for _, f, *_ in got})


def test_migration_0020_backfills_on_sqlite(tmp_path):
    _migrate_0020(f"sqlite:///{tmp_path / 'old.db'}")


@pytest.mark.postgres
def test_migration_0020_backfills_on_postgres(pg_url):  # noqa: F811
    from tests.test_postgres import empty_schema

    empty_schema(pg_url)
    _migrate_0020(pg_url)


@pytest.mark.postgres
def test_postgres_sorts_by_walking_the_value_index(pg_app):  # noqa: F811
    """With the table scan off (the planner's choice on a tiny table is not its choice at 100k), a field sort
    is an index scan of ix_record_value with no Sort node, and a filter reads ix_record_value."""
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        tpl, _ = _many(db, world)
        db.execute(text("SET enable_seqscan = off"))
        for args, no_sort in (({"sort": "inspected_at", "dir": "desc"}, True), ({"f.result": "fail"}, False)):
            stmt = listing.ListQuery.from_args(tpl, MultiDict(args), db).select(world.acme.id).limit(50)
            sql = str(stmt.compile(db.get_bind(), compile_kwargs={"literal_binds": True}))
            plan = "\n".join(r[0] for r in db.execute(text("EXPLAIN " + sql)).all())
            assert "ix_record_value" in plan, plan
            assert not no_sort or "Sort" not in plan.replace("Sort Key", ""), plan
