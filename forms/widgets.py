"""JSON Schema + ui hints + current form values -> a tree of widgets that the Jinja macros render.

Conditional sections (``if``/``then`` at the top level or in ``allOf``, ``oneOf`` alternatives keyed by a
``const``) become ``show_if`` on the fields they govern: the page always renders them with a note saying
when they apply (so the form works without JavaScript), and static/app.js hides them while they don't.
"""
from __future__ import annotations

from dataclasses import dataclass, field as dc_field
from typing import Any

from werkzeug.datastructures import MultiDict

from forms.values import datetime_to_local, kind_of, row_indices


@dataclass
class Condition:
    field: str
    values: list[str]
    text: str  # "结论 = 不合格"


@dataclass
class Widget:
    path: str
    kind: str  # text textarea date datetime email integer number boolean checkbox select radio
    #            checkboxes rows fieldset attachment link
    label: str
    help: str = ""
    required: bool = False
    required_note: str = ""
    value: Any = ""
    options: list[tuple[str, str]] = dc_field(default_factory=list)
    children: list["Widget"] = dc_field(default_factory=list)
    rows: list[tuple[int, list["Widget"]]] = dc_field(default_factory=list)
    columns: list[str] = dc_field(default_factory=list)
    attrs: dict[str, Any] = dc_field(default_factory=dict)
    errors: list[str] = dc_field(default_factory=list)
    show_if: Condition | None = None

    @property
    def dom_id(self) -> str:
        return "f-" + self.path.replace(".", "-")

    @property
    def has_errors(self) -> bool:
        return bool(self.errors) or any(c.has_errors for c in self.children) or any(
            w.has_errors for _, ws in self.rows for w in ws)


@dataclass
class Section:
    title: str
    widgets: list[Widget]


def text(i18n: dict | None, lang: str, default: str = "") -> str:
    if not i18n:
        return default
    if isinstance(i18n, str):
        return i18n
    return i18n.get(lang) or i18n.get("en") or i18n.get("zh") or default


class FormBuilder:
    def __init__(self, schema: dict, ui: dict | None, values: MultiDict, errors: dict[str, list[str]],
                 lang: str = "zh", link_choices: dict[str, list[tuple[str, str]]] | None = None):
        self.schema, self.ui, self.values, self.errors = schema, ui or {}, values, errors or {}
        self.lang = lang
        self.link_choices = link_choices or {}
        self.widget_hints: dict[str, str] = self.ui.get("widgets") or {}
        self.conditions: dict[str, Condition] = {}
        self.conditional_required: set[str] = set()
        self._collect_conditions()

    # conditions ----------------------------------------------------------------------------
    def _condition_of(self, test: dict) -> Condition | None:
        props = (test or {}).get("properties") or {}
        if len(props) != 1:
            return None
        name, sub = next(iter(props.items()))
        if "const" in sub:
            values = [sub["const"]]
        elif "enum" in sub:
            values = list(sub["enum"])
        else:
            return None
        fschema = (self.schema.get("properties") or {}).get(name) or {}
        labels = fschema.get("enumLabels") or {}
        shown = []
        for v in values:
            if isinstance(v, bool):
                shown.append(("是" if v else "否") if self.lang == "zh" else ("yes" if v else "no"))
            else:
                shown.append(text(labels.get(str(v)), self.lang, str(v)))
        label = text(fschema.get("label"), self.lang, name)
        return Condition(name, [_as_value(v) for v in values], f"{label} = {' / '.join(shown)}")

    def _collect_conditions(self) -> None:
        blocks = []
        if "if" in self.schema:
            blocks.append(self.schema)
        blocks += [b for b in self.schema.get("allOf") or [] if isinstance(b, dict) and "if" in b]
        for block in blocks:
            cond = self._condition_of(block["if"])
            if not cond:
                continue
            then = block.get("then") or {}
            for name in list((then.get("properties") or {})) + list(then.get("required") or []):
                if name != cond.field:
                    self._add_condition(name, cond)
            self.conditional_required.update(then.get("required") or [])
        for alt in self.schema.get("oneOf") or []:
            cond = self._condition_of({"properties": {k: v for k, v in (alt.get("properties") or {}).items()
                                                      if "const" in v}})
            if cond:
                for name in alt.get("required") or []:
                    if name != cond.field:
                        self._add_condition(name, cond)
                        self.conditional_required.add(name)

    def _add_condition(self, name: str, cond: Condition) -> None:
        """A field governed by several values of the same field is shown for any of them."""
        have = self.conditions.get(name)
        if have is None:
            self.conditions[name] = cond
        elif have.field == cond.field:
            values = have.values + [v for v in cond.values if v not in have.values]
            extra = cond.text.split(" = ", 1)[-1]
            self.conditions[name] = Condition(have.field, values, f"{have.text} / {extra}")
        # conditions on two different fields: the first one decides visibility (the page notes it)

    # building ------------------------------------------------------------------------------
    def sections(self) -> list[Section]:
        props = self.schema.get("properties") or {}
        required = set(self.schema.get("required") or [])
        order = list(self.ui.get("order") or []) + [n for n in props if n not in (self.ui.get("order") or [])]
        widgets = {name: self.widget(name, props[name], name in required, top=True) for name in order if name in props}
        if self.ui.get("sections"):
            return [Section(text(s["title"], self.lang), [widgets[n] for n in s["fields"] if n in widgets])
                    for s in self.ui["sections"]]
        return [Section("", [widgets[n] for n in order if n in widgets])]

    def widget(self, path: str, schema: dict, required: bool, top: bool = False) -> Widget:
        name = path.rsplit(".", 1)[-1]
        kind = kind_of(schema)
        w = Widget(path=path, kind="text", label=text(schema.get("label"), self.lang, name),
                   help=text(schema.get("help"), self.lang), required=required,
                   errors=self.errors.get(path, []))
        if top:
            w.show_if = self.conditions.get(name)
            if name in self.conditional_required and not required:
                w.required_note = "conditional"
            deps = [k for k, v in (self.schema.get("dependentRequired") or {}).items() if name in v]
            if deps and not required:
                w.required_note = "conditional"
        hint = self.widget_hints.get(_hint_key(path))
        if kind == "object":
            w.kind = "fieldset"
            req = set(schema.get("required") or [])
            w.children = [self.widget(f"{path}.{n}", s, n in req) for n, s in (schema.get("properties") or {}).items()]
        elif kind == "rows":
            w.kind = "rows"
            items = schema.get("items") or {}
            w.attrs.update(minItems=schema.get("minItems"), maxItems=schema.get("maxItems"))
            if items.get("type") == "object":
                req = set(items.get("required") or [])
                cols = list((items.get("properties") or {}).items())
                w.columns = [text(s.get("label"), self.lang, n) + (" *" if n in req else "") for n, s in cols]
                for i in row_indices(self.values, path):
                    w.rows.append((i, [self.widget(f"{path}.{i}.{n}", s, n in req) for n, s in cols]))
            else:
                w.columns = [w.label]
                for i in row_indices(self.values, path):
                    cell = self.widget(f"{path}.{i}", {**items, "label": schema.get("label")}, True)
                    w.rows.append((i, [cell]))
        elif kind == "multichoice":
            items = schema.get("items") or {}
            w.kind = "checkboxes"
            w.options = self._options(items, schema.get("enumLabels") or items.get("enumLabels") or {})
            w.value = [str(v) for v in self.values.getlist(path)]
        elif kind == "choice":
            w.kind = "radio" if hint == "radio" else "select"
            w.options = self._options(schema, schema.get("enumLabels") or {})
            w.value = self.values.get(path, "")
        elif kind == "boolean":
            w.kind = "checkbox" if hint == "checkbox" else "boolean"
            yes, no = ("是", "否") if self.lang == "zh" else ("Yes", "No")
            w.options = [("true", yes), ("false", no)]
            w.value = self.values.get(path, "")
        elif kind in ("integer", "number"):
            w.kind = kind
            w.value = self.values.get(path, "")
            w.attrs.update(min=schema.get("minimum"), max=schema.get("maximum"),
                           step="1" if kind == "integer" else "any")
        else:
            fmt = schema.get("format")
            w.value = self.values.get(path, "")
            w.attrs.update(maxlength=schema.get("maxLength"))
            if fmt == "date":
                w.kind = "date"
            elif fmt == "date-time":
                w.kind = "datetime"
            elif fmt == "email":
                w.kind = "email"
            elif fmt == "attachment":
                w.kind = "attachment"
            elif fmt == "record-link":
                w.kind = "link"
                w.options = list(self.link_choices.get(path, []))
                if w.value and w.value not in {v for v, _ in w.options}:
                    w.options.append((w.value, w.value))
            elif hint == "textarea" or (schema.get("maxLength") or 0) > 200:
                w.kind = "textarea"
        return w

    def _options(self, schema: dict, labels: dict) -> list[tuple[str, str]]:
        return [(_as_value(v), text(labels.get(str(v)), self.lang, str(v))) for v in schema.get("enum") or []]


def _as_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


def _hint_key(path: str) -> str:
    """'items.3.note' -> 'items.*.note': ui.widgets names table columns with '*' for the row (as validated)."""
    return ".".join("*" if p.isdigit() else p for p in path.split("."))


def build_form(schema: dict, ui: dict | None, values: MultiDict, errors: dict[str, list[str]] | None = None,
               lang: str = "zh", link_choices: dict | None = None) -> list[Section]:
    return FormBuilder(schema, ui, values, errors or {}, lang, link_choices).sections()


def display(schema: dict, value: Any, lang: str = "zh") -> str:
    """A short text for a value in lists and tables (choice labels, yes/no, row counts)."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return ("是" if value else "否") if lang == "zh" else ("Yes" if value else "No")
    labels = schema.get("enumLabels") or (schema.get("items") or {}).get("enumLabels") or {}
    if isinstance(value, list):
        if all(not isinstance(v, (dict, list)) for v in value):
            return "、".join(text(labels.get(str(v)), lang, str(v)) for v in value)
        return f"{len(value)} 行" if lang == "zh" else f"{len(value)} rows"
    if isinstance(value, dict):
        return "…"
    if schema.get("format") == "date-time" and isinstance(value, str):
        return datetime_to_local(value).replace("T", " ")
    return text(labels.get(str(value)), lang, str(value))
