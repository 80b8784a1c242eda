"""Audit time (IAF MD 5:2019; integrated audits IAF MD 11), every input and step shown.

1. Effective personnel (MD 5 §2.3): full-time staff + part-time hours converted to full-time equivalents
   (⌈part-time hours per week ÷ full-time hours per week⌉); staff on shifts count in full (all shifts are
   personnel) — shifts are recorded so the auditor plans to visit them.
2. Initial audit time per standard from its table (QMS 1, EMS 1, OH&SMS 1; data/md5_tables.json) by the
   band of effective personnel and the standard's complexity category.
3. Documented increases and reductions (percent, each with a reason); reductions together at most 30 %
   (MD 5 §3.9 / Annex), the cap applied and shown.
4. Additional sites: each adds the documented percentage (IAF MD 1 sampling decides which are visited).
5. Integrated audit of several standards (IAF MD 11): the sum of the standards' times reduced by the
   integration percentage (at most 20 %), with its reason.
6. Surveillance ≈ ⅓ and recertification ≈ ⅔ of the initial time; every result in half days (MD 5 §2.2,
   rounded up so that audit time is never cut by rounding).
"""
from __future__ import annotations

import json
import math
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from functools import lru_cache
from pathlib import Path

from flask_babel import gettext as _

from workbench.errors import UserError

DATA = Path(__file__).parent / "data" / "md5_tables.json"
MAX_REDUCTION = Fraction(30, 100)
MAX_INTEGRATION = Fraction(20, 100)
FULL_TIME_HOURS = 40


@lru_cache(maxsize=1)
def tables() -> dict:
    return json.loads(DATA.read_text(encoding="utf-8"))


def half_days(x: Fraction) -> Fraction:
    """Up to the next half day."""
    return Fraction(math.ceil(x * 2), 2)


def fmt(x: Fraction | float | int) -> str:
    x = Fraction(x).limit_denominator(1000)
    return str(x.numerator // x.denominator) if x.denominator == 1 else f"{float(x):g}"


def band(standard: str, persons: int) -> dict:
    rows = tables()["standards"][standard]["rows"]
    if persons < 1:
        raise UserError(_("The effective number of personnel must be at least 1."), field="full_time")
    for row in rows:
        if row["from"] <= persons <= row["to"]:
            return row
    return rows[-1]  # above the last band: the table says "follow the progression" — shown as a step


def band_index(persons: int | None, standard: str = "ISO 9001:2015") -> int | None:
    if not persons or persons < 1:
        return None
    rows = tables()["standards"][standard]["rows"]
    return next((i for i, r in enumerate(rows) if r["from"] <= persons <= r["to"]), len(rows) - 1)


def table_days(standard: str, persons: int, category: str = "medium") -> Fraction:
    spec = tables()["standards"][standard]
    cat = "all" if spec["categories"] == ["all"] else category
    if cat not in spec["categories"]:
        raise UserError(_("Unknown complexity category %(c)s for %(s)s.", c=category, s=standard), field="complexity")
    return Fraction(str(band(standard, persons)[cat]))


@dataclass
class Step:
    label: str
    value: str
    note: str = ""


@dataclass
class AuditTime:
    inputs: dict
    steps: list[Step] = field(default_factory=list)
    per_standard: dict = field(default_factory=dict)  # standard -> days (after adjustments)
    initial: str = "0"
    surveillance: str = "0"
    recertification: str = "0"
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


NUMBER = re.compile(r"^[+-]?[0-9]{1,7}(\.[0-9]{1,3})?$")  # plain decimals only: no exponents, no huge values


def _percent(v) -> Fraction:
    text = str(v).strip().rstrip("%").strip()
    if not NUMBER.match(text):
        raise UserError(_("A percentage must be a number such as 10 or -15."), field="adjustments")
    return Fraction(text)


def calculate(*, full_time: int, part_time_hours: float = 0, shifts: int = 1, standards: list[dict],
              sites: int = 1, site_percent: float = 0, adjustments: list[dict] | None = None,
              integration_percent: float = 0, integration_reason: str = "") -> AuditTime:
    """standards: [{"standard": "ISO 14001:2015", "complexity": "medium"}]; adjustments: [{"standard" (optional:
    all), "percent": -10, "reason": "…"}]. Raises UserError on bad input (with the form field)."""
    adjustments = adjustments or []
    if not standards:
        raise UserError(_("Choose at least one standard."), field="standards")
    known = tables()["standards"]
    for s in standards:
        if s.get("standard") not in known:
            raise UserError(_("No audit-time table for %(s)s.", s=s.get("standard")), field="standards")
    if not all(NUMBER.match(str(x).strip()) and "." not in str(x) for x in (full_time, shifts, sites)) \
            or not NUMBER.match(str(part_time_hours or 0).strip()):
        raise UserError(_("Numbers of personnel, shifts and sites must be whole numbers."), field="full_time")
    full_time, shifts, sites = int(str(full_time).strip()), int(str(shifts).strip()), int(str(sites).strip())
    part = Fraction(str(part_time_hours or 0).strip())
    if full_time < 0 or part < 0 or shifts < 1 or sites < 1:
        raise UserError(_("Numbers of personnel, shifts and sites cannot be negative."), field="full_time")
    fte = math.ceil(part / FULL_TIME_HOURS)
    effective = full_time + fte
    res = AuditTime(inputs={"full_time": full_time, "part_time_hours": fmt(part), "shifts": shifts, "standards": standards,
                            "sites": sites, "site_percent": fmt(_percent(site_percent)), "adjustments": adjustments,
                            "integration_percent": fmt(_percent(integration_percent)),
                            "integration_reason": integration_reason})
    res.steps.append(Step(_("Effective personnel"), str(effective),
                          _("%(ft)s full-time + ⌈%(h)s part-time hours ÷ %(w)s⌉ = %(fte)s; %(shifts)s shift(s), all counted",
                            ft=full_time, h=fmt(part), w=FULL_TIME_HOURS, fte=fte, shifts=shifts)))
    total = Fraction(0)
    for s in standards:
        std, cat = s["standard"], s.get("complexity") or "medium"
        row = band(std, effective)
        days = table_days(std, effective, cat)
        res.steps.append(Step(_("%(s)s: table %(t)s, %(a)s–%(b)s persons, category %(c)s", s=std, t=known[std]["table"],
                                a=row["from"], b=row["to"], c=cat if known[std]["categories"] != ["all"] else "—"),
                              fmt(days)))
        mine = [a for a in adjustments if not a.get("standard") or a.get("standard") == std]
        for a in mine:
            if not str(a.get("reason") or "").strip():
                raise UserError(_("Every increase or reduction needs a documented reason."), field="adjustments")
        ups = sum((_percent(a["percent"]) for a in mine if _percent(a["percent"]) > 0), Fraction(0)) / 100
        downs = -sum((_percent(a["percent"]) for a in mine if _percent(a["percent"]) < 0), Fraction(0)) / 100
        for a in mine:
            res.steps.append(Step(f"  {a['reason']}", f"{'+' if _percent(a['percent']) > 0 else ''}{fmt(_percent(a['percent']))} %"))
        if downs > MAX_REDUCTION:
            res.steps.append(Step(_("Reductions capped at 30 %"), f"-{fmt(downs * 100)} % → -30 %"))
            res.warnings.append(_("Reductions for %(s)s add up to more than 30 %%; 30 %% applied.", s=std))
            downs = MAX_REDUCTION
        if sites > 1 and site_percent:
            ups += _percent(site_percent) * (sites - 1) / 100
            res.steps.append(Step(_("Additional sites"), f"+{fmt(_percent(site_percent) * (sites - 1))} %",
                                  _("%(n)s additional site(s) × %(p)s %%", n=sites - 1, p=fmt(_percent(site_percent)))))
        adjusted = days * (1 + ups - downs)
        res.per_standard[std] = fmt(adjusted)
        res.steps.append(Step(_("%(s)s after adjustments", s=std), fmt(adjusted)))
        total += adjusted
    if len(standards) > 1:
        integ = _percent(integration_percent) / 100
        if integ < 0 or integ > MAX_INTEGRATION:
            raise UserError(_("The integration reduction (IAF MD 11) is between 0 and 20 %."), field="integration_percent")
        if integ and not integration_reason.strip():
            raise UserError(_("State why the integration reduction applies."), field="integration_reason")
        res.steps.append(Step(_("Sum of the standards"), fmt(total)))
        if integ:
            res.steps.append(Step(_("Integrated audit reduction (IAF MD 11)"), f"-{fmt(integ * 100)} %", integration_reason))
            total = total * (1 - integ)
    initial = half_days(total)
    res.initial = fmt(initial)
    res.steps.append(Step(_("Initial audit (stage 1 + stage 2)"), res.initial, _("rounded up to half days")))
    res.surveillance = fmt(half_days(initial / 3))
    res.steps.append(Step(_("Surveillance audit ≈ ⅓"), res.surveillance))
    res.recertification = fmt(half_days(initial * 2 / 3))
    res.steps.append(Step(_("Recertification audit ≈ ⅔"), res.recertification))
    return res


def for_slot(calc: dict | None, slot: str | None) -> str | None:
    """The audit days a stored calculation gives for an engagement's programme slot."""
    if not calc:
        return None
    return calc.get({"surveillance1": "surveillance", "surveillance2": "surveillance", "special": "surveillance",
                     "recertification": "recertification"}.get(slot or "", "initial"))
