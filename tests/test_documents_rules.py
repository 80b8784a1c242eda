"""Properties of the rules the procedures state: a record valid under a template version is never reported
as lacking a field that version requires, and nothing in a record's data makes the check fail."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.strategies import obj, valid_records
from workbench.documents.rules import field_rules, missing_required
from workbench.templates import shipped_library

LIBRARY = shipped_library()
KEYS = sorted(LIBRARY)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_valid_record_lacks_nothing_its_version_requires(data):
    body = LIBRARY[data.draw(st.sampled_from(KEYS))]
    record = data.draw(valid_records(body["schema"]))
    assert missing_required(body, record) == []


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_any_data_is_checked_without_error(data):
    body = LIBRARY[data.draw(st.sampled_from(KEYS))]
    record = data.draw(st.one_of(obj(body["schema"]), st.dictionaries(st.text(max_size=5), st.none() | st.integers())))
    missing = missing_required(body, record)
    assert set(missing) <= set(body["schema"]["properties"])


def test_every_required_field_is_stated_as_required():
    for key, body in LIBRARY.items():
        for lang, word in (("zh", "必填"), ("en", "required")):
            rules = {f.path: f.rules for f in field_rules(body, lang)}
            for name in body["schema"].get("required") or []:
                assert rules[name][0] == word, (key, name)
