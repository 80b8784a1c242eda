"""Issue #10 items 8–12: repeating rows, xlsx imports, request bodies, odd numbers and attachment names are
all bounded and answered with a 4xx and a message, never a 500 or a stalled worker."""
from __future__ import annotations

import copy
import io
import json
import re
import zipfile

import pytest
from sqlmodel import select
from werkzeug.datastructures import MultiDict

from tests.conftest import csrf_from, load_fixture
from tests.test_studio_views import add_draft, draft_body, scrape
from workbench import jsonsafe, xlsxsafe
from workbench.models import Attachment, Record
from workbench.studio import io as sio
from workbench.studio import form as studio_form
from workbench.studio import fields as studio_fields
from workbench.templates import validate_template

import forms
from forms import values as fv

KS = load_fixture("kitchen-sink.json")
PDF = b"%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n"
DATA = {"batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": "1"}


@pytest.fixture
def member(world, client_for):
    world.add_template(KS, world.acme)
    return client_for("member")


def token(c, url="/o/acme/p/kitchen-sink/new"):
    return csrf_from(c.get(url).get_data(as_text=True))


# --- item 8: repeating rows ----------------------------------------------------------------------------------------


def test_row_indices_are_bounded_and_deduplicated():
    form = MultiDict([("items.__row", str(i)) for i in range(30000)] + [("items.__row", "0")])
    got = fv.row_indices(form, "items")
    assert got[:3] == [0, 1, 2] and len(got) == fv.ROWS_MAX + 1


def test_thirty_thousand_rows_are_refused_with_a_message(member, db):
    form = MultiDict([("csrf_token", token(member))] + list(DATA.items()) +
                     [("items.__row", str(i)) for i in range(30000)])
    resp = member.post("/o/acme/p/kitchen-sink/new", data=form)
    assert resp.status_code == 422
    assert f"最多 {fv.ROWS_MAX} 项" in resp.get_data(as_text=True)
    assert db.exec(select(Record)).all() == []


def test_template_max_items_caps_rows():
    schema = copy.deepcopy(KS["schema"])
    schema["properties"]["tags"]["maxItems"] = 2
    form = MultiDict([("tags.__row", str(i)) for i in range(3)] + [(f"tags.{i}", "x") for i in range(3)])
    _data, errors = forms.parse(schema, form, "en")
    assert errors["tags"] == ["Add at most 2 entries"]


def test_adding_rows_stops_at_the_cap():
    form = MultiDict([("items.__row", str(i)) for i in range(fv.ROWS_MAX)])
    assert len(fv.row_indices(forms.apply_row_action(form, "add:items"), "items")) == fv.ROWS_MAX


# --- item 9: xlsx ------------------------------------------------------------------------------------------------


def _workbook(rows) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = "fields"
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rewrite(data: bytes, member_name: str, edit) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            content = src.read(info)
            if info.filename == member_name:
                content = edit(content)
            dst.writestr(info.filename, content)
    return out.getvalue()


def dimension_bomb() -> bytes:
    data = _workbook([["key", "label_zh", "label_en", "type"], ["a", "甲", "A", "text"]])
    return _rewrite(data, "xl/worksheets/sheet1.xml",
                    lambda x: re.sub(rb'<dimension ref="[^"]*" ?/>', b'<dimension ref="A1:XFD1048576"/>', x))


def test_dimension_bomb_reads_only_real_cells():
    data = dimension_bomb()
    assert len(data) < 10_000
    wb = xlsxsafe.open_workbook(data)
    try:
        assert wb["fields"].max_row == 1048576  # what the file claims
        got = xlsxsafe.rows(wb["fields"])
    finally:
        wb.close()
    assert len(got) == 2 and all(len(r) == xlsxsafe.MAX_COLS for r in got)


def test_too_many_rows_is_a_message():
    data = _workbook([["key"]] + [[f"k{i}"] for i in range(xlsxsafe.MAX_ROWS + 5)])
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(data)
    assert f"more than {xlsxsafe.MAX_ROWS} rows" in e.value.errors[0]


def test_archive_that_unpacks_too_large_is_refused_before_parsing():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("xl/worksheets/sheet1.xml", b"<" + b" " * (xlsxsafe.MAX_UNCOMPRESSED + 1) + b"/>")
    assert len(out.getvalue()) < 100_000
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(out.getvalue())
    assert "unpacks to more than" in e.value.errors[0]


def test_dtd_entities_are_refused():
    data = _workbook([["key", "label_zh"], ["a", "甲"]])
    evil = _rewrite(data, "xl/worksheets/sheet1.xml", lambda x: x.replace(
        b"<worksheet", b'<!DOCTYPE lol [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]><worksheet', 1))
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(evil)
    assert "document type declaration" in e.value.errors[0]


@pytest.mark.parametrize("payload", ["bomb", "dtd", "junk", "empty-zip"])
def test_excel_import_page_answers_422(app, world, client_for, payload):
    data = {"bomb": dimension_bomb(), "junk": b"PK\x03\x04 not really",
            "dtd": _rewrite(_workbook([["key"]]), "[Content_Types].xml", lambda x: b'<!DOCTYPE x [<!ENTITY e "e">]>' + x),
            "empty-zip": _rewrite(_workbook([["key"]]), "", lambda x: x)[:22]}[payload]
    c = client_for("consultant")
    tok = token(c, "/studio/o/acme/import")
    resp = c.post("/studio/o/acme/import", data={"csrf_token": tok, "kind": "excel", "file": (io.BytesIO(data), "f.xlsx")},
                  content_type="multipart/form-data")
    assert resp.status_code == 422


# --- item 10: request bodies and text lengths ---------------------------------------------------------------------


def test_a_ten_megabyte_text_value_is_refused(member, db):
    form = dict(DATA, csrf_token=token(member), nc_description="x" * (10 * 1024 * 1024))
    assert member.post("/o/acme/p/kitchen-sink/new", data=form).status_code == 413
    big = MultiDict([("csrf_token", token(member)), ("batch_no", "B1"), ("shift", "y" * (2 * 1024 * 1024))])
    assert member.post("/o/acme/p/kitchen-sink/new", data=big, content_type="multipart/form-data").status_code == 413
    assert db.exec(select(Record)).all() == []


def test_text_without_max_length_gets_the_default():
    schema = {"type": "object", "properties": {"note": {"type": "string", "label": {"zh": "备注", "en": "Note"}}}}
    data, errors = forms.parse(schema, MultiDict({"note": "y" * (fv.TEXT_MAX + 1)}), "en")
    assert errors["note"] == [f"Enter at most {fv.TEXT_MAX} characters"] and data == {}
    data, errors = forms.parse(schema, MultiDict({"note": "y" * fv.TEXT_MAX}), "en")
    assert not errors and len(data["note"]) == fv.TEXT_MAX


def test_template_labels_and_titles_have_a_max_length():
    body = copy.deepcopy(KS)
    body["title"]["zh"] = "长" * 5_000_000
    assert any(e.path == "$.title.zh" for e in validate_template(body))
    body = copy.deepcopy(KS)
    body["schema"]["properties"]["batch_no"]["label"]["en"] = "x" * 201
    assert validate_template(body)
    assert not validate_template(copy.deepcopy(KS))


# --- item 11: odd numbers -----------------------------------------------------------------------------------------


def test_huge_ids_in_paths_are_404(member):
    for url in ["/o/acme/r/99999999999999999999999", "/o/acme/r/9223372036854775808/edit",
                "/o/acme/attachments/99999999999999999999", "/o/acme/r/1/revisions/99999999999999999999999",
                "/o/acme/audit/e/99999999999999999999/"]:
        assert member.get(url).status_code == 404, url


def test_huge_numbers_in_query_strings_and_form_fields(member, client_for, world):
    assert member.get("/o/acme/p/kitchen-sink/?page=" + "9" * 5000).status_code == 200
    form = dict(DATA, csrf_token=token(member), quantity="9" * 5000)
    resp = member.post("/o/acme/p/kitchen-sink/new", data=form)
    assert resp.status_code == 422 and "数值太大" in resp.get_data(as_text=True)
    form["quantity"], form["temperature"] = "1", "9" * 5000
    assert member.post("/o/acme/p/kitchen-sink/new", data=form).status_code == 422
    m = client_for("manager")
    tok = token(m, "/o/acme/members")
    assert m.post("/o/acme/members", data={"csrf_token": tok, "remove": "9" * 30}).status_code == 422


@pytest.mark.parametrize("text,expect", [
    ("[" * 100_000 + "]" * 100_000, "64"),
    ('{"key": ' + "7" * 5000 + "}", "30"),
    ('{"key": NaN}', "NaN"),
    ('{"key": -Infinity}', "Infinity"),
    ('{"key": 1e999}', "out of range"),
])
def test_json_refusals(text, expect):
    with pytest.raises(jsonsafe.Refused) as e:
        jsonsafe.loads(text)
    assert expect in str(e.value)
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_pack(text)
    assert e.value.errors[0].lower().startswith("not accepted")


def test_json_tab_refuses_deep_nesting_and_huge_numbers(app, world, client_for):
    draft_id = add_draft(app, KS, org=world.acme)
    c = client_for("consultant")
    for text in ["[" * 100_000 + "]" * 100_000, '{"version": ' + "1" * 5000 + "}", '{"minimum": NaN}']:
        form = scrape(c.get(f"/studio/o/acme/d/{draft_id}?tab=json").get_data(as_text=True))
        form["json"] = text
        resp = c.post(f"/studio/o/acme/d/{draft_id}", data=form)
        assert resp.status_code == 422, text[:20]
    assert draft_body(app, draft_id) == KS


def test_nan_and_infinity_never_pass_template_validation():
    body = copy.deepcopy(KS)
    body["schema"]["properties"]["quantity"]["minimum"] = float("nan")
    errors = validate_template(body)
    assert errors and errors[0].path == "$.schema.properties.quantity.minimum"
    body["schema"]["properties"]["quantity"]["minimum"] = float("inf")
    assert validate_template(body)
    assert json.loads(json.dumps(KS)) == KS


# --- item 12: attachment names -------------------------------------------------------------------------------------


def _upload(c, filename):
    data = {"csrf_token": token(c), **DATA, "certificate.__file": (io.BytesIO(PDF), filename)}
    return c.post("/o/acme/p/kitchen-sink/new", data=data, content_type="multipart/form-data")


def test_bidi_controls_are_stripped_from_names(member, db):
    assert _upload(member, "\u202etxt.exe.pdf").status_code == 303
    att = db.exec(select(Attachment)).one()
    assert att.filename == "txt.exe.pdf"
    assert not any(ch in att.filename for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


def test_long_names_are_shortened_not_refused(member, db):
    assert _upload(member, "检验报告" * 80 + ".pdf").status_code == 303
    att = db.exec(select(Attachment)).one()
    assert att.filename.endswith(".pdf") and len(att.filename) <= 120


def test_builder_refuses_nan_and_infinity_bounds_and_options():
    from workbench.studio import builder

    for raw in ("nan", "NaN", "inf", "-Infinity", "1e999"):
        errors: dict = {}
        assert studio_form._number(raw, "quantity:min", errors) is ValueError and errors, raw
    field = {"type": "number", "enum": [1.5]}
    with pytest.raises(builder.BuilderError):
        studio_fields._parse_value(field, "nan")
