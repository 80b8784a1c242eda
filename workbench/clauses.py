"""The clause catalogue of the harmonized structure (ISO 9001:2015, ISO 14001:2015, ISO 45001:2018)."""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

STANDARDS = ("ISO 9001:2015", "ISO 14001:2015", "ISO 45001:2018")
SHORT = {"ISO 9001:2015": "9001", "ISO 14001:2015": "14001", "ISO 45001:2018": "45001"}


@lru_cache(maxsize=1)
def catalogue() -> dict:
    return json.loads((Path(__file__).parent / "clauses.json").read_text(encoding="utf-8"))


def exists(standard: str, clause: str) -> bool:
    return clause in catalogue().get(standard, {}).get("clauses", {})


def title(standard: str, clause: str, lang: str = "zh") -> str:
    entry = catalogue().get(standard, {}).get("clauses", {}).get(clause)
    return entry[lang] if entry else ""


def top_level(clause: str) -> str:
    """'9.2.2' -> '9'."""
    return clause.split(".", 1)[0]


def sort_key(clause: str) -> tuple[int, ...]:
    return tuple(int(p) for p in clause.split("."))
