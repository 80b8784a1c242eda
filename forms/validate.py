"""Typed data -> jsonschema validation -> {field path: [messages]} in zh or en."""
from __future__ import annotations

from typing import Any, Iterable

from jsonschema.exceptions import ValidationError

from forms.messages import message
from workbench.formats import record_validator

FORM_ERROR = "__form__"  # errors that belong to no single field


def dotted(parts: Iterable[Any]) -> str:
    return ".".join(str(p) for p in parts)


def validate(schema: dict, data: dict, lang: str = "zh",
             type_errors: dict[str, list[str]] | None = None) -> dict[str, list[str]]:
    """All problems with `data`, keyed by dotted field path. Type errors from parsing win for their field."""
    errors: dict[str, list[str]] = {k: list(v) for k, v in (type_errors or {}).items()}
    for error in record_validator(schema).iter_errors(data):
        for path, text in _field_messages(error, schema, lang):
            if path in (type_errors or {}):
                continue  # the user typed something unparseable there; that message says it
            bucket = errors.setdefault(path, [])
            if text not in bucket:
                bucket.append(text)
    return errors


def _label(schema: dict, name: str, lang: str) -> str:
    label = ((schema.get("properties") or {}).get(name) or {}).get("label") or {}
    return label.get(lang) or label.get("en") or name


def _field_messages(e: ValidationError, root: dict, lang: str):
    base = list(e.absolute_path)
    kind = e.validator
    if kind == "required":
        inst = e.instance if isinstance(e.instance, dict) else {}
        for name in e.validator_value:
            if name not in inst:
                yield dotted(base + [name]), message("required", lang)
    elif kind == "dependentRequired":
        inst = e.instance if isinstance(e.instance, dict) else {}
        for name, deps in e.validator_value.items():
            if name in inst:
                for dep in deps:
                    if dep not in inst:
                        yield dotted(base + [dep]), message("required_when", lang, field=_label(e.schema, name, lang))
    elif kind in ("oneOf", "anyOf"):
        # the branch whose discriminator (a const / enum test) matches tells what is missing
        branches: dict[int, list[ValidationError]] = {}
        for sub in e.context or []:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        chosen = [errs for errs in branches.values() if not any(x.validator in ("const", "enum") for x in errs)]
        if len(chosen) == 1:
            for sub in chosen[0]:
                yield from _field_messages(sub, root, lang)
        else:
            yield dotted(base) or FORM_ERROR, message(kind if kind == "oneOf" else "invalid", lang)
    elif kind in ("products", "counts", "maxBand", "earliest", "covers"):
        yield from _rule_messages(e, lang)
    elif kind == "format":
        yield dotted(base) or FORM_ERROR, message(e.validator_value, lang)
    elif kind in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "minLength", "maxLength",
                  "minItems", "maxItems"):
        yield dotted(base) or FORM_ERROR, message(kind, lang, limit=e.validator_value)
    elif kind == "type":
        expected = e.validator_value
        key = expected if expected in ("integer", "number", "boolean") else "type"
        yield dotted(base) or FORM_ERROR, message(key, lang)
    else:
        yield dotted(base) or FORM_ERROR, message(kind, lang)


def _rule_messages(e: ValidationError, lang: str):
    """A computed field that does not match its rule (see workbench/formats.py): say what it must equal."""
    from workbench.record_rules import band_of, count_of, earliest_of, product_of, uncovered

    target = e.path[-1] if e.path else None
    rule = (e.validator_value or {}).get(target)
    inst = e.instance if isinstance(e.instance, dict) else {}
    if e.validator == "products":
        expected = product_of(inst, rule)
        yield dotted(e.absolute_path), message("product", lang, factors=" × ".join(_label(e.schema, f, lang) for f in rule),
                                                value=f"{expected:g}" if expected is not None else "?")
    elif e.validator == "covers":
        field = (e.schema.get("properties") or {}).get(target) or {}
        labels = field.get("enumLabels") or {}
        missing = [((labels.get(str(v)) or {}).get(lang) or str(v)) for v in uncovered(inst, target, rule)]
        yield dotted(e.absolute_path), message("covers", lang, rows=_label(e.schema, rule.get("items", ""), lang),
                                                missing="；".join(missing) if lang == "zh" else "; ".join(missing))
    elif e.validator == "earliest":
        rows = (e.schema.get("properties") or {}).get(rule.get("items", "")) or {}
        yield dotted(e.absolute_path), message("earliest", lang, value=earliest_of(inst, rule),
                                                of=_label(rows.get("items") or {}, rule.get("value", ""), lang))
    elif e.validator == "counts":
        yield dotted(e.absolute_path), message("count", lang, rows=_label(e.schema, rule.get("items", ""), lang),
                                                value=count_of(inst, rule))
    else:
        field = (e.schema.get("properties") or {}).get(target) or {}
        band = band_of(inst, rule)
        shown = ((field.get("enumLabels") or {}).get(str(band)) or {}).get(lang) or str(band)
        rows = (e.schema.get("properties") or {}).get(rule.get("items", "")) or {}
        yield dotted(e.absolute_path), message("band", lang, value=shown,
                                                of=_label(rows.get("items") or {}, rule.get("value", ""), lang))
