"""The clause catalogue of the harmonized structure (ISO 9001:2015, ISO 14001:2015, ISO 45001:2018).

`clauses.json` holds, per standard, each clause's zh/en title exactly as the standard gives it. Two markings:

- `"untitled": true` — the standard numbers the sub-clause but gives it no title (e.g. ISO 9001 9.2.1).
  No title is invented: `catalogue()` and `title()` show it as "part of <parent title>" / "属于<父条款标题>".
- `"system": {zh, en}` — no process template records this clause; the documented system itself serves it
  (the adopted templates as the process map, the manual). `served_by_system()` returns that explanation;
  the manual generator and the audit coverage page show it.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

STANDARDS = ("ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018")
SHORT = {"ISO 9001:2015": "9001", "ISO 14001:2015": "14001", "ISO 45001:2018": "45001"}
PART_OF = {"zh": "属于{title}", "en": "part of {title}"}


def parent(clause: str) -> str | None:
    """'9.2.2' -> '9.2'; '9' -> None."""
    return clause.rsplit(".", 1)[0] if "." in clause else None


@lru_cache(maxsize=1)
def catalogue() -> dict:
    """The catalogue with every untitled sub-clause's zh/en filled in as "part of <parent title>"."""
    data = json.loads((Path(__file__).parent / "clauses.json").read_text(encoding="utf-8"))
    for std in data.values():
        entries = std["clauses"]
        for clause in sorted(entries, key=sort_key):  # parents first: a parent may itself be untitled
            entry = entries[clause]
            if entry.get("untitled"):
                up = entries[parent(clause)]
                entry.update({lang: PART_OF[lang].format(title=up[lang]) for lang in ("zh", "en")})
    return data


def exists(standard: str, clause: str) -> bool:
    return clause in catalogue().get(standard, {}).get("clauses", {})


def _entry(standard: str, clause: str) -> dict | None:
    return catalogue().get(standard, {}).get("clauses", {}).get(clause)


def title(standard: str, clause: str, lang: str = "zh") -> str:
    """The clause's title as the standard gives it; "part of <parent title>" where the standard gives none."""
    entry = _entry(standard, clause)
    return entry.get(lang) or entry.get("en", "") if entry else ""


def untitled(standard: str, clause: str) -> bool:
    """True when the standard gives the sub-clause no title of its own."""
    return bool((_entry(standard, clause) or {}).get("untitled"))


def served_by_system(standard: str, clause: str) -> dict | None:
    """{zh, en}: how the documented system itself serves a clause that no process template records, else None."""
    return (_entry(standard, clause) or {}).get("system")


def system_served(standard: str) -> list[str]:
    """The clauses of a standard marked as served by the documented system itself, in clause order."""
    entries = catalogue().get(standard, {}).get("clauses", {})
    return sorted((c for c, e in entries.items() if e.get("system")), key=sort_key)


def top_level(clause: str) -> str:
    """'9.2.2' -> '9'."""
    return clause.split(".", 1)[0]


def sort_key(clause: str) -> tuple[int, ...]:
    return tuple(int(p) for p in clause.split("."))
