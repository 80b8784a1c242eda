"""library.available_updates is kept per (organization, adopted versions, newest/number of published versions
it can see) (#11): a repeated call reads one aggregate and the versions it shows, never every published
version; publishing, adopting, another organization's versions and a fresh database all give the answer the
uncached computation gives."""
from __future__ import annotations

from sqlalchemy import event

from tests.test_studio_versions import small
from workbench import library
from workbench.studio import versions


def ids(pairs):
    return sorted(((cur.id if cur else 0, new.id) for cur, new in pairs))


def check(db, org):
    got = library.available_updates(db, org)
    assert ids(got) == ids(library._available_updates(db, org))
    assert all(new.body["key"] == new.key for _c, new in got)
    return ids(got)


def test_updates_follow_publishing_and_adopting(db, world):
    library.install_shipped(db)
    library.adopt_library(db, world.acme)
    db.commit()
    assert check(db, world.acme) == [] and check(db, world.acme) == []
    audit = library.latest_shipped(db)["internal-audit"]
    v2 = versions.publish(db, world.acme, audit.body, None)
    db.commit()
    assert check(db, world.acme) == [(audit.id, v2.id)]
    new = versions.publish(db, world.acme, small(), None)
    db.commit()
    assert check(db, world.acme) == sorted([(audit.id, v2.id), (0, new.id)])
    theirs = versions.publish(db, world.other, {**small(), "key": "not-for-acme"}, None)
    db.commit()
    assert check(db, world.acme) == sorted([(audit.id, v2.id), (0, new.id)])
    assert check(db, world.other) == [(0, theirs.id)]
    library.adopt(db, world.acme, v2)
    db.commit()
    assert check(db, world.acme) == [(0, new.id)]
    library.adopt(db, world.acme, new)
    db.commit()
    assert check(db, world.acme) == []


def test_a_repeated_call_does_not_read_the_published_versions(app, db, world):
    library.install_shipped(db)
    library.adopt_library(db, world.acme)
    audit = library.latest_shipped(db)["internal-audit"]
    v2 = versions.publish(db, world.acme, audit.body, None)
    db.commit()
    engine = app.extensions["workbench.engine"]
    seen: list[str] = []

    def keep(conn, cursor, statement, params, context, executemany):
        seen.append(statement)
    first = library.available_updates(db, world.acme)
    event.listen(engine, "before_cursor_execute", keep)
    try:
        again = library.available_updates(db, world.acme)
    finally:
        event.remove(engine, "before_cursor_execute", keep)
    assert ids(again) == ids(first) == [(audit.id, v2.id)]
    published = [s for s in seen if "process_template.status = " in s]
    assert len(published) == 1 and "max(" in published[0].lower(), seen  # the aggregate only
    assert len(seen) <= 3, seen  # the aggregate, the adopted versions, the versions shown
