"""Record import on PostgreSQL (the throw-away cluster of test_postgres): preview stores nothing, commit creates
every record with its repeating rows and import events, and an error in the last row — after earlier rows were
already stored in the transaction — leaves nothing behind; the chain verifies."""
from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from tests.conftest import World
from tests.test_import_records import HEAD_ZH, csv_bytes, run, xlsx
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from tests.test_workflow import KS
from workbench import trail
from workbench.importing import service
from workbench.models import Event, Record

pytestmark = pytest.mark.postgres


@pytest.fixture
def world(pg_app):  # noqa: F811
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        yield World(db)


def _count(world, model) -> int:
    return world.db.exec(select(func.count()).select_from(model).where(model.org_id == world.acme.id)).one()


def test_import_preview_commit_and_all_or_nothing_on_postgres(pg_app, world):  # noqa: F811
    assert pg_app.extensions["workbench.engine"].dialect.name == "postgresql"
    tpl = world.add_template(KS, world.acme)
    rows = [HEAD_ZH, ["R1", "B-1", "2026年3月5日", 10, "合格", "是", "白班", "甲供方"],
            ["R2", "B-2", "2025/12/1", 5, "pass", "否", "night", "乙供方"]]
    items = [["记录号", "项目", "实测值", "合格"], ["R1", "外观", 1.5, "是"], ["R2", "硬度", 3, "yes"]]
    bad = xlsx(rows + [["R3", "B-3", "someday", 1, "合格", "", "", ""]], items=items)
    prev = run(pg_app, world, tpl, bad)
    assert [(e.row, e.column.split(" ")[0]) for e in prev.errors] == [(4, "C")]
    with pytest.raises(service.ImportInvalid):  # rows 2 and 3 were stored before row 4 failed
        run(pg_app, world, tpl, bad, commit=True)
    world.db.rollback()
    assert _count(world, Record) == 0 and _count(world, Event) == 0
    dup = csv_bytes([HEAD_ZH[:5], ["R1", "B-1", "2026-03-05", "1", "合格"], ["R1", "B-9", "2026-03-05", "1", "合格"]])
    with pytest.raises(service.ImportInvalid):
        run(pg_app, world, tpl, dup, name="dup.csv", commit=True)
    world.db.rollback()
    assert _count(world, Record) == 0

    good = xlsx(rows, items=items)
    assert run(pg_app, world, tpl, good).ok and _count(world, Record) == 0  # a preview stores nothing
    out = run(pg_app, world, tpl, good, commit=True)
    assert out.error_count == 0 and out.records == 2
    recs = world.db.exec(select(Record).where(Record.org_id == world.acme.id).order_by(Record.id)).all()
    assert [r.data["items"] for r in recs] == [[{"item": "外观", "measured": 1.5, "ok": True}],
                                               [{"item": "硬度", "measured": 3, "ok": True}]]
    assert [r.created_at.date().isoformat() for r in recs] == ["2026-03-05", "2025-12-01"]
    events = world.db.exec(select(Event).where(Event.org_id == world.acme.id).order_by(Event.seq)).all()
    assert [(e.seq, e.detail["source"], e.detail["row"]) for e in events] == [(1, "import", 2), (2, "import", 3)]
    assert trail.verify(world.db, world.acme.id).ok
