"""A form's required and conditional rules in words ("「结论」为「不合格」时必填"), and the check of a record
against them.

Rules come from the template's schema: `required`, `if`/`then`(/`else`) at the top level or in `allOf`,
`dependentRequired`, `oneOf` alternatives keyed by a `const`, and the workflow's `requires` (fields a step
needs). Nested objects and table rows contribute their own `required` lists ("每行必填").
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterator

from jsonschema import Draft202012Validator


def txt(i18n: Any, lang: str, default: str = "") -> str:
    if isinstance(i18n, dict):
        return str(i18n.get(lang) or i18n.get("en") or i18n.get("zh") or default)
    return default if i18n is None else str(i18n)


TYPE_WORDS = {
    "zh": {"string": "文本", "date": "日期", "date-time": "日期时间", "number": "数值", "integer": "整数",
           "boolean": "是/否", "choice": "单选", "multichoice": "多选", "table": "表格（多行）", "list": "多行",
           "object": "分组", "attachment": "附件", "record-link": "关联记录", "email": "电子邮件"},
    "en": {"string": "text", "date": "date", "date-time": "date and time", "number": "number", "integer": "whole number",
           "boolean": "yes / no", "choice": "one choice", "multichoice": "several choices", "table": "table (rows)",
           "list": "list", "object": "group", "attachment": "attachment", "record-link": "linked record",
           "email": "e-mail"},
}


def type_of(f: dict) -> str:
    t = f.get("type")
    if "enum" in f:
        return "choice"
    if t == "array":
        items = f.get("items") or {}
        if "enum" in items:
            return "multichoice"
        return "table" if items.get("type") == "object" else "list"
    if t == "string" and f.get("format") in ("date", "date-time", "attachment", "record-link", "email"):
        return f["format"]
    return t if t in TYPE_WORDS["en"] else "string"


@dataclass
class FieldRule:
    path: str
    label: str
    kind: str  # type_of
    required: bool
    rules: list[str] = field(default_factory=list)  # in words
    options: list[str] = field(default_factory=list)
    depth: int = 0


def _value_words(f: dict, v: Any, lang: str) -> str:
    if isinstance(v, bool):
        return ("是" if v else "否") if lang == "zh" else ("yes" if v else "no")
    labels = f.get("enumLabels") or {}
    return txt(labels.get(str(v)), lang, str(v))


def _condition(props: dict, test: dict, lang: str) -> tuple[str, str] | None:
    """The (field, words) of an `if` that tests one field with const / enum."""
    for name, s in (test.get("properties") or {}).items():
        if not isinstance(s, dict):
            continue
        f = props.get(name) or {}
        if "const" in s:
            values = [s["const"]]
        elif "enum" in s:
            values = list(s["enum"])
        else:
            continue
        shown = " / ".join(_value_words(f, v, lang) for v in values)
        return name, (f"「{txt(f.get('label'), lang, name)}」为「{shown}」" if lang == "zh"
                      else f"{txt(f.get('label'), lang, name)} is {shown}")
    return None


def _blocks(schema: dict) -> Iterator[dict]:
    if "if" in schema:
        yield schema
    for b in schema.get("allOf") or []:
        if isinstance(b, dict) and "if" in b:
            yield b


def conditional_rules(template: dict, lang: str) -> dict[str, list[str]]:
    """Top-level field name -> rules in words (besides plain "required")."""
    schema = template.get("schema") or {}
    props = schema.get("properties") or {}
    out: dict[str, list[str]] = {}

    def add(name: str, words: str) -> None:
        if words not in out.setdefault(name, []):
            out[name].append(words)

    for block in _blocks(schema):
        cond = _condition(props, block.get("if") or {}, lang)
        if not cond:
            continue
        for name in (block.get("then") or {}).get("required") or []:
            add(name, f"{cond[1]}时必填" if lang == "zh" else f"required when {cond[1]}")
        for name in (block.get("then") or {}).get("properties") or {}:
            if name not in ((block.get("then") or {}).get("required") or []) and name != cond[0]:
                add(name, f"{cond[1]}时填写" if lang == "zh" else f"filled in when {cond[1]}")
        for name in (block.get("else") or {}).get("required") or []:
            add(name, f"{cond[1]}以外时必填" if lang == "zh" else f"required unless {cond[1]}")
    for alt in schema.get("oneOf") or []:
        if not isinstance(alt, dict):
            continue
        cond = _condition(props, {"properties": {k: v for k, v in (alt.get("properties") or {}).items()
                                                 if isinstance(v, dict) and "const" in v}}, lang)
        if cond:
            for name in alt.get("required") or []:
                if name != cond[0]:
                    add(name, f"{cond[1]}时必填" if lang == "zh" else f"required when {cond[1]}")
    for trigger, names in (schema.get("dependentRequired") or {}).items():
        label = txt((props.get(trigger) or {}).get("label"), lang, trigger)
        for name in names:
            add(name, f"填写「{label}」时必填" if lang == "zh" else f"required when {label} is filled in")
    for tr in (template.get("workflow") or {}).get("transitions") or []:
        step = txt(tr.get("label"), lang, tr.get("name", ""))
        for name in tr.get("requires") or []:
            add(name, f"「{step}」前必填" if lang == "zh" else f"required before “{step}”")
    return out


def field_rules(template: dict, lang: str) -> list[FieldRule]:
    """Every field (depth first, in form order) with its label, kind, required flag and rules in words."""
    schema = template.get("schema") or {}
    props = schema.get("properties") or {}
    order = list((template.get("ui") or {}).get("order") or [])
    order += [n for n in props if n not in order]
    extra = conditional_rules(template, lang)
    required = set(schema.get("required") or [])
    out: list[FieldRule] = []

    def visit(path: str, name: str, f: dict, req: bool, depth: int, words: list[str]) -> None:
        kind = type_of(f)
        rules = list(words)
        if req:
            rules.insert(0, "必填" if lang == "zh" else "required")
        if f.get("minimum") is not None:
            rules.append(f"≥ {f['minimum']}")
        if f.get("maximum") is not None:
            rules.append(f"≤ {f['maximum']}")
        if f.get("maxLength") is not None:
            rules.append(f"≤ {f['maxLength']} 字" if lang == "zh" else f"≤ {f['maxLength']} characters")
        enum = f.get("enum") or (f.get("items") or {}).get("enum") or []
        labels = f.get("enumLabels") or (f.get("items") or {}).get("enumLabels") or {}
        options = [txt(labels.get(str(v)), lang, str(v)) for v in enum]
        out.append(FieldRule(path, txt(f.get("label"), lang, name), kind, req, rules, options, depth))
        inner = (f.get("items") or {}) if kind == "table" else f if kind == "object" else None
        if inner:
            req_inner = set(inner.get("required") or [])
            for n, s in (inner.get("properties") or {}).items():
                if isinstance(s, dict):
                    w = ([("每行必填" if lang == "zh" else "required in every row")] if kind == "table" and n in req_inner else [])
                    visit(f"{path}.{n}", n, s, n in req_inner and kind == "object", depth + 1, w)

    for name in order:
        if isinstance(props.get(name), dict):
            visit(name, name, props[name], name in required, 0, extra.get(name, []))
    return out


def required_labels(template: dict, lang: str) -> list[str]:
    """Labels of the top-level fields that are always required."""
    props = (template.get("schema") or {}).get("properties") or {}
    return [txt((props.get(n) or {}).get("label"), lang, n) for n in (template.get("schema") or {}).get("required") or []]


def missing_required(template: dict, data: dict) -> list[str]:
    """Top-level fields the template's rules require for `data` (plain and when applicable) that are empty."""
    schema = {k: v for k, v in (template.get("schema") or {}).items() if k not in ("additionalProperties",)}
    data = {k: v for k, v in (data or {}).items() if v not in ("", [], {}, None)} if isinstance(data, dict) else {}
    missing: list[str] = []
    try:
        errors = list(Draft202012Validator(schema).iter_errors(data))
    except Exception:  # noqa: BLE001 - a malformed stored schema must not break a report
        return missing
    for e in errors:  # oneOf / anyOf branches (e.context) are left out: only the matching branch applies
        if e.validator in ("required", "dependentRequired") and not e.absolute_path and "'" in e.message:
            name = e.message.split("'")[1]
            if name not in missing:
                missing.append(name)
    return missing
