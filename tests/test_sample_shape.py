"""Issue #11, drawing a sample (algorithm 2, workbench.audit.frames) by shape, not time: the statements of a draw
are the same at 1,000 and 10,000 records except the frame's chunk writes (one per CHUNK ids), the frame is read
from ix_record_frame alone (a covering index, no record rows), and the drawn sample re-draws from its frame."""
from __future__ import annotations

import math
import re

import pytest
from sqlalchemy import event as sa_event

from tests.sample_frames import frame_of, redraw
from tests.test_postgres import pg_app, pg_url  # noqa: F401 (fixtures)
from tests.test_scale_shape import _whole_period, scaled  # noqa: F401 (the fixture)
from workbench.audit import frames, sampling

FRAME_INSERT = "INSERT INTO audit_sample_frame"
IN_LIST = re.compile(r" IN \([^()]*\)")  # the chunks read back: one placeholder per chunk holding a place


def assert_whole(v) -> None:
    """The sample verifies and its frame holds exactly the records matching now (none lost while streaming)."""
    assert v.ok and not v.added_since and not v.gone_since and v.population_now, (v.problems, v.added_since, v.gone_since)


def _draw_statements(app, db, world, eid, stratify):
    """(the draw's statements, the sample) of one draw of 50."""
    from workbench.audit.models import Engagement

    seen = []
    engine = app.extensions["workbench.engine"]

    def keep(conn, cursor, statement, params, context, executemany):
        seen.append((" ".join(statement.split()), params))
    e = db.get(Engagement, eid)
    rule = sampling.make_rule("fixed", n=50, stratify=stratify)
    sa_event.listen(engine, "before_cursor_execute", keep)
    try:
        with app.test_request_context("/"):
            s = sampling.create_sample(db, e, _whole_period(e), rule, 11, world.users["auditor"])
    finally:
        sa_event.remove(engine, "before_cursor_execute", keep)
    return seen, s


def test_a_draw_runs_the_same_statements_at_any_size_but_the_frame_chunks(app, db, world, scaled):  # noqa: F811
    grow, _nc, eid = scaled
    shapes = {}
    for n in (1_000, 10_000):
        grow(n)
        db.expire_all()
        for stratify in (None, "process"):
            seen, s = _draw_statements(app, db, world, eid, stratify)
            assert s.drawn == redraw(db, s) and len(s.drawn) >= 50
            ids, _strata = frame_of(db, s)
            assert len(ids) == s.population_size and ids == sorted(set(ids)) and set(s.drawn) <= set(ids)
            with app.test_request_context("/"):
                assert_whole(sampling.verify_sample(db, s))
            inserts = [st for st, _p in seen if st.startswith(FRAME_INSERT)]
            assert len(inserts) == math.ceil(s.population_size / frames.CHUNK)
            shapes[(n, stratify)] = [IN_LIST.sub(" IN (…)", st) for st, _p in seen if not st.startswith(FRAME_INSERT)]
            if n == 10_000:  # the frame: every matching id, from the covering index (never the records' rows)
                engine = app.extensions["workbench.engine"]
                frame = [(st, p) for st, p in seen if st.startswith("SELECT record.id") and "ORDER BY record.id" in st]
                assert len(frame) == 1, [st for st, _p in seen]
                with engine.connect() as c:
                    plan = [r[3] for r in c.exec_driver_sql("EXPLAIN QUERY PLAN " + frame[0][0], frame[0][1])]
                assert any("COVERING INDEX ix_record_frame" in line for line in plan), plan
                assert not any(line.startswith("SCAN record") for line in plan), plan
            db.rollback()
        db.expire_all()
    for stratify in (None, "process"):
        assert shapes[(1_000, stratify)] == shapes[(10_000, stratify)], stratify
    assert shapes[(10_000, None)] and len(shapes[(10_000, None)]) < 40


def test_a_frame_of_many_chunks_re_draws_with_strata_spanning_chunks(app, db, world, scaled, monkeypatch):  # noqa: F811
    """Places are resolved after the frame is written, from the chunks holding them (their strata offsets): with
    small chunks every stratum spans many chunks, and the sample is still the one its frame re-draws."""
    grow, _nc, eid = scaled
    grow(600)
    monkeypatch.setattr(frames, "CHUNK", 37)
    for stratify in (None, "month", "process"):
        _seen, s = _draw_statements(app, db, world, eid, stratify)
        assert s.population_size > 10 * frames.CHUNK and len(s.drawn) >= 50
        assert s.drawn == redraw(db, s)
        assert sampling.extend_sample(db, s, 40, world.users["auditor"]) == 40 and s.drawn == redraw(db, s)
        with app.test_request_context("/"):
            assert_whole(sampling.verify_sample(db, s))
        db.rollback()


@pytest.mark.postgres
def test_frames_of_many_chunks_on_postgres_from_the_covering_index(pg_app, monkeypatch):  # noqa: F811
    """The frame through a server-side cursor (driver tuples, the row SQLAlchemy buffered first included), over
    many chunks, re-draws and verifies; the frame's SELECT can be answered by an index-only scan of
    ix_record_frame (sequential scans disabled: the table is small enough that PostgreSQL prefers one)."""
    from sqlmodel import Session, select

    from bench.scale import populate
    from tests.conftest import World
    from tests.test_scale_shape import KEYS
    from workbench.audit.models import Engagement
    from workbench.templates import shipped_library

    engine = pg_app.extensions["workbench.engine"]
    with Session(engine, expire_on_commit=False) as db:
        world = World(db)
        lib = shipped_library()
        for key in KEYS:
            world.add_template(lib[key], world.acme)
        world.open_engagement_for_auditor()
        populate(db, world.acme, world.users["member"], 600, scheme=1)
        e = db.exec(select(Engagement).where(Engagement.org_id == world.acme.id)).one()
        monkeypatch.setattr(frames, "CHUNK", 37)
        for stratify in (None, "month", "process"):
            seen, s = _draw_statements(pg_app, db, world, e.id, stratify)
            db.commit()
            assert s.population_size > 10 * frames.CHUNK and len(s.drawn) >= 50
            ids, _strata = frame_of(db, s)
            assert len(ids) == s.population_size and ids == sorted(set(ids)) and s.drawn == redraw(db, s)
            with pg_app.test_request_context("/"):
                assert_whole(sampling.verify_sample(db, s))
        frame = [(st, p) for st, p in seen if st.startswith("SELECT record.id") and "ORDER BY record.id" in st]
        assert len(frame) == 1
        with engine.connect() as c:
            c.exec_driver_sql("SET enable_seqscan = off")
            c.exec_driver_sql("SET enable_bitmapscan = off")
            plan = "\n".join(r[0] for r in c.exec_driver_sql("EXPLAIN " + frame[0][0], frame[0][1]))
        assert "Index Only Scan using ix_record_frame" in plan, plan
