"""Record sampling for audits: recorded, seeded, re-drawable (ISO 19011:2018 A.6; IAF MD 1 sizes).

A sample is fully determined by three stored things: the *population* (the sorted ids of the records that
matched the population definition when it was drawn, with each record's stratum), the *rule* and the
*seed*. `draw_order` turns them into one fixed ordering of the population; the sample is a prefix of it.
So anyone can re-draw the sample and compare (`verify_draw`), and "draw more" takes the next records of the
same ordering, never changing what was drawn.

Sizes (`rule_size`), in exact integer arithmetic (no floating-point square roots):

- ``sqrt``: IAF MD 1 — initial ⌈√n⌉, surveillance ⌈0.6·√n⌉, recertification ⌈0.8·√n⌉. ⌈f·√n⌉ is the smallest
  k with k² ≥ f²·n; with f a Fraction that is ``ceil_isqrt(ceil(f²·n))``.
- ``fixed``: a number of records. ``percent``: ⌈p·n/100⌉ (p a decimal such as "12.5").

- ``judgement``: the auditor picks the records (risk, previous findings, complaints) and states why
  (ISO 19011 A.6.2); the picks, in the auditor's order, and the rationale are the rule, so the sample is
  recorded and re-verifiable like a random one (the picks must belong to the frozen population).

The square-root rule of IAF MD 1 is written for sites; for records it is used *by analogy* — the rule
stores that basis (``basis``) and the sample page and report say so.

Every rule gives at least 1 record when n ≥ 1 and never more than n. Stratified (by month or by process),
every non-empty stratum gets at least one record (the size grows to the number of strata if needed) and
the rest is allocated proportionally with the Sainte-Laguë divisor method, which is house-monotone: a larger
sample never takes a record away from a stratum, so the stratified ordering is prefix-stable too.

The shuffle is a Fisher–Yates over the sorted ids driven only by ``random.Random(seed).random()`` — the one
method whose sequence Python guarantees across versions for a given seed — and never Python's ``hash()``.
That is algorithm 1 (``ALGORITHM``), kept for the samples drawn with it. New samples use algorithm 2
(``ALGORITHM_V2``, workbench.audit.frames): same sizes and seat order, places drawn in O(k), frame streamed.
"""
from __future__ import annotations

import math
import random
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from fractions import Fraction
from typing import Any

from flask_babel import gettext as _
from sqlmodel import Session, select

ALGORITHM = "processbench-sample-1"  # the frame stored as an id list; still verified and extended
ALGORITHM_V2 = "processbench-sample-2"  # new samples: the frame streamed into chunks (workbench.audit.frames)
AUDIT_TYPES = ("initial", "surveillance", "recertification")
SQRT_FACTORS = {"initial": Fraction(1), "surveillance": Fraction(3, 5), "recertification": Fraction(4, 5)}
KINDS = ("sqrt", "fixed", "percent", "judgement")
MD1_BASIS = "IAF MD 1 square-root rule, by analogy (MD 1 is written for sites; here it sizes a sample of records)"
MAX_PICKS = 500
STRATIFY = ("month", "process")
SEED_LIMIT = 10**12


# --- sizes -------------------------------------------------------------------------------------------


def ceil_isqrt(m: int) -> int:
    """The smallest k ≥ 0 with k·k ≥ m."""
    return 0 if m <= 0 else math.isqrt(m - 1) + 1


def bounded(k: int, n: int) -> int:
    """At least 1 record when the population is not empty, never more than the population."""
    return 0 if n <= 0 else max(1, min(int(k), n))


def sqrt_size(n: int, audit_type: str) -> int:
    """IAF MD 1: ⌈f·√n⌉ with f = 1, 0.6, 0.8 for initial, surveillance, recertification audits."""
    if audit_type not in SQRT_FACTORS:
        raise ValueError(f"unknown audit type {audit_type!r}")
    if n <= 0:
        return 0
    f = SQRT_FACTORS[audit_type]
    return bounded(ceil_isqrt(math.ceil(f * f * n)), n)


def parse_picks(text: Any) -> list[int]:
    """Record ids as the auditor typed them ("#12, 15 18"), in order, without repeats."""
    if isinstance(text, (list, tuple)):
        items = [str(i) for i in text]
    else:
        items = str(text or "").replace("，", ",").replace("#", " ").replace(",", " ").split()
    out: list[int] = []
    for item in items:
        if not item.isascii() or not item.isdigit() or len(item) > 12:
            raise ValueError(_("Record numbers must be whole numbers such as 12, 15, 18."))
        if int(item) not in out:
            out.append(int(item))
    if len(out) > MAX_PICKS:
        raise ValueError(_("At most %(n)s records can be picked.", n=MAX_PICKS))
    return out


def make_rule(kind: str, *, audit_type: str | None = None, n: Any = None, percent: Any = None,
              stratify: str | None = None, picked: Any = None, rationale: str | None = None,
              algorithm: str = ALGORITHM_V2) -> dict:
    """A validated rule dict as stored with the sample; raises ValueError with a user message."""
    rule: dict[str, Any] = {"algorithm": algorithm, "kind": kind, "stratify": stratify or None}
    if stratify and stratify not in STRATIFY:
        raise ValueError(_("Unknown stratification."))
    if kind == "sqrt":
        if audit_type not in AUDIT_TYPES:
            raise ValueError(_("Choose the audit type for the square-root rule."))
        rule["audit_type"] = audit_type
        rule["basis"] = MD1_BASIS
    elif kind == "judgement":
        ids = parse_picks(picked)
        if not ids:
            raise ValueError(_("Pick at least one record for a judgement sample."))
        reason = (rationale or "").strip()
        if len(reason) < 3:
            raise ValueError(_("State the rationale for the judgement sample (risk, previous findings, complaints…)."))
        rule.update(picked=ids, rationale=reason[:2000], stratify=None)
    elif kind == "fixed":
        try:
            count = int(str(n).strip())
        except ValueError:
            raise ValueError(_("The number of records must be a whole number.")) from None
        if count < 1:
            raise ValueError(_("The number of records must be at least 1."))
        rule["n"] = count
    elif kind == "percent":
        try:
            p = Fraction(str(percent).strip().rstrip("%"))
        except (ValueError, ZeroDivisionError):
            raise ValueError(_("The percentage must be a number such as 10 or 12.5.")) from None
        if not 0 < p <= 100:
            raise ValueError(_("The percentage must be more than 0 and at most 100."))
        rule["percent"] = str(percent).strip().rstrip("%")
    else:
        raise ValueError(_("Unknown sampling rule."))
    return rule


def rule_size(rule: dict, n: int) -> int:
    """How many records the rule takes from a population of n (before stratification's minimum)."""
    kind = rule["kind"]
    if kind == "judgement":
        return min(len(rule["picked"]), n)
    if kind == "sqrt":
        return sqrt_size(n, rule["audit_type"])
    if kind == "fixed":
        return bounded(int(rule["n"]), n)
    if kind == "percent":
        return bounded(math.ceil(Fraction(str(rule["percent"])) * n / 100), n)
    raise ValueError(f"unknown rule kind {kind!r}")


def sample_size(rule: dict, n: int, strata: Sequence[str] | None = None) -> int:
    """The size of the first draw: the rule's size, raised so every non-empty stratum gets one."""
    k = rule_size(rule, n)
    if rule.get("stratify") and strata:
        k = max(k, len(set(strata)))
    return min(k, n)


def describe_rule(rule: dict) -> str:
    kind = rule.get("kind")
    if kind == "judgement":
        return _("judgement sample: %(n)s record(s) picked by the auditor — rationale: %(why)s", n=len(rule["picked"]),
                 why=rule.get("rationale", ""))
    if kind == "sqrt":
        text = _("by analogy with IAF MD 1 (written for sites):") + " " + {"initial": _("IAF MD 1 square root, initial audit: ⌈√n⌉"),
                "surveillance": _("IAF MD 1 square root, surveillance: ⌈0.6·√n⌉"),
                "recertification": _("IAF MD 1 square root, recertification: ⌈0.8·√n⌉")}[rule["audit_type"]]
    elif kind == "fixed":
        text = _("fixed number: %(n)s records", n=rule["n"])
    else:
        text = _("percentage: ⌈%(p)s%% of n⌉", p=rule["percent"])
    if rule.get("stratify") == "month":
        text += " · " + _("stratified by month")
    elif rule.get("stratify") == "process":
        text += " · " + _("stratified by process")
    return text


# --- the seeded ordering ---------------------------------------------------------------------------------


def new_seed() -> int:
    return secrets.randbelow(SEED_LIMIT - 1) + 1


def shuffled(ids: Sequence[int], rnd: random.Random) -> list[int]:
    """Fisher–Yates driven by rnd.random() only (its sequence is stable across Python versions)."""
    out = list(ids)
    for i in range(len(out) - 1, 0, -1):
        j = int(rnd.random() * (i + 1))
        out[i], out[j] = out[j], out[i]
    return out


def seat_order(sizes: dict[str, int], limit: int | None = None) -> list[str]:
    """The order in which strata receive sample places: one each first (in stratum order), then by the
    Sainte-Laguë divisor method (priority size / (2·taken + 1), compared exactly; ties by stratum order).
    Any prefix of this order is a proportional allocation, so a bigger sample only adds places."""
    keys = [k for k in sorted(sizes) if sizes[k] > 0]
    total = sum(sizes[k] for k in keys)
    limit = total if limit is None else min(limit, total)
    order = keys[:limit]
    taken = {k: 1 for k in order}
    while len(order) < limit:
        best = None
        for k in keys:
            if taken[k] >= sizes[k]:
                continue
            # sizes[k] / (2 taken[k] + 1) > sizes[best] / (2 taken[best] + 1), without division
            if best is None or sizes[k] * (2 * taken[best] + 1) > sizes[best] * (2 * taken[k] + 1):
                best = k
        order.append(best)
        taken[best] += 1
    return order


def draw_order(ids: Sequence[int], seed: int, strata: Sequence[str] | None = None, limit: int | None = None) -> list[int]:
    """The seeded ordering of the population (its first `limit` records). `ids` may come in any order:
    they are sorted first, so only the set of ids (and their strata) matters."""
    if strata:
        if len(strata) != len(ids):
            raise ValueError("strata must be parallel to ids")
        pairs = sorted(zip((int(i) for i in ids), (str(s) for s in strata)))
    else:
        pairs = sorted((int(i), "") for i in ids)
    if len({i for i, _s in pairs}) != len(pairs):
        raise ValueError("population ids must be unique")
    rnd = random.Random(int(seed))
    if not strata:
        out = shuffled([i for i, _s in pairs], rnd)
        return out if limit is None else out[:limit]
    groups: dict[str, list[int]] = {}
    for i, s in pairs:
        groups.setdefault(s, []).append(i)
    perms = {k: shuffled(groups[k], rnd) for k in sorted(groups)}
    taken = dict.fromkeys(perms, 0)
    out = []
    for k in seat_order({k: len(v) for k, v in groups.items()}, limit):
        out.append(perms[k][taken[k]])
        taken[k] += 1
    return out


def size_note(rule: dict, population_size: int, first_count: int, strata: Sequence[str] | None) -> str | None:
    """Why the first draw is larger than the rule's size (stratification), for the sample page and the report."""
    if rule.get("kind") == "judgement" or not rule.get("stratify"):
        return None
    base = rule_size(rule, population_size)
    if first_count <= base:
        return None
    return _("Stratification drew %(k)s records instead of the rule's %(m)s: each of the %(s)s strata with records "
             "gets at least one.", k=first_count, m=base, s=len(set(strata or [])))


def is_v2(sample) -> bool:
    return (sample.rule or {}).get("algorithm") == ALGORITHM_V2


def strata_names(sample) -> list[str]:
    """The strata of the sample's frame (algorithm 2 stores [stratum, size] pairs, algorithm 1 one per record)."""
    return [s for s, _n in sample.strata] if is_v2(sample) else list(sample.strata)


def sample_size_note(sample) -> str | None:
    return size_note(sample.rule, sample.population_size, int(sample.draws[0]["count"]) if sample.draws else len(sample.drawn),
                     strata_names(sample))


def draw(ids: Sequence[int], seed: int, rule: dict, strata: Sequence[str] | None = None) -> list[int]:
    """The first draw of a sample: the rule's size (see sample_size) off the seeded ordering; for a judgement
    sample, the auditor's picks (each must be in the population)."""
    if rule.get("kind") == "judgement":
        members = set(int(i) for i in ids)
        outside = [i for i in rule["picked"] if i not in members]
        if outside:
            raise ValueError(_("Picked records not in the population: %(ids)s.", ids=", ".join(f"#{i}" for i in outside)))
        return list(rule["picked"])
    use_strata = strata if rule.get("stratify") else None
    return draw_order(ids, seed, use_strata, sample_size(rule, len(ids), use_strata))


def draw_more(ids: Sequence[int], seed: int, rule: dict, strata: Sequence[str] | None, drawn: Sequence[int],
              count: int) -> list[int]:
    """The sample extended by `count` records: the next ones of the same ordering (`drawn` stays a prefix)."""
    if rule.get("kind") == "judgement":
        raise ValueError(_("A judgement sample is not extended by drawing: pick a new judgement sample."))
    use_strata = strata if rule.get("stratify") else None
    out = draw_order(ids, seed, use_strata, min(len(ids), len(drawn) + max(0, int(count))))
    if out[: len(drawn)] != list(drawn):
        raise ValueError("the stored sample is not a prefix of its re-drawn ordering")
    return out


def judgement_problems(rule, drawn, first_count, present):
    """A judgement sample's checks: the picks are in the frame (`present`: the frame's ids, or those of the picks
    it holds), the sample is the picks in the auditor's order, and a rationale is recorded."""
    problems = []
    picked = [int(i) for i in rule.get("picked") or []]
    outside = [i for i in picked if i not in present]
    if outside:
        problems.append(_("Picked records not in the population: %(ids)s.", ids=", ".join(f"#{i}" for i in outside)))
    if [int(i) for i in drawn] != picked or first_count != len(picked):
        problems.append(_("The sample differs from the auditor's recorded picks."))
    if not str(rule.get("rationale") or "").strip():
        problems.append(_("The judgement sample has no recorded rationale."))
    return problems


def verify_draw(ids: Sequence[int], strata: Sequence[str] | None, rule: dict, seed: int, drawn: Sequence[int],
                first_count: int, population_size: int | None = None) -> list[str]:
    """Re-draw and compare; returns the problems found (empty: the stored sample is exactly what the
    population, rule and seed give)."""
    problems: list[str] = []
    ids = [int(i) for i in ids]
    if ids != sorted(set(ids)):
        problems.append(_("The stored population is not a sorted list of distinct record ids."))
        return problems
    if population_size is not None and population_size != len(ids):
        problems.append(_("The stored population size (%(a)s) differs from its list of records (%(b)s).",
                          a=population_size, b=len(ids)))
    use_strata = list(strata) if rule.get("stratify") else None
    if use_strata is not None and len(use_strata) != len(ids):
        problems.append(_("The stored strata do not match the population."))
        return problems
    if rule.get("kind") == "judgement":
        return problems + judgement_problems(rule, drawn, first_count, set(ids))
    expected_first = sample_size(rule, len(ids), use_strata)
    if first_count != expected_first:
        problems.append(_("The first draw has %(a)s records; the rule gives %(b)s.", a=first_count, b=expected_first))
    outside = [i for i in drawn if int(i) not in set(ids)]
    if outside:
        problems.append(_("Records not in the population were added to the sample: %(ids)s.",
                          ids=", ".join(f"#{i}" for i in outside)))
    expected = draw_order(ids, seed, use_strata, len(drawn))
    for pos, (have, want) in enumerate(zip(drawn, expected), start=1):
        if int(have) != want:
            problems.append(_("Position %(pos)s holds record #%(have)s; re-drawing gives #%(want)s.",
                              pos=pos, have=have, want=want))
            break
    if len(drawn) > len(ids):
        problems.append(_("The sample is larger than its population."))
    return problems


# --- populations from the database ---------------------------------------------------------------------


def serves(template_clauses: list[dict], standard: str | None, clause: str) -> bool:
    """Does a template serve `clause` (it lists it, or a sub-clause of it) of `standard` (None: any)?"""
    return any((standard is None or c["standard"] == standard)
               and (c["clause"] == clause or c["clause"].startswith(clause + "."))
               for c in template_clauses)


def stratum_of(record_date: date | None, template_key: str, how: str | None) -> str:
    if how == "month":
        return record_date.strftime("%Y-%m") if record_date else "—"
    if how == "process":
        return template_key
    return ""


@dataclass
class Population:
    ids: list[int] = field(default_factory=list)
    strata: list[str] = field(default_factory=list)

    @property
    def size(self) -> int:
        return len(self.ids)


def population(db: Session, org_id: int, definition: dict, stratify: str | None = None) -> Population:
    """The records of the organization matching the definition, sorted by id.

    definition: {"start", "end"} (ISO dates, on record_date), optional "process" (template key), "standard" +
    "clause" (records whose template version serves the clause or a sub-clause), "state",
    "edited_after_signature" (true: only records edited while a signature was in force).
    """
    from sqlalchemy import extract

    from workbench.audit import frames
    from workbench.models import Record

    rows = db.exec(frames.matching(db, org_id, definition, Record.id, Record.template_key, extract("year", Record.record_date),
                                   extract("month", Record.record_date)).order_by(Record.id)).all()
    pop = Population()
    for rid, key, year, month in rows:
        pop.ids.append(rid)
        pop.strata.append(stratum_of(date(int(year), int(month), 1) if year is not None else None, key, stratify))
    if not stratify:
        pop.strata = []
    return pop


# --- samples as stored artefacts ---------------------------------------------------------------------------


def payload(sample) -> dict:
    """What the sample's digest covers (and so what the event chain protects): for algorithm 2 the frame's
    digest and [stratum, size] pairs stand for the frame."""
    if is_v2(sample):
        return {"algorithm": ALGORITHM_V2, "engagement_id": sample.engagement_id, "org_id": sample.org_id,
                "number": sample.number, "definition": sample.definition, "rule": sample.rule, "seed": int(sample.seed),
                "population_size": sample.population_size, "frame_digest": sample.frame_digest,
                "strata": [[str(s), int(n)] for s, n in sample.strata], "drawn": [int(i) for i in sample.drawn],
                "draws": [int(d["count"]) for d in sample.draws]}
    return {"algorithm": ALGORITHM, "engagement_id": sample.engagement_id, "org_id": sample.org_id,
            "number": sample.number, "definition": sample.definition, "rule": sample.rule, "seed": int(sample.seed),
            "population_size": sample.population_size, "population_ids": [int(i) for i in sample.population_ids],
            "strata": list(sample.strata), "drawn": [int(i) for i in sample.drawn],
            "draws": [int(d["count"]) for d in sample.draws]}


def sample_digest(sample, scheme: int | None = None) -> str:
    from workbench.trail import SCHEME, digest

    return digest(payload(sample), scheme or SCHEME)


def _chain(db: Session, sample, user, action: str) -> None:
    from workbench import trail

    sample.digest = sample_digest(sample)
    db.add(sample)
    trail.append(db, sample.org_id, action, actor=user, data_digest=sample.digest,
                 detail={"engagement": sample.engagement_id, "sample": sample.id, "drawn": len(sample.drawn),
                         "seed": int(sample.seed)})


def create_sample(db: Session, engagement, definition: dict, rule: dict, seed: int, user, at=None):
    """Freeze the population, draw, store and chain a new sample. Raises ValueError on an empty population."""
    from workbench.audit.models import Sample
    from workbench.models import utcnow

    number = len(db.exec(select(Sample.id).where(Sample.engagement_id == engagement.id)).all()) + 1
    now = at or utcnow()
    if rule.get("algorithm") == ALGORITHM_V2:
        from workbench.audit import frames

        s = frames.create(db, engagement, definition, rule, seed, user, number, now)
        _chain(db, s, user, "audit_sample")
        return s
    pop = population(db, engagement.org_id, definition, rule.get("stratify"))
    if not pop.size:
        raise ValueError(_("No records match this population."))
    drawn = draw(pop.ids, seed, rule, pop.strata)
    s = Sample(engagement_id=engagement.id, org_id=engagement.org_id, number=number, definition=definition, rule=rule,
               seed=int(seed), population_size=pop.size, population_ids=pop.ids, strata=pop.strata, drawn=drawn,
               draws=[{"at": now.isoformat(), "by": getattr(user, "id", None), "count": len(drawn)}],
               created_at=now, created_by=getattr(user, "id", None))
    db.add(s)
    db.flush()
    _chain(db, s, user, "audit_sample")
    return s


def extend_sample(db: Session, sample, count: int, user) -> int:
    """Draw `count` more records of the same ordering. Returns how many were added."""
    from workbench.audit import frames
    from workbench.models import utcnow

    if is_v2(sample) and sample.rule.get("kind") == "judgement":
        raise ValueError(_("A judgement sample is not extended by drawing: pick a new judgement sample."))
    if frames.check(db, sample) if is_v2(sample) else verify_draw(
            sample.population_ids, sample.strata, sample.rule, sample.seed, sample.drawn,
            int(sample.draws[0]["count"]) if sample.draws else len(sample.drawn), sample.population_size):
        raise ValueError(_("The stored sample does not re-draw identically; it cannot be extended."))
    new = frames.extended(db, sample, count) if is_v2(sample) else draw_more(
        sample.population_ids, sample.seed, sample.rule, sample.strata, sample.drawn, count)
    added = len(new) - len(sample.drawn)
    if added <= 0:
        return 0
    sample.drawn = new
    sample.draws = [*sample.draws, {"at": utcnow().isoformat(), "by": getattr(user, "id", None), "count": added}]
    _chain(db, sample, user, "audit_sample_more")
    return added


@dataclass
class SampleVerification:
    problems: list[str] = field(default_factory=list)
    population_now: int = 0
    added_since: list[int] = field(default_factory=list)
    gone_since: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify_sample(db: Session, sample) -> SampleVerification:
    """Re-draw from the stored population, rule and seed; check the digest against the event chain; and
    report how the population definition's matches changed since the draw (information, not an error)."""
    from workbench import trail
    from workbench.audit import frames
    from workbench.models import Event

    result = SampleVerification()
    first = int(sample.draws[0]["count"]) if sample.draws else len(sample.drawn)
    if sum(int(d["count"]) for d in sample.draws) != len(sample.drawn):
        result.problems.append(_("The draw history does not add up to the sample's size."))
    result.problems += frames.check(db, sample) if is_v2(sample) else verify_draw(
        sample.population_ids, sample.strata, sample.rule, sample.seed, sample.drawn, first, sample.population_size)
    events = [e for e in db.exec(select(Event).where(Event.org_id == sample.org_id,
                                                     Event.action.in_(["audit_sample", "audit_sample_more"]))
                                 .order_by(Event.seq)).all()
              if (e.detail or {}).get("sample") == sample.id]
    actual = sample_digest(sample, trail.scheme_of(events[-1]) if events else None)  # the scheme it was chained with
    if actual != sample.digest:
        result.problems.append(_("The stored sample was changed after it was drawn (digest mismatch)."))
    if not events:
        result.problems.append(_("The sample is not recorded in the event chain."))
    elif events[-1].data_digest != actual:
        result.problems.append(_("The sample differs from the one recorded in the event chain (event #%(seq)s).",
                                 seq=events[-1].seq))
    chain = trail.verify(db, sample.org_id, record_id=-1)
    if not chain.ok:
        result.problems.append(_("Event chain broken") + f": {chain.first}")
    if is_v2(sample):
        result.population_now, result.added_since, result.gone_since = frames.changes(db, sample)
        return result
    now = population(db, sample.org_id, sample.definition, sample.rule.get("stratify"))
    result.population_now = now.size
    stored = set(sample.population_ids)
    result.added_since = sorted(set(now.ids) - stored)
    result.gone_since = sorted(stored - set(now.ids))
    return result
