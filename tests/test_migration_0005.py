"""Migration 0005 on a database that already has data: existing events become scheme 1 and keep verifying
(nothing is rehashed), and finding numbers duplicated by the old race are renumbered so the new unique
constraint holds and the engagement's counter continues after the highest number."""
from __future__ import annotations

from sqlalchemy import text

from workbench.db import make_engine
from workbench.migrate import upgrade


def test_upgrade_keeps_old_chains_and_renumbers_duplicate_findings(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    upgrade(engine, "0003")
    with engine.begin() as c:
        c.execute(text("INSERT INTO organization (id, slug, name, timezone, created_at) VALUES (1, 'o', 'o', 'UTC', '2026-01-01')"))
        c.execute(text("INSERT INTO event (org_id, seq, actor_name, at, action, comment, detail, data_digest, prev_hash, hash) "
                       "VALUES (1, 1, 'a', '2026-01-01 00:00:00.000000', 'note', '', '{}', '', :g, '')"), {"g": "0" * 64})
        c.execute(text("INSERT INTO audit_engagement (id, org_id, title, audit_body, standards, audit_type, period_start, "
                       "period_end, scope_processes, scope_clauses, access_from, access_until, created_at) VALUES "
                       "(1, 1, 'e', '', '[]', 'initial', '2026-01-01', '2026-02-01', '[]', '[]', '2026-01-01', '2026-02-01', '2026-01-01')"))
        for fid, number in ((1, 1), (2, 2), (3, 2), (4, 3), (5, 2)):
            c.execute(text("INSERT INTO audit_finding (id, engagement_id, org_id, number, grade, standard, clause, statement, "
                           "evidence, status, answer_note, closure_note, created_at) VALUES (:i, 1, 1, :n, 'minor', 'ISO 9001:2015', "
                           "'8.5', 's', '[]', 'open', '', '', '2026-01-01')"), {"i": fid, "n": number})
    upgrade(engine)
    with engine.connect() as c:
        assert c.execute(text("SELECT scheme FROM event")).scalar_one() == 1
        numbers = dict(c.execute(text("SELECT id, number FROM audit_finding")).all())
        assert numbers == {1: 1, 2: 2, 3: 4, 4: 3, 5: 5}
        assert c.execute(text("SELECT finding_counter FROM audit_engagement")).scalar_one() == 5
