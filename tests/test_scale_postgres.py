"""The SQL that replaced Python loops for #11 (latest per subject, links compared as JSON text) on PostgreSQL."""
from __future__ import annotations

import pytest
from sqlmodel import Session

from tests.conftest import World
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from workbench import records, schedules
from workbench.templates import shipped_library

pytestmark = pytest.mark.postgres


def test_due_items_and_links_on_postgres(pg_app):  # noqa: F811
    lib = shipped_library()
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        user = world.users["member"]
        t = {k: world.add_template(lib[k], world.acme) for k in ("calibration-record", "nonconforming-output", "corrective-action")}
        cal = lib["calibration-record"]["examples"][0]
        records.create(db, world.acme, t["calibration-record"], dict(cal, next_due_date="2000-01-01"), user)
        newer = records.create(db, world.acme, t["calibration-record"], dict(cal, next_due_date="2999-01-01"), user)
        nc = records.create(db, world.acme, t["nonconforming-output"], lib["nonconforming-output"]["examples"][0], user)
        db.flush()
        ca = records.create(db, world.acme, t["corrective-action"],
                            dict(lib["corrective-action"]["examples"][0], source_record=str(nc.id)), user)
        db.commit()
        with pg_app.test_request_context():
            items = [i for i in schedules.due_items(db, world.acme) if i.template.key == "calibration-record"]
            assert [(i.subject, i.last_record.id) for i in items] == [(newer.subject, newer.id)]
            assert ("from", ca.id) in [(d, r.id) for d, r in records.linked(db, nc, t["nonconforming-output"])]
