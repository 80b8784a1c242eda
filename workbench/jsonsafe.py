"""JSON from users (the studio's JSON tab, template packs): parsed with bounds, refused with a message.

`loads` refuses, as `Refused` (a ValueError) with a message naming the problem: nesting deeper than
MAX_DEPTH (checked by a linear scan before parsing, so 100,000 brackets never reach the recursive
parser), integers longer than MAX_INT_DIGITS digits, and NaN / Infinity (not JSON, and a bound like
`minimum: NaN` silently disables itself). `non_finite(obj)` finds NaN/Infinity in already-parsed data.
"""
from __future__ import annotations

import json
import math
from typing import Any, Iterator

MAX_DEPTH = 64
MAX_INT_DIGITS = 30


class Refused(ValueError):
    pass


def _depth_ok(text: str, limit: int) -> bool:
    depth, in_string, escaped = 0, False, False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _int(s: str) -> int:
    if len(s.lstrip("-")) > MAX_INT_DIGITS:
        raise Refused(f"a number with more than {MAX_INT_DIGITS} digits")
    return int(s)


def _float(s: str) -> float:
    v = float(s)
    if not math.isfinite(v):
        raise Refused(f"the number {s[:40]} is out of range")
    return v


def _constant(name: str) -> Any:
    raise Refused(f"{name} is not allowed (only finite numbers)")


def loads(text: str, max_depth: int = MAX_DEPTH) -> Any:
    """json.loads with the bounds above; json.JSONDecodeError for malformed text, Refused for the rest."""
    if not _depth_ok(text, max_depth):
        raise Refused(f"nested deeper than {max_depth} levels")
    try:
        return json.loads(text, parse_int=_int, parse_float=_float, parse_constant=_constant)
    except RecursionError:  # pragma: no cover - the depth scan comes first
        raise Refused(f"nested deeper than {max_depth} levels") from None


def non_finite(obj: Any, path: tuple = ()) -> Iterator[tuple]:
    """JSON paths (as tuples) of NaN / ±Infinity values in parsed data."""
    if isinstance(obj, float) and not math.isfinite(obj):
        yield path
    elif isinstance(obj, dict):
        for k, v in obj.items():
            yield from non_finite(v, path + (k,))
    elif isinstance(obj, list):
        for i, v in enumerate(obj):
            yield from non_finite(v, path + (i,))
