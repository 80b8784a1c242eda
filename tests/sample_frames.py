"""Test helpers: a sample's frozen frame and its re-draw held in memory, whichever algorithm stored it
(algorithm 1: the id list in the sample; algorithm 2: chunks of workbench.audit.frames)."""
from __future__ import annotations

from workbench.audit import frames, sampling


def frame_of(db, s) -> tuple[list[int], list[str]]:
    """(ids, parallel strata or [])."""
    if not sampling.is_v2(s):
        return list(s.population_ids), list(s.strata)
    rows = list(frames.ids(db, s.id, bool(s.rule.get("stratify"))))
    return [i for i, _s in rows], ([st for _i, st in rows] if s.rule.get("stratify") else [])


def redraw(db, s, limit=None) -> list[int]:
    """The sample's first `limit` records (default: as many as drawn) re-drawn from its frame in memory."""
    ids, strata = frame_of(db, s)
    limit = len(s.drawn) if limit is None else limit
    if not sampling.is_v2(s):
        return sampling.draw_order(ids, s.seed, strata or None, limit)
    by: dict[str, list[int]] = {}
    for i, st in zip(ids, strata or [""] * len(ids)):
        by.setdefault(st, []).append(i)
    return [by[st][p] for st, p in frames.draw_places({k: len(v) for k, v in by.items()}, s.seed, limit)]
