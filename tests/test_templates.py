"""Template validation: the shipped library is valid and covers the records clauses; broken templates
fail with an error naming the JSON path; the CLI exits non-zero with readable errors."""
from __future__ import annotations

import copy
import json

import pytest
from click.testing import CliRunner

from tests.conftest import load_fixture
from workbench import clauses
from workbench.cli import main
from workbench.templates import InvalidTemplate, library_files, load_file, validate_template

GOOD = load_fixture("kitchen-sink.json")


@pytest.mark.parametrize("path", library_files(), ids=lambda p: p.stem)
def test_shipped_template_is_valid_and_bilingual(path):
    t = load_file(path)
    assert t["key"] == path.stem
    assert t["title"]["zh"] != t["title"]["en"]
    assert len(t.get("examples") or []) >= 1, "examples feed the demo data"


def test_fixture_is_valid():
    assert validate_template(GOOD) == []


def mutate(fn):
    t = copy.deepcopy(GOOD)
    fn(t)
    return t


def _set(path, value):
    def fn(t):
        node = t
        for p in path[:-1]:
            node = node[p]
        node[path[-1]] = value
    return fn


def _del(path):
    def fn(t):
        node = t
        for p in path[:-1]:
            node = node[p]
        del node[path[-1]]
    return fn


BROKEN = [
    ("missing workflow", _del(["workflow"]), "$", "'workflow' is a required property"),
    ("bad key", _set(["key"], "Bad Key"), "$.key", "does not match"),
    ("label missing", _del(["schema", "properties", "batch_no", "label"]), "$.schema.properties.batch_no", "'label' is a required property"),
    ("label not bilingual", _set(["schema", "properties", "batch_no", "label"], {"zh": "批号"}), "$.schema.properties.batch_no.label", "'en' is a required property"),
    ("unknown clause", _set(["clauses", 0, "clause"], "8.9"), "$.clauses[0].clause", "has no clause 8.9"),
    ("unknown standard", _set(["clauses", 0, "standard"], "ISO 27001:2022"), "$.clauses[0].standard", "is not one of"),
    ("transition to unknown state", _set(["workflow", "transitions", 0, "to"], "done"), "$.workflow.transitions[0].to", "unknown state 'done'"),
    ("transition from unknown state", _set(["workflow", "transitions", 1, "from"], ["nowhere"]), "$.workflow.transitions[1].from[0]", "unknown state"),
    ("initial unknown", _set(["workflow", "initial"], "start"), "$.workflow.initial", "unknown state 'start'"),
    ("unreachable state", _set(["workflow", "states", "archived"], {"label": {"zh": "归档", "en": "Archived"}}), "$.workflow.states.archived", "cannot be reached"),
    ("requires unknown field", _set(["workflow", "transitions", 0, "requires"], ["lot"]), "$.workflow.transitions[0].requires[0]", "unknown field 'lot'"),
    ("role not allowed", _set(["workflow", "transitions", 0, "roles"], ["auditor"]), "$.workflow.transitions[0].roles[0]", "is not one of"),
    ("duplicate transition", lambda t: t["workflow"]["transitions"].append(copy.deepcopy(t["workflow"]["transitions"][0])), "$.workflow.transitions[3].name", "duplicate transition"),
    ("enum label missing", _del(["schema", "properties", "result", "enumLabels", "fail"]), "$.schema.properties.result.enumLabels", "no label for choice"),
    ("required unknown", _set(["schema", "required"], ["batch_no", "lot"]), "$.schema.required[1]", "'lot' is not defined"),
    ("invalid embedded schema", _set(["schema", "properties", "quantity", "minimum"], "one"), "$.schema.properties.quantity.minimum", "not a valid JSON Schema"),
    ("ui order unknown", _set(["ui", "order"], ["batch_no", "nope"]), "$.ui.order[1]", "unknown field 'nope'"),
    ("ui widget unknown field", _set(["ui", "widgets"], {"nope": "textarea"}), "$.ui.widgets.nope", "unknown field"),
    ("ui widget unknown kind", _set(["ui", "widgets"], {"batch_no": "slider"}), "$.ui.widgets.batch_no", "is not one of"),
    ("title field unknown", _set(["ui", "title_field"], "nope"), "$.ui.title_field", "unknown field"),
    ("condition on unknown field", _set(["schema", "allOf", 0, "if", "properties"], {"verdict": {"const": "x"}}), "$.schema.allOf[0].if.properties.verdict", "unknown field"),
    ("then requires unknown", _set(["schema", "allOf", 0, "then", "required"], ["reason"]), "$.schema.allOf[0].then.required[0]", "unknown field 'reason'"),
    ("schedule unknown field", _set(["schedule"], {"every_months": 12, "date_field": "when"}), "$.schedule.date_field", "unknown field 'when'"),
    ("schedule both kinds", _set(["schedule"], {"every_months": 12, "date_field": "inspected_on", "due_field": "x"}), "$.schedule", "not valid under any"),
    ("record-link without targets", _set(["schema", "properties", "release_by", "format"], "record-link"), "$.schema.properties.release_by", "needs linkTemplates"),
    ("invalid example", _set(["examples", 1, "quantity"], 0), "$.examples[1].quantity", "example is not a valid record"),
    ("example misses conditional", _del(["examples", 1, "nc_description"]), "$.examples[1]", "'nc_description' is a required property"),
    ("unknown top-level key", _set(["colour"], "red"), "$", "Additional properties"),
]


@pytest.mark.parametrize("name,fn,path,text", BROKEN, ids=[b[0] for b in BROKEN])
def test_broken_template_names_the_json_path(name, fn, path, text):
    errors = validate_template(mutate(fn), "broken.json")
    assert errors, "expected an error"
    assert any(e.path == path and text in e.message for e in errors), [str(e) for e in errors]
    assert all(str(e).startswith("broken.json: $") for e in errors)


def test_not_json_names_the_line(tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text('{"key": "x",\n  "version": }', encoding="utf-8")
    with pytest.raises(InvalidTemplate) as exc:
        load_file(bad)
    assert "line 2" in str(exc.value) and str(bad) in str(exc.value)


def test_cli_validate_exit_codes(tmp_path):
    good = tmp_path / "good.json"
    good.write_text(json.dumps(GOOD, ensure_ascii=False), encoding="utf-8")
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(mutate(_set(["workflow", "transitions", 0, "to"], "done")), ensure_ascii=False), encoding="utf-8")
    runner = CliRunner()
    ok = runner.invoke(main, ["templates", "validate", str(good)])
    assert ok.exit_code == 0 and "1 valid, 0 invalid" in ok.output
    res = runner.invoke(main, ["templates", "validate", str(good), str(bad)])
    assert res.exit_code == 1
    assert f"{bad}: $.workflow.transitions[0].to: unknown state 'done'" in res.output
    assert "1 valid, 1 invalid" in res.output


def test_cli_validates_the_shipped_library_by_default():
    res = CliRunner().invoke(main, ["templates", "validate"])
    assert res.exit_code == 0, res.output


# --- coverage of the standards' retained-records clauses (../shared/iso-hls.md) -------------------

RETAINED_9001 = ["7.1.5.1", "7.1.5.2", "7.2", "8.1", "8.2.3.2", "8.3.2", "8.3.3", "8.3.4", "8.3.5", "8.3.6", "8.4.1",
                 "8.5.2", "8.5.3", "8.5.6", "8.6", "8.7.2", "9.1.1", "9.2.2", "9.3.3", "10.2.2"]
RETAINED_14001 = ["6.1.2", "6.1.3", "7.2", "7.4", "8.1", "8.2", "9.1.1", "9.1.2", "9.2", "9.3", "10.2"]
RETAINED_45001 = ["5.4", "6.1.2", "6.1.3", "7.2", "7.4", "8.1", "8.2", "9.1.1", "9.1.2", "9.2", "9.3", "10.2"]


def _covered(standard):
    out = set()
    for p in library_files():
        for ref in load_file(p)["clauses"]:
            if ref["standard"] == standard:
                out.add(ref["clause"])
    return out


def _is_covered(clause, covered):
    """A clause is covered by itself, a sub-clause, or its parent (e.g. 9.2 covers 9.2.2)."""
    return any(c == clause or c.startswith(clause + ".") or clause.startswith(c + ".") for c in covered)


@pytest.mark.parametrize("standard,required", [("ISO 9001:2015", RETAINED_9001), ("ISO 14001:2015", RETAINED_14001),
                                               ("ISO 45001:2018", RETAINED_45001)])
def test_library_covers_every_retained_records_clause(standard, required):
    covered = _covered(standard)
    missing = [c for c in required if not _is_covered(c, covered)]
    assert not missing, f"{standard}: no template serves {missing}"
    for c in required:
        assert clauses.exists(standard, c), c
