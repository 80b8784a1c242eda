"""RFC 8785 (JSON Canonicalization Scheme) with the Python standard library alone.

The application hashes with the `rfc8785` package (workbench.trail); this module exists for the evidence
bundle's `verify.py`, which must run anywhere with a plain `python3`: the bundle builder copies this file's
source into it. tests/test_trail_scheme.py checks that both agree byte for byte.

- objects: members sorted by the UTF-16 code units of their names; no whitespace anywhere;
- strings: only `"`, `\\` and the control characters below U+0020 are escaped (\\b \\t \\n \\f \\r short forms,
  the rest as lower-case \\u00xx); everything else is written as UTF-8;
- numbers: integers must lie within ±(2**53 − 1); other numbers are IEEE 754 doubles written as ECMAScript's
  Number.prototype.toString does (shortest round-trip digits; exponent form below 1e-6 and from 1e21);
- NaN, infinities, lone surrogates and non-string keys are refused (ValueError).
"""
import math

INT_LIMIT = 2**53 - 1
_SHORT = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _string(s):
    out = []
    for ch in s:
        if ch in _SHORT:
            out.append(_SHORT[ch])
        elif ch < " ":
            out.append("\\u%04x" % ord(ch))
        elif 0xD800 <= ord(ch) <= 0xDFFF:
            raise ValueError("lone surrogate in string")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _number(f):
    if math.isnan(f) or math.isinf(f):
        raise ValueError("NaN and infinities have no JSON form")
    if f == 0:
        return "0"
    if f < 0:
        return "-" + _number(-f)
    mantissa, _e, exp = repr(f).partition("e")
    digits = mantissa.replace(".", "")
    point = mantissa.index(".") if "." in mantissa else len(mantissa)
    exponent = int(exp) if exp else 0
    digits = digits.lstrip("0")
    point -= len(mantissa.replace(".", "")) - len(digits)  # leading zeros of 0.00123
    digits = digits.rstrip("0") or "0"
    n = point + exponent  # the decimal point sits after n digits: value = 0.digits × 10**n
    k = len(digits)
    if k <= n <= 21:
        return digits + "0" * (n - k)
    if 0 < n <= 21:
        return digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return "0." + "0" * (-n) + digits
    e = n - 1
    head = digits[0] + ("." + digits[1:] if k > 1 else "")
    return head + "e" + ("+" if e > 0 else "-") + str(abs(e))


def dumps(value):
    """The canonical form of a JSON value (dict, list, str, int, float, bool, None) as bytes."""
    return _dump(value).encode("utf-8")


def _dump(v):
    if v is None:
        return "null"
    if v is True:
        return "true"
    if v is False:
        return "false"
    if isinstance(v, int):
        if abs(v) > INT_LIMIT:
            raise ValueError("integer %d exceeds the I-JSON range" % v)
        return str(int(v))
    if isinstance(v, float):
        return _number(v)
    if isinstance(v, str):
        return _string(v)
    if isinstance(v, (list, tuple)):
        return "[" + ",".join(_dump(x) for x in v) + "]"
    if isinstance(v, dict):
        if any(not isinstance(k, str) for k in v):
            raise ValueError("object keys must be strings")
        keys = sorted(v, key=lambda k: k.encode("utf-16-be", "surrogatepass"))
        return "{" + ",".join(_string(k) + ":" + _dump(v[k]) for k in keys) + "}"
    raise ValueError("not a JSON value: %r" % type(v).__name__)
