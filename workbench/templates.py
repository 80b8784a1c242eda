"""Process templates: load, validate against the meta-schema, and the checks a schema cannot express.

A template is plain JSON (see docs/template-format.md). `validate_template` returns a list of
`TemplateError`s, each naming the JSON path of the offending value; an empty list means valid.
"""
from __future__ import annotations

import json
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable, Iterator

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from workbench import clauses as clause_catalogue
from workbench.formats import record_validator

PACKAGE_DIR = Path(__file__).resolve().parent
LIBRARY_DIR = PACKAGE_DIR.parent / "process_templates"
META_SCHEMA = json.loads((PACKAGE_DIR / "template_meta_schema.json").read_text(encoding="utf-8"))
_META_VALIDATOR = Draft202012Validator(META_SCHEMA)


@dataclass(frozen=True)
class TemplateError:
    path: str  # JSON path, e.g. "$.workflow.transitions[2].to"
    message: str
    source: str = ""  # file name, when loaded from a file

    def __str__(self) -> str:
        prefix = f"{self.source}: " if self.source else ""
        return f"{prefix}{self.path}: {self.message}"


class InvalidTemplate(ValueError):
    def __init__(self, errors: list[TemplateError]):
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


def json_path(parts: Iterable[Any]) -> str:
    out = "$"
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif isinstance(part, str) and part.replace("_", "a").replace("-", "a").isalnum():
            out += f".{part}"
        else:
            out += "[" + json.dumps(part, ensure_ascii=False) + "]"
    return out


# --- walking the embedded record schema -------------------------------------------------------


def iter_fields(schema: dict, prefix: tuple = (), schema_path: tuple = ("schema",)) -> Iterator[tuple[tuple, tuple, dict]]:
    """Yield (data_path, json_path_parts, field_schema) for every property, depth first.

    Array items of object type contribute their properties with the index written as "*".
    """
    for name, field in (schema.get("properties") or {}).items():
        if not isinstance(field, dict):
            continue
        here = prefix + (name,)
        here_json = schema_path + ("properties", name)
        yield here, here_json, field
        if field.get("type") == "object":
            yield from iter_fields(field, here, here_json)
        items = field.get("items")
        if field.get("type") == "array" and isinstance(items, dict) and items.get("type") == "object":
            yield from iter_fields(items, here + ("*",), here_json + ("items",))


def conditional_blocks(schema: dict) -> Iterator[tuple[tuple, dict]]:
    """Yield (json path parts, {if, then, else}) for top-level and allOf conditionals."""
    if "if" in schema:
        yield ("schema",), schema
    for i, sub in enumerate(schema.get("allOf") or []):
        if isinstance(sub, dict) and "if" in sub:
            yield ("schema", "allOf", i), sub


def field_names(template: dict) -> set[str]:
    return set((template.get("schema") or {}).get("properties") or {})


def all_field_paths(template: dict) -> set[str]:
    return {".".join(p) for p, _, _ in iter_fields(template.get("schema") or {})}


# --- validation ------------------------------------------------------------------------------


def validate_template(template: Any, source: str = "") -> list[TemplateError]:
    errors = [
        TemplateError(json_path(e.absolute_path), e.message, source)
        for e in sorted(_META_VALIDATOR.iter_errors(template), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if errors or not isinstance(template, dict):
        return errors  # semantic checks assume the structure is right
    errors.extend(TemplateError(p, m, source) for p, m in _semantic_errors(template))
    return errors


def _semantic_errors(t: dict) -> Iterator[tuple[str, str]]:
    schema = t["schema"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as e:
        yield json_path(("schema",) + tuple(e.absolute_path)), f"not a valid JSON Schema: {e.message}"
        return

    top = field_names(t)
    paths = all_field_paths(t)

    # enum labels and required lists
    for data_path, jpath, field in iter_fields(schema):
        enum = field.get("enum") or (field.get("items") or {}).get("enum")
        labels = field.get("enumLabels")
        if enum is not None:
            if labels is None:
                yield json_path(jpath), "enum without enumLabels (every choice needs zh/en labels)"
            else:
                missing = [v for v in enum if str(v) not in labels]
                extra = [k for k in labels if k not in {str(v) for v in enum}]
                if missing:
                    yield json_path(jpath + ("enumLabels",)), f"no label for choice(s) {missing}"
                if extra:
                    yield json_path(jpath + ("enumLabels",)), f"label(s) for unknown choice(s) {extra}"
        if field.get("format") == "record-link" and not field.get("linkTemplates"):
            yield json_path(jpath), "a record-link field needs linkTemplates"
    for jpath, obj in _object_schemas(schema, ("schema",)):
        props = obj.get("properties") or {}
        for i, name in enumerate(obj.get("required") or []):
            if name not in props:
                yield json_path(jpath + ("required", i)), f"required field '{name}' is not defined in properties"

    # conditionals: the if must test existing top-level fields, then/else may only name existing ones
    for jpath, block in conditional_blocks(schema):
        for name in (block.get("if") or {}).get("properties") or {}:
            if name not in top:
                yield json_path(jpath + ("if", "properties", name)), f"condition tests unknown field '{name}'"
        for branch in ("then", "else"):
            sub = block.get(branch) or {}
            for i, name in enumerate(sub.get("required") or []):
                if name not in top and name not in (sub.get("properties") or {}):
                    yield json_path(jpath + (branch, "required", i)), f"unknown field '{name}'"
    for name, deps in (schema.get("dependentRequired") or {}).items():
        for i, dep in enumerate([name] + list(deps)):
            if dep not in top:
                yield json_path(("schema", "dependentRequired", name)), f"unknown field '{dep}'"

    # ui hints
    ui = t.get("ui") or {}
    for key in ("order", "list_columns"):
        for i, name in enumerate(ui.get(key) or []):
            if name not in top:
                yield json_path(("ui", key, i)), f"unknown field '{name}'"
    for name in ui.get("widgets") or {}:
        if name not in paths:
            yield json_path(("ui", "widgets", name)), f"unknown field '{name}'"
    if ui.get("title_field") and ui["title_field"] not in top:
        yield "$.ui.title_field", f"unknown field '{ui['title_field']}'"
    seen: dict[str, int] = {}
    for si, section in enumerate(ui.get("sections") or []):
        for fi, name in enumerate(section["fields"]):
            if name not in top:
                yield json_path(("ui", "sections", si, "fields", fi)), f"unknown field '{name}'"
            elif name in seen:
                yield json_path(("ui", "sections", si, "fields", fi)), f"field '{name}' is already in section {seen[name]}"
            seen[name] = si
    if ui.get("sections"):
        for name in sorted(top - set(seen)):
            yield "$.ui.sections", f"field '{name}' is in no section"

    yield from _workflow_errors(t["workflow"], top)

    # schedule
    sched = t.get("schedule") or {}
    for key in ("date_field", "due_field", "subject_field"):
        if key in sched and sched[key] not in top:
            yield json_path(("schedule", key)), f"unknown field '{sched[key]}'"

    # clauses
    for i, ref in enumerate(t["clauses"]):
        if not clause_catalogue.exists(ref["standard"], ref["clause"]):
            yield json_path(("clauses", i, "clause")), f"{ref['standard']} has no clause {ref['clause']}"

    # examples must be valid records
    validator = record_validator(schema)
    for i, example in enumerate(t.get("examples") or []):
        for e in validator.iter_errors(example):
            yield json_path(("examples", i) + tuple(e.absolute_path)), f"example is not a valid record: {e.message}"


def _object_schemas(schema: dict, jpath: tuple) -> Iterator[tuple[tuple, dict]]:
    yield jpath, schema
    for name, field in (schema.get("properties") or {}).items():
        if not isinstance(field, dict):
            continue
        if field.get("type") == "object":
            yield from _object_schemas(field, jpath + ("properties", name))
        items = field.get("items")
        if isinstance(items, dict) and items.get("type") == "object":
            yield from _object_schemas(items, jpath + ("properties", name, "items"))


def _workflow_errors(wf: dict, top: set[str]) -> Iterator[tuple[str, str]]:
    states = wf["states"]
    if wf["initial"] not in states:
        yield "$.workflow.initial", f"unknown state '{wf['initial']}'"
    names: set[str] = set()
    for i, tr in enumerate(wf["transitions"]):
        if tr["name"] in names:
            yield json_path(("workflow", "transitions", i, "name")), f"duplicate transition name '{tr['name']}'"
        names.add(tr["name"])
        for j, s in enumerate(tr["from"]):
            if s not in states:
                yield json_path(("workflow", "transitions", i, "from", j)), f"unknown state '{s}'"
        if tr["to"] not in states:
            yield json_path(("workflow", "transitions", i, "to")), f"unknown state '{tr['to']}'"
        for j, f in enumerate(tr.get("requires") or []):
            if f not in top:
                yield json_path(("workflow", "transitions", i, "requires", j)), f"unknown field '{f}'"
    for j, s in enumerate(wf.get("locked") or []):
        if s not in states:
            yield json_path(("workflow", "locked", j)), f"unknown state '{s}'"
    # every state must be reachable from the initial one
    if wf["initial"] in states:
        reached = {wf["initial"]}
        queue = deque([wf["initial"]])
        while queue:
            s = queue.popleft()
            for tr in wf["transitions"]:
                if s in tr["from"] and tr["to"] not in reached:
                    reached.add(tr["to"])
                    queue.append(tr["to"])
        for s in states:
            if s not in reached:
                yield json_path(("workflow", "states", s)), f"state '{s}' cannot be reached from '{wf['initial']}'"


# --- loading ---------------------------------------------------------------------------------


def load_file(path: Path) -> dict:
    """Load and validate one template file; raise InvalidTemplate naming the file and JSON path."""
    source = str(path)
    try:
        template = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InvalidTemplate([TemplateError("$", "file not found", source)])
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        where = f"line {e.lineno} column {e.colno}: " if isinstance(e, json.JSONDecodeError) else ""
        raise InvalidTemplate([TemplateError("$", f"not valid JSON: {where}{e}", source)])
    errors = validate_template(template, source)
    if errors:
        raise InvalidTemplate(errors)
    return template


def library_files(directory: Path = LIBRARY_DIR) -> list[Path]:
    return sorted(Path(directory).glob("*.json"))


@lru_cache(maxsize=1)
def shipped_library() -> dict[str, dict]:
    """The shipped templates by key (validated; raises on the first invalid file)."""
    out: dict[str, dict] = {}
    for path in library_files():
        t = load_file(path)
        if t["key"] in out:
            raise InvalidTemplate([TemplateError("$.key", f"duplicate key '{t['key']}'", str(path))])
        out[t["key"]] = t
    return out
