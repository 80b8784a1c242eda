"""#12 list search through the indexed `search_text` column (workbench/search.py, migration 0019), on SQLite
(FTS5 trigram) and PostgreSQL (pg_trgm): what it finds, that the SQL backfill computes exactly what Python
computes, that the statements of a searched / sorted / filtered list page do not grow with the process, and
that the export of a searched list holds the list's rows."""
from __future__ import annotations

import csv
import io

import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from sqlmodel import Session, select
from werkzeug.datastructures import MultiDict

from tests.conftest import World, login
from tests.test_org_backup import _export, _import, _target, source  # noqa: F401 (fixture)
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from tests.test_scale_shape import page_shape, scaled  # noqa: F401 (fixture)
from workbench import listing, records, search
from workbench.db import make_engine
from workbench.migrate import upgrade
from workbench.models import Record
from workbench.templates import LIBRARY_DIR, load_file


def _ids(db, org_id, tpl, **args) -> list[int]:
    return sorted(r.id for r in db.exec(listing.ListQuery.from_args(tpl, MultiDict(args)).select(org_id)).all())


def _three(db, world):
    tpl = world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
    ex = tpl.body["examples"][0]
    user = world.users["member"]
    r1 = records.create(db, world.acme, tpl, dict(ex, part_name="电机输出轴", batch_no="B-Alpha-001", operator="Zhang WEI"), user)
    r2 = records.create(db, world.acme, tpl, dict(ex, part_name="传动轴", batch_no="b-beta-002", result="fail",
                                                  nc_description="Surface CRACK found"), user)
    r3 = records.create(db, world.acme, tpl, dict(ex, part_name="法兰", batch_no="100%_done"), user)
    # another organization's record is never found
    records.create(db, world.other, tpl, dict(ex, part_name="电机输出轴", batch_no="B-Alpha-001"), world.users["outsider"])
    db.commit()
    return tpl, r1, r2, r3


def check_search(db, world) -> None:
    tpl, r1, r2, r3 = _three(db, world)
    org = world.acme.id
    find = lambda q, **kw: _ids(db, org, tpl, q=q, **kw)  # noqa: E731
    assert find("输出轴") == [r1.id]                      # Chinese substring (trigram index)
    assert find("输出") == [r1.id]                        # two characters: below the trigram, LIKE
    assert find("轴") == [r1.id, r2.id]
    assert find("alpha") == find("ALPHA") == find("Alpha") == [r1.id]   # English, case-insensitive
    assert find("crack") == [r2.id]                       # a text field that is neither title nor subject
    assert find("zhang wei") == [r1.id]
    assert find("002") == [r2.id] and find("b-beta") == [r2.id]       # numbers inside a record number
    assert find("100%_") == [r3.id] and find("%") == [r3.id] and find("_d") == [r3.id]   # LIKE characters literal
    assert r3.id in find(f"#{r3.id}") and r3.id in find(str(r3.id))  # the record's own number
    assert find("fail") == [r2.id]                        # choice values are strings of the data too
    assert find("nosuchthing") == [] and find('"') == [] and find("a\x00b") == []
    assert find("轴", state="nosuch") == [] and find("轴", **{"f.result": "fail"}) == [r2.id]
    # an edit re-indexes the record (SQLite: the update trigger keeps the FTS table in step)
    records.edit(db, r2, tpl, dict(r2.data, batch_no="B-Gamma-003"), world.users["member"])
    db.commit()
    assert find("gamma") == [r2.id] and find("beta") == []


def test_search_on_sqlite(app, db, world):
    check_search(db, world)


@pytest.mark.postgres
def test_the_trigram_index_serves_like_on_postgres(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"]) as db:
        assert db.execute(text("SELECT 1 FROM pg_indexes WHERE indexname = 'ix_record_search_trgm'")).first(), \
            "pg_trgm is part of Debian's postgresql package: the GIN index should exist"
        db.execute(text("SET LOCAL enable_seqscan = off"))
        plan = " ".join(r[0] for r in db.execute(text("EXPLAIN SELECT id FROM record WHERE search_text LIKE :p"),
                                                    {"p": "%alpha%"}))
        assert "ix_record_search_trgm" in plan, plan


def check_backfill(db, world) -> None:
    """The set-based backfill (migration 0019, archive restore) writes exactly what records.derived_fields writes."""
    tpl, *_ = _three(db, world)
    odd = dict(tpl.body["examples"][0], part_name="ÄÖ ÉÈ Straße 轴", operator='quote " back\\slash \t tab',
               nc_description="")
    records.create(db, world.acme, tpl, odd, world.users["member"])
    db.commit()
    want = {r.id: r.search_text for r in db.exec(select(Record)).all()}
    assert all(want.values())
    db.execute(text("UPDATE record SET search_text = NULL"))
    assert search.backfill(db.connection()) == len(want)
    db.commit()
    db.expire_all()
    assert {r.id: r.search_text for r in db.exec(select(Record)).all()} == want


def test_backfill_equals_python_on_sqlite(app, db, world):
    check_backfill(db, world)
    assert _ids(db, world.acme.id, listing_tpl(db), q="straße") != []


def listing_tpl(db):
    from workbench.models import ProcessTemplate
    return db.exec(select(ProcessTemplate).where(ProcessTemplate.key == "production-inspection")).first()


def test_migration_0019_backfills_and_indexes_existing_records(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0003")
    rows = [{"id": 1, "data": '{"part_name": "电机输出轴", "batch_no": "B-Alpha-001", "qty": 5, "rows": [{"x": "hidden"}]}',
             "title": "B-Alpha-001", "subject": None},
            {"id": 2, "data": '{"part_name": "传动轴", "note": "CRACK"}', "title": "传动轴", "subject": "JL-0012"}]
    with engine.begin() as c:
        c.execute(text("INSERT INTO organization (id, slug, name, timezone, created_at) VALUES (1, 'o', 'o', 'UTC', '2026-01-01')"))
        c.execute(text("INSERT INTO process_template (id, key, version, status, body, created_at) VALUES (1, 'k', 1, 'published', '{}', '2026-01-01')"))
        for r in rows:
            c.execute(text("INSERT INTO record (id, org_id, template_id, template_key, state, revision, data, title, subject, "
                           "created_at, updated_at) VALUES (:id, 1, 1, 'k', 'draft', 1, :data, :title, :subject, "
                           "'2026-01-01', '2026-01-01')"), r)
    upgrade(engine)
    import json
    with engine.connect() as c:
        got = dict(c.execute(text("SELECT id, search_text FROM record")).all())
        assert got == {r["id"]: search.text_of(r["title"], r["subject"], json.loads(r["data"])) for r in rows}
        assert "hidden" not in got[1] and "crack" in got[2]
        hits = lambda q: sorted(x for (x,) in c.execute(text("SELECT rowid FROM record_search WHERE record_search MATCH :q"), {"q": q}))  # noqa: E731
        assert hits('"输出轴"') == [1] and hits('"crack"') == [2] and hits('"jl-0012"') == [2]
        triggers = {n for (n,) in c.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))}
        assert {"record_search_ai", "record_search_au", "record_search_ad"} <= triggers, \
            "a later migration that rebuilds the record table must re-create the search triggers"


LIST_URLS = {
    "search, indexed": "/o/acme/p/production-inspection/?q=B00",
    "search, two characters": "/o/acme/p/production-inspection/?q=传动",
    "sort by a field": "/o/acme/p/production-inspection/?sort=inspected_at&dir=asc",
    "filtered, page 2": "/o/acme/p/production-inspection/?f.result=pass&page=2",
    # through record_value (tests/test_list_values.py)
    "sort by a number": "/o/acme/p/production-inspection/?sort=lot_qty&dir=desc&page=2",
    "rare filter": "/o/acme/p/production-inspection/?f.result=fail",
    "date range, sorted by a field": "/o/acme/p/production-inspection/?f.inspected_at.from=2026-01-01&sort=inspected_at",
}


@pytest.mark.parametrize("which", list(LIST_URLS))
def test_list_statements_do_not_grow_with_the_process(app, world, scaled, which):  # noqa: F811
    grow, _nc, _eid = scaled
    client = app.test_client()
    assert login(client, world.users["manager"].email).status_code == 302
    grow(100)
    small, small_loads = page_shape(app, client, LIST_URLS[which])
    grow(1_000)
    big, big_loads = page_shape(app, client, LIST_URLS[which])
    assert big == small, f"{which}: {small} statements at 100 records, {big} at 1,000"
    assert big_loads <= 60, f"{which}: {big_loads} records loaded at 1,000"


def test_export_of_a_searched_list_holds_the_lists_rows(app, db, world, client_for):
    tpl, r1, r2, r3 = _three(db, world)
    c = client_for("member")
    for qs in ({"q": "轴"}, {"q": "alpha"}, {"q": "轴", "f.result": "fail"}):
        want = _ids(db, world.acme.id, tpl, **qs)
        r = c.get("/o/acme/p/production-inspection/export.xlsx", query_string=qs)
        main = load_workbook(io.BytesIO(r.data), read_only=True).worksheets[0]
        assert sorted(row[0] for row in main.iter_rows(min_row=2, values_only=True)) == want, qs
        r = c.get("/o/acme/p/production-inspection/export.csv", query_string=qs)
        assert sorted(int(x[0]) for x in list(csv.reader(io.StringIO(r.data.decode("utf-8-sig"))))[1:]) == want, qs


def test_an_archive_without_search_text_is_searchable_after_restore(app, source, tmp_path):  # noqa: F811
    """Archives written before migration 0019 have no record.search_text: the restore computes it."""
    import hashlib
    import json
    import zipfile

    path = _export(app, tmp_path)
    old = tmp_path / "old.zip"
    with zipfile.ZipFile(path) as zin, zipfile.ZipFile(old, "w") as zout:
        manifest = json.loads(zin.read("manifest.json"))
        for info in zin.infolist():
            data = zin.read(info)
            if info.filename == "tables/record.jsonl":
                rows = [json.loads(x) for x in data.decode().splitlines()]
                assert all(r.pop("search_text") for r in rows)
                data = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
                manifest["sha256"][info.filename] = hashlib.sha256(data).hexdigest()
            if info.filename != "manifest.json":
                zout.writestr(info, data)
        zout.writestr("manifest.json", json.dumps(manifest))
    target = _target(tmp_path)
    out = _import(target, old)
    assert out.exit_code == 0, out.output
    with Session(target.extensions["workbench.engine"]) as db:
        tpl = db.exec(select(listing.ProcessTemplate)).first()
        org_id = db.exec(select(Record.org_id)).first()
        assert all(r.search_text for r in db.exec(select(Record)).all())
        assert len(_ids(db, org_id, tpl, q="毛刺")) == 1


def check_filters_and_sort(db, world) -> None:
    """Filters on an enum, a date range, the state, the maker and a person field; sorting by a text, a date-time
    and a number field, both ways; all in SQL."""
    tpl = world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
    ex = tpl.body["examples"][0]
    made = []
    for i, (qty, day, who, result) in enumerate([(30, "2026-01-03", "member", "pass"), (5, "2026-02-10", "manager", "fail"),
                                                  (200, "2026-03-01", "member", "fail"), (12, "2026-01-20", "manager", "pass")]):
        data = dict(ex, lot_qty=qty, sample_qty=1, inspected_at=f"{day}T08:00:00+08:00", inspector=f"检验员{i}号",
                    batch_no=f"B{i}", result=result)
        made.append(records.create(db, world.acme, tpl, data, world.users[who]))
    db.commit()
    from workbench import workflow
    workflow.take(db, made[1], tpl.body, "submit", world.users["member"], {"member"})
    db.commit()
    org, ids = world.acme.id, [r.id for r in made]
    find = lambda **kw: _ids(db, org, tpl, **kw)  # noqa: E731
    assert find(**{"f.result": "fail"}) == sorted([ids[1], ids[2]])
    assert find(**{"f.inspected_at.from": "2026-01-15", "f.inspected_at.to": "2026-02-28"}) == sorted([ids[1], ids[3]])
    assert find(state="submitted") == [ids[1]]
    assert find(by=str(world.users["manager"].id)) == sorted([ids[1], ids[3]])
    assert find(**{"f.inspector": "2号"}) == [ids[2]]
    order = lambda **kw: [r.id for r in db.exec(listing.ListQuery.from_args(tpl, MultiDict(kw)).select(org)).all()]  # noqa: E731
    assert order(sort="lot_qty", dir="asc") == [ids[1], ids[3], ids[0], ids[2]]          # numbers, not text
    assert order(sort="inspected_at", dir="desc") == [ids[2], ids[1], ids[3], ids[0]]
    assert order(sort="title", dir="asc") == ids
    assert listing.count(db, listing.ListQuery.from_args(tpl, MultiDict()).select(org), cap=2) == 3  # "more than 2"
    assert listing.count(db, listing.ListQuery.from_args(tpl, MultiDict()).select(org)) == 4


def test_filters_and_sort_on_sqlite(app, db, world):
    check_filters_and_sort(db, world)


def test_a_list_past_the_counted_pages(app, db, world, client_for, monkeypatch):
    """Past COUNT_CAP matches the page says "more than" and keeps a next link while pages are full."""
    tpl, *_ = _three(db, world)
    monkeypatch.setattr(listing, "COUNT_CAP", 1)
    monkeypatch.setattr("workbench.views.records.PAGE_SIZE", 1)
    c = client_for("member")
    html = c.get("/o/acme/p/production-inspection/?lang=en").get_data(as_text=True)
    assert "More than 1 records" in html and "page=2" in html
    html = c.get("/o/acme/p/production-inspection/?page=3&lang=en").get_data(as_text=True)
    assert html.count('name="ids"') <= 1 and "page=2" in html


POSTGRES_CHECKS = {"search": check_search, "backfill": check_backfill, "filters and sort": check_filters_and_sort}


@pytest.mark.postgres
@pytest.mark.parametrize("check", list(POSTGRES_CHECKS))
def test_on_postgres(pg_app, check):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        POSTGRES_CHECKS[check](db, World(db))


def test_a_common_word_is_planned_from_the_list_index_with_the_same_rows(app, db, world, monkeypatch):
    """SQLite: a query matching at least search.COMMON records walks the list's index ("+id IN …") instead of
    starting from its matches; the rows and their order are the same."""
    tpl, r1, r2, r3 = _three(db, world)
    monkeypatch.setattr(search, "COMMON", 2)
    # matches counted over the instance (the other organization has a 输出轴 / alpha too); one character: no index
    for q, common in {"轴": False, "输出轴": True, "b-b": False, "alpha": True, "zzz": False}.items():
        args = MultiDict({"q": q, "sort": "title", "dir": "asc"})
        rare = listing.ListQuery.from_args(tpl, args)
        planned = listing.ListQuery.from_args(tpl, args, db)
        assert planned.common == common, q
        assert [r.id for r in db.exec(planned.select(world.acme.id)).all()] == \
            [r.id for r in db.exec(rare.select(world.acme.id)).all()], q
    compiled = lambda q: str(listing.ListQuery.from_args(tpl, MultiDict({"q": q}), db).select(1).compile(db.get_bind()))  # noqa: E731
    assert "+record.id IN" in compiled("alpha") and "+record.id IN" not in compiled("b-b")


def test_export_streams_in_batches(app, db, world, client_for, monkeypatch):
    """Constant memory: the export reads BATCH records per statement and the csv leaves as a stream."""
    from sqlalchemy import event as sa_event

    tpl = world.add_template(load_file(LIBRARY_DIR / "production-inspection.json"))
    for i in range(10):
        records.create(db, world.acme, tpl, dict(tpl.body["examples"][0], batch_no=f"E{i}"), world.users["member"])
    db.commit()
    monkeypatch.setattr(listing, "BATCH", 4)
    seen = []

    def spy(conn, cursor, statement, params, context, executemany):
        if statement.lstrip().startswith("SELECT record.id"):
            seen.append(statement)
    engine = app.extensions["workbench.engine"]
    c = client_for("member")
    sa_event.listen(engine, "before_cursor_execute", spy)
    try:
        r = c.get("/o/acme/p/production-inspection/export.csv?q=e")
        assert r.is_streamed
        body = r.get_data()
    finally:
        sa_event.remove(engine, "before_cursor_execute", spy)
    assert len(list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))) == 11
    assert len(seen) == 3 and all("LIMIT" in s for s in seen), seen  # 4 + 4 + 2
