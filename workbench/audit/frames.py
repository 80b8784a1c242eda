"""Sampling algorithm 2 (issue #11): a draw costs what the sample costs, not what the population costs.

Algorithm 1 (workbench.audit.sampling) stores the frame — every matching record id — in the sample's JSON and
shuffles the whole list. Algorithm 2 keeps the same rules, sizes, seat order and prefix stability, but:

- the frame is streamed once in id order, read from the covering index ix_record_frame (no record rows) as the
  driver's own tuples (no ORM objects, no Row objects): its lines (``frame_line``) are hashed into
  ``frame_digest`` (part of the sample's digest, hence of the event chain) and stored as zlib chunks of
  ``CHUNK`` lines (audit_sample_frame, written once, each with its first position and the strata counts
  before it); that one read also gives the frame's size per stratum;
- the seeded draw then picks *places* — the (stratum, position in the stratum's id order) pairs — from the
  sizes alone: a forward Fisher–Yates over a virtual array (`positions`, O(k) time and memory) driven by
  ``random.random()`` of a per-stratum generator (``stratum_rng``: the seed and the stratum through SHA-256),
  so a bigger sample only adds places; the places are resolved to record ids by reading back only the
  chunks that hold them (`at_places`). Memory is bounded by one chunk; the sample row stores the digest, the
  size and [stratum, size] pairs, never the id list.

The frame's bytes are ``frame_line`` per record in id order: ``"<id>\\n"``, or ``"<id>\\t<JSON stratum>\\n"``
when stratified. The evidence bundle carries them as a file; its verify.py re-runs `verify_frame_draw` (copied
from here) on it. The functions above `# --- the database` use the standard library only, for that reason.
"""
from __future__ import annotations

import hashlib
import json
import random
import zlib
from collections import Counter
from collections.abc import Iterable, Iterator
from operator import itemgetter

from flask_babel import gettext as _
from sqlmodel import Session, func, select

from workbench.audit.sampling import judgement_problems, sample_size, seat_order

ALGORITHM = "processbench-sample-2"
CHUNK = 2000  # frame lines per stored chunk
LEVEL = 1  # zlib level of the stored chunks (the digest is over the lines, not the compressed bytes)


def stratum_rng(seed, stratum):
    """The generator of one stratum: seeded with the first 8 bytes of SHA-256("<seed>\\t<stratum>")."""
    return random.Random(int.from_bytes(hashlib.sha256(f"{int(seed)}\t{stratum}".encode("utf-8")).digest()[:8], "big"))


def positions(n, rnd, k):
    """The first k places of a seeded random permutation of range(n) in O(k): Fisher–Yates run forwards over a
    virtual identity array of which only the swapped cells are kept; rnd.random() is the only call made."""
    swapped = {}
    out = []
    for i in range(min(int(k), int(n))):
        j = i + int(rnd.random() * (n - i))
        out.append(swapped.get(j, j))
        swapped[j] = swapped.get(i, i)
    return out


def draw_places(sizes, seed, limit):
    """The sample's first `limit` places as (stratum, position within the stratum, in id order). sizes maps
    stratum -> records ({"": n} when not stratified); strata take places in `seat_order`."""
    order = seat_order(sizes, limit)
    wanted = {}
    for s in order:
        wanted[s] = wanted.get(s, 0) + 1
    per = {s: positions(sizes[s], stratum_rng(seed, s), c) for s, c in wanted.items()}
    taken = dict.fromkeys(per, 0)
    out = []
    for s in order:
        out.append((s, per[s][taken[s]]))
        taken[s] += 1
    return out


def scan_frame(chunks, stratified, wanted=(), members=()):
    """One pass over a frame's bytes (chunks ending at line ends): its SHA-256, size, sizes per stratum, whether
    the ids strictly increase, the ids at the `wanted` places and which of `members` it holds."""
    h = hashlib.sha256()
    sizes, found, present = {}, {}, set()
    wanted, members = set(wanted), set(members)
    last, ordered, whole = -1, True, True
    for chunk in chunks:
        h.update(chunk)
        parts = chunk.split(b"\n")
        if parts[-1]:
            whole = False
        for line in parts[:-1]:
            if stratified:
                rid, _tab, raw = line.partition(b"\t")
                stratum = json.loads(raw.decode("utf-8")) if raw else None
            else:
                rid, stratum = line, ""
            rid = int(rid)
            ordered = ordered and rid > last
            last = rid
            pos = sizes.get(stratum, 0)
            sizes[stratum] = pos + 1
            if wanted and (stratum, pos) in wanted:
                found[(stratum, pos)] = rid
            if rid in members:
                present.add(rid)
    return {"digest": h.hexdigest(), "size": sum(sizes.values()), "sizes": sizes, "ordered": ordered and whole,
            "found": found, "present": present}


def verify_frame_draw(chunks, rule, seed, drawn, first_count, population_size, strata, frame_digest):
    """Re-draw an algorithm-2 sample from its frame's bytes and compare; returns the problems found.
    strata: the stored [stratum, size] pairs ([] when not stratified)."""
    stratified = bool(rule.get("stratify"))
    claimed = {str(s): int(n) for s, n in strata} if stratified else {"": int(population_size)}
    judgement = rule.get("kind") == "judgement"
    picked = [int(i) for i in rule.get("picked") or []]
    places = [] if judgement else draw_places(claimed, seed, min(len(drawn), sum(claimed.values())))
    scan = scan_frame(chunks, stratified, places, picked if judgement else drawn)
    problems = []
    if scan["digest"] != frame_digest:
        problems.append(_("The stored frame differs from its digest (changed after the draw)."))
    if not scan["ordered"]:
        problems.append(_("The stored population is not a sorted list of distinct record ids."))
    if scan["size"] != population_size or (stratified and scan["sizes"] != claimed):
        problems.append(_("The stored population size (%(a)s) differs from its list of records (%(b)s).",
                          a=population_size, b=scan["size"]))
    if problems:
        return problems
    if judgement:
        return judgement_problems(rule, drawn, first_count, scan["present"])
    expected_first = sample_size(rule, scan["size"], list(claimed) if stratified else None)
    if first_count != expected_first:
        problems.append(_("The first draw has %(a)s records; the rule gives %(b)s.", a=first_count, b=expected_first))
    outside = [i for i in drawn if int(i) not in scan["present"]]
    if outside:
        problems.append(_("Records not in the population were added to the sample: %(ids)s.",
                          ids=", ".join(f"#{i}" for i in outside)))
    for pos, (have, place) in enumerate(zip(drawn, places), start=1):
        if int(have) != scan["found"].get(place):
            problems.append(_("Position %(pos)s holds record #%(have)s; re-drawing gives #%(want)s.",
                              pos=pos, have=have, want=scan["found"].get(place)))
            break
    if len(drawn) > scan["size"]:
        problems.append(_("The sample is larger than its population."))
    return problems


# --- the database ------------------------------------------------------------------------------------------------


def frame_line(rid: int, stratum: str | None) -> bytes:
    return (f"{rid}\n" if stratum is None else f"{rid}\t{json.dumps(stratum, ensure_ascii=False)}\n").encode("utf-8")


def _stratum_cols(how: str | None) -> tuple:
    from sqlalchemy import extract

    from workbench.models import Record

    if how == "month":
        return extract("year", Record.record_date), extract("month", Record.record_date)
    if how == "process":
        return (Record.template_key,)
    return ()


def _stratum(how: str | None, values: tuple) -> str | None:
    if how == "month":
        y, m = values
        return "—" if y is None else f"{int(y):04d}-{int(m):02d}"
    if how == "process":
        return values[0]
    return None


def serving(db: Session, org_id: int, definition: dict) -> list[int] | None:
    """The ids of the template versions (the organization's and shipped) serving the definition's clause."""
    from workbench.audit.sampling import serves
    from workbench.models import ProcessTemplate

    if not definition.get("clause"):
        return None
    # only the bodies' clause lists leave the database (json_extract / ->), not the whole template bodies
    tpls = db.exec(select(ProcessTemplate.id, ProcessTemplate.body["clauses"]).where(
        (ProcessTemplate.org_id == org_id) | ProcessTemplate.org_id.is_(None))).all()
    return [tid for tid, found in tpls if serves(found or [], definition.get("standard"), definition["clause"])]


def matching(db: Session, org_id: int, definition: dict, *columns, tids: list[int] | None = None):
    """SELECT columns FROM the organization's records matching the population definition (see
    sampling.population): every filter in SQL, the clause as the ids of the template versions serving it
    (`tids`, when already looked up)."""
    from datetime import date

    from workbench.models import Record

    q = select(*columns).where(Record.org_id == org_id)
    if definition.get("start"):
        q = q.where(Record.record_date >= date.fromisoformat(definition["start"]))
    if definition.get("end"):
        q = q.where(Record.record_date <= date.fromisoformat(definition["end"]))
    if definition.get("start") or definition.get("end"):
        q = q.where(Record.record_date.is_not(None))
    if definition.get("process"):
        q = q.where(Record.template_key == definition["process"])
    if definition.get("state"):
        q = q.where(Record.state == definition["state"])
    if definition.get("clause"):
        q = q.where(Record.template_id.in_((serving(db, org_id, definition) if tids is None else tids) or [0]))
    if definition.get("edited_after_signature"):  # records edited while a signature was in force
        from workbench.signatures import edited_after_signature

        q = q.where(Record.id.in_(sorted(edited_after_signature(db, org_id)) or [0]))
    return q


def sizes(db: Session, org_id: int, definition: dict, how: str | None, tids: list[int] | None = None) -> dict[str, int]:
    """Records matching the definition per stratum ({"": n} when not stratified), by one aggregate query."""
    cols = _stratum_cols(how)
    q = matching(db, org_id, definition, *cols, func.count(), tids=tids)
    rows = db.execute(q.group_by(*cols) if cols else q).all()
    out: dict[str, int] = {}
    for row in rows:
        if row[-1]:
            key = _stratum(how, tuple(row[:-1])) if cols else ""
            out[key] = out.get(key, 0) + int(row[-1])
    return out


def driver_rows(db: Session, q, size: int | None = None) -> Iterator[list[tuple]]:
    """q's rows as the driver's own tuples, `size` at a time. Executed through SQLAlchemy (parameters bound and
    processed, statement events fired) but fetched from the DBAPI cursor, so no Row object is built per row; on
    PostgreSQL the cursor is server-side (the row SQLAlchemy's buffered strategy fetched first comes first)."""
    from sqlalchemy.engine.cursor import BufferedRowCursorFetchStrategy, CursorFetchStrategy

    size = size or CHUNK
    result = db.connection().execute(q.execution_options(stream_results=True))
    try:
        cursor, strategy = result.cursor, result.cursor_strategy
        if isinstance(strategy, BufferedRowCursorFetchStrategy):
            first = list(strategy._rowbuffer)
        elif type(strategy) is CursorFetchStrategy:
            first = []
        else:  # a strategy holding rows elsewhere: reading the cursor would lose them
            raise RuntimeError(f"unexpected result strategy {type(strategy).__name__}")
        while part := first + cursor.fetchmany(size - len(first)):
            first = []
            yield part
    finally:
        result.close()


def stream(db: Session, org_id: int, definition: dict, how: str | None,
           tids: list[int] | None = None) -> Iterator[tuple[list[int], list[str] | None]]:
    """The matching records in id order, CHUNK at a time, as (ids, their strata or None): plain values, streamed
    from ix_record_frame alone (a covering index: the records' rows are not read)."""
    from workbench.models import Record

    cols = _stratum_cols(how)
    q = matching(db, org_id, definition, Record.id, *cols, tids=tids).order_by(Record.id)
    for part in driver_rows(db, q):
        rids = list(map(itemgetter(0), part))
        yield rids, ([_stratum(how, r[1:]) for r in part] if cols else None)


def store(db: Session, sample_id: int, parts: Iterable[tuple[list[int], list[str] | None]], members: set[int]) -> dict:
    """Write the frame's chunks while hashing them. Returns the digest, size, sizes per stratum, the `members`
    present and each chunk's (first position, strata counts before it) for `at_places`."""
    from workbench.audit.models import SampleFrame

    insert = SampleFrame.__table__.insert()
    conn = db.connection()
    h = hashlib.sha256()
    counts: Counter = Counter()
    present: set[int] = set()
    tails: dict = {}  # stratum -> the end of its lines, "\t<JSON>\n"
    index = []
    n = 0
    for number, (rids, strata) in enumerate(parts):
        offsets = dict(counts)
        if strata is None:
            data = ("\n".join(map(str, rids)) + "\n").encode("ascii")
            counts[""] += len(rids)
        else:
            for st in set(strata).difference(tails):
                tails[st] = frame_line(0, st)[1:].decode("utf-8")
            data = "".join([f"{rid}{tails[st]}" for rid, st in zip(rids, strata)]).encode("utf-8")
            counts.update(strata)
        if members:
            present |= members.intersection(rids)
        h.update(data)
        conn.execute(insert, {"sample_id": sample_id, "chunk": number, "first": n, "lines": len(rids),
                              "offsets": offsets, "data": zlib.compress(data, LEVEL)})
        index.append((n, offsets))
        n += len(rids)
    return {"digest": h.hexdigest(), "size": n, "sizes": dict(counts), "present": present, "index": index}


def at_places(db: Session, sample_id: int, index: list[tuple[int, dict]], places: list[tuple[str, int]]) -> dict:
    """The record ids at `places` ((stratum, position in the stratum) pairs, "" when not stratified) of a stored
    frame, reading back only the chunks that hold them: `index` gives each chunk's first position and strata
    counts before it, as `store` wrote them."""
    from bisect import bisect_right

    from workbench.audit.models import SampleFrame

    firsts = {st: [off.get(st, 0) for _first, off in index] for st in {st for st, _p in places}}
    by_chunk: dict[int, list] = {}
    for st, pos in places:  # the last chunk whose count before it is <= pos holds the place
        by_chunk.setdefault(bisect_right(firsts[st], pos) - 1, []).append((st, pos))
    found = {}
    q = select(SampleFrame.chunk, SampleFrame.data).where(SampleFrame.sample_id == sample_id,
                                                          SampleFrame.chunk.in_(sorted(by_chunk)))
    for number, data in (row for part in driver_rows(db, q) for row in part):
        lines = zlib.decompress(data).split(b"\n")[:-1]
        offsets = index[number][1]
        wanted: dict = {}
        for st, pos in by_chunk[number]:
            wanted.setdefault(st, set()).add(pos)
        if set(wanted) == {""}:  # not stratified: a position is a line
            for pos in wanted[""]:
                found[("", pos)] = int(lines[pos - index[number][0]])
            continue
        tails = {json.dumps(st, ensure_ascii=False).encode("utf-8"): st for st in wanted}
        seen = {st: offsets.get(st, 0) for st in wanted}
        for line in lines:
            rid, _tab, raw = line.partition(b"\t")
            st = tails.get(raw)
            if st is not None:
                if seen[st] in wanted[st]:
                    found[(st, seen[st])] = int(rid)
                seen[st] += 1
    return found


def chunks(db: Session, sample_id: int) -> Iterator[bytes]:
    """The stored frame's bytes, chunk by chunk (one chunk in memory at a time)."""
    from workbench.audit.models import SampleFrame

    q = select(SampleFrame.data).where(SampleFrame.sample_id == sample_id).order_by(SampleFrame.chunk)
    result = db.connection().execute(q.execution_options(stream_results=True, yield_per=8))
    while part := result.fetchmany(8):
        for (data,) in part:
            yield zlib.decompress(data)


def ids(db: Session, sample_id: int, stratified: bool) -> Iterator[tuple[int, str | None]]:
    """The stored frame as (record id, stratum or None), streamed."""
    for data in chunks(db, sample_id):
        for line in data.split(b"\n")[:-1]:
            rid, _tab, raw = line.partition(b"\t")
            yield int(rid), (json.loads(raw.decode("utf-8")) if stratified else None)


def create(db: Session, engagement, definition: dict, rule: dict, seed: int, user, number: int, now):
    """Stream the frame into its chunks (one read of the matching ids, which also counts them), then draw the
    places and read back the chunks holding them; the Sample (not yet chained)."""
    from workbench.audit.models import Sample
    from workbench.models import Record

    how = rule.get("stratify") or None
    tids = serving(db, engagement.org_id, definition)
    if db.execute(matching(db, engagement.org_id, definition, Record.id, tids=tids).limit(1)).first() is None:
        raise ValueError(_("No records match this population."))
    judgement = rule.get("kind") == "judgement"
    picked = [int(i) for i in rule.get("picked") or []] if judgement else []
    s = Sample(engagement_id=engagement.id, org_id=engagement.org_id, number=number, definition=definition, rule=rule,
               seed=int(seed), population_size=0, population_ids=[], strata=[], drawn=[], draws=[], created_at=now,
               created_by=getattr(user, "id", None))
    db.add(s)
    db.flush()
    got = store(db, s.id, stream(db, engagement.org_id, definition, how, tids), set(picked))
    counted, n = got["sizes"], got["size"]
    s.population_size = n
    s.strata = [[k, counted[k]] for k in sorted(counted)] if how else []
    if judgement:
        outside = [i for i in picked if i not in got["present"]]
        if outside:
            raise ValueError(_("Picked records not in the population: %(ids)s.", ids=", ".join(f"#{i}" for i in outside)))
        s.drawn = picked
    else:
        places = draw_places(counted, seed, sample_size(rule, n, list(counted) if how else None))
        found = at_places(db, s.id, got["index"], places)
        s.drawn = [found[p] for p in places]
    s.frame_digest = got["digest"]
    s.draws = [{"at": now.isoformat(), "by": getattr(user, "id", None), "count": len(s.drawn)}]
    return s


def check(db: Session, sample) -> list[str]:
    first = int(sample.draws[0]["count"]) if sample.draws else len(sample.drawn)
    return verify_frame_draw(chunks(db, sample.id), sample.rule, sample.seed, sample.drawn, first,
                             sample.population_size, sample.strata, sample.frame_digest)


def extended(db: Session, sample, count: int) -> list[int]:
    """The sample with `count` more records of the same ordering (the stored ones stay a prefix)."""
    stratified = bool(sample.rule.get("stratify"))
    claimed = {str(s): int(n) for s, n in sample.strata} if stratified else {"": int(sample.population_size)}
    places = draw_places(claimed, sample.seed, min(sample.population_size, len(sample.drawn) + max(0, int(count))))
    found = scan_frame(chunks(db, sample.id), stratified, places)["found"]
    out = [found[p] for p in places]
    if out[: len(sample.drawn)] != [int(i) for i in sample.drawn]:
        raise ValueError("the stored sample is not a prefix of its re-drawn ordering")
    return out


def changes(db: Session, sample) -> tuple[int, list[int], list[int]]:
    """(records matching the definition now, ids added since the draw, ids gone since): a merge of the stored
    frame with the current matches, both streamed in id order."""
    now = (rid for rids, _s in stream(db, sample.org_id, sample.definition, None) for rid in rids)
    then = (rid for rid, _s in ids(db, sample.id, bool(sample.rule.get("stratify"))))
    added, gone, count = [], [], 0
    a, b = next(now, None), next(then, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a < b):
            added.append(a)
            count += 1
            a = next(now, None)
        elif a is None or b < a:
            gone.append(b)
            b = next(then, None)
        else:
            count += 1
            a, b = next(now, None), next(then, None)
    return count, added, gone
