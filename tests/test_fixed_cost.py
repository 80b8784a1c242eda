"""Issue #11, the fixed cost of a page: parsed template bodies are shared by requests (workbench.library), so
(1) a page parses no template body once the versions it shows have been read, however many processes were
visited before, and (2) a newly published version or a new adoption is seen by the very next request."""
from __future__ import annotations

import copy

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import inspect

from tests.conftest import login
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from workbench import library
from workbench.models import ProcessTemplate
from workbench.studio import versions
from workbench.templates import shipped_library

KEYS = ("production-inspection", "nonconforming-output", "corrective-action", "measuring-equipment",
        "calibration-record")


def parsed(fn) -> int:
    """Template bodies fn() reads from the database: rows loaded with their body, and bodies the cache fetched."""
    seen = []

    def on_load(target, context):
        if "body" not in inspect(target).unloaded:
            seen.append(target.id)
    sa_event.listen(ProcessTemplate, "load", on_load)
    before = library.parsed_bodies
    try:
        fn()
    finally:
        sa_event.remove(ProcessTemplate, "load", on_load)
    return len(seen) + library.parsed_bodies - before


@pytest.fixture
def manager(app, world):
    lib = shipped_library()
    for k in KEYS:
        world.add_template(lib[k], world.acme)
    client = app.test_client()
    assert login(client, world.users["manager"].email).status_code == 302
    return client


def get(client, url: str) -> str:
    resp = client.get(url)
    assert resp.status_code == 200, (url, resp.status_code)
    return resp.get_data(as_text=True)


PAGES = ["/o/acme/", "/o/acme/todo", "/o/acme/p/production-inspection/", "/o/acme/p/production-inspection/new"]


@pytest.mark.parametrize("visited", [1, len(KEYS)])
def test_a_page_parses_no_body_whatever_was_visited_before(app, world, manager, visited):
    for k in KEYS[:visited]:
        get(manager, f"/o/acme/p/{k}/new")
    for url in PAGES:
        get(manager, url)  # warm-up: the bodies this page shows
        assert parsed(lambda: get(manager, url)) == 0, url


def test_parsed_bodies_per_request_do_not_grow_with_the_processes_visited(app, world, manager):
    library.clear_cache()  # a cold process
    first = parsed(lambda: get(manager, "/o/acme/"))
    assert first <= len(KEYS), first  # each adopted version once, not once per use
    for k in KEYS:
        get(manager, f"/o/acme/p/{k}/new")
    assert parsed(lambda: get(manager, "/o/acme/")) == 0


def test_a_new_version_and_a_new_adoption_are_seen_by_the_next_request(app, db, world, manager):
    lib = shipped_library()
    html = get(manager, "/o/acme/p/production-inspection/new")
    old_title = lib["production-inspection"]["title"]["zh"]
    assert old_title in html
    body = copy.deepcopy(lib["production-inspection"])
    body["title"] = {"zh": "成品检验记录（第二版）", "en": "Final inspection v2"}
    v2 = versions.publish(db, world.acme, body, world.users["consultant"], adopt=True)
    db.commit()
    assert "成品检验记录（第二版）" in get(manager, "/o/acme/p/production-inspection/new")
    assert "成品检验记录（第二版）" in get(manager, "/o/acme/")
    assert library.adopted(db, world.acme, "production-inspection").id == v2.id

    new_key = next(k for k in lib if k not in KEYS and lib[k].get("examples"))
    assert manager.get(f"/o/acme/p/{new_key}/new").status_code == 404
    world.add_template(lib[new_key], world.acme)
    page = get(manager, "/o/acme/")
    assert lib[new_key]["title"]["zh"] in page
    get(manager, f"/o/acme/p/{new_key}/new")


def test_a_cache_from_another_database_is_not_used(app, db, world, manager):
    """Ids are reused by a fresh database: an entry for the same id made at another time is not this version."""
    from datetime import datetime

    from sqlmodel import Session

    tpl = library.adopted(db, world.acme, "production-inspection")
    library.clear_cache()
    library._BODIES[(tpl.id, datetime(2000, 1, 1))] = {"stale": True}
    with Session(app.extensions["workbench.engine"]) as fresh:
        assert library.version(fresh, tpl.id).body == tpl.body
    assert library._BODIES[(tpl.id, tpl.created_at)] == tpl.body


@pytest.mark.postgres
def test_bodies_are_shared_and_a_new_version_is_seen_on_postgres(pg_app):  # noqa: F811
    from sqlmodel import Session

    from tests.conftest import World

    lib = shipped_library()
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        world = World(db)
        for k in KEYS:
            world.add_template(lib[k], world.acme)
        client = pg_app.test_client()
        assert login(client, world.users["manager"].email).status_code == 302
        for url in PAGES:
            get(client, url)
            assert parsed(lambda: get(client, url)) == 0, url
        body = copy.deepcopy(lib["production-inspection"])
        body["title"] = {"zh": "成品检验记录（第二版）", "en": "Final inspection v2"}
        versions.publish(db, world.acme, body, world.users["consultant"], adopt=True)
        db.commit()
        assert "成品检验记录（第二版）" in get(client, "/o/acme/p/production-inspection/new")
