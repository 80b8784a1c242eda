"""Import/export: JSON template packs and Excel field sheets. Every error names where it is (template + JSON
path, or row + column); nothing is created when anything is wrong."""
from __future__ import annotations

import copy
import io
import json

import pytest
from openpyxl import Workbook, load_workbook
from sqlmodel import Session, func, select

from tests.conftest import csrf_from, load_fixture
from workbench.models import ProcessTemplate
from workbench.studio import builder, io as sio
from workbench.studio.models import StudioDraft
from workbench.templates import LIBRARY_DIR, load_file, validate_template

HEADER = ["key", "label_zh", "label_en", "type", "required", "options", "help"]


def workbook(rows: list[list], meta: list[list] | None = None) -> bytes:
    wb = Workbook()
    ws = wb.active
    ws.title = "fields"
    for r in rows:
        ws.append(r)
    if meta is not None:
        m = wb.create_sheet("template")
        for r in meta:
            m.append(r)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


GOOD = [HEADER,
        ["check_date", "点检日期", "Check date", "date", "yes", "", ""],
        ["truck_no", "叉车编号", "Truck no.", "文本", "是", "", "见铭牌|On the name plate"],
        ["items", "点检项目", "Check items", "table", "", "", ""],
        ["items.part", "部位", "Part", "text", "yes", "", ""],
        ["items.ok", "正常", "OK", "yes/no", "yes", "", ""],
        ["result", "结论", "Result", "choice", "yes", "ok=可以使用|Fit for use; stop=停用报修|Stop", ""],
        ["fault", "故障描述", "Fault", "long text", "no", "", ""],
        []]
META = [["name", "value"], ["key", "forklift-daily-check"], ["title_zh", "叉车日常点检"], ["title_en", "Forklift daily check"],
        ["clauses", "ISO 45001:2018 8.1.2; 45001 9.1.1"]]


def counts(app) -> tuple[int, int]:
    with Session(app.extensions["workbench.engine"]) as s:
        return (s.exec(select(func.count()).select_from(StudioDraft)).one(),
                s.exec(select(func.count()).select_from(ProcessTemplate)).one())


# --- Excel --------------------------------------------------------------------------------------------------


def test_good_sheet_makes_a_valid_template():
    t = sio.read_workbook(workbook(GOOD, META))
    assert validate_template(t) == []
    assert t["key"] == "forklift-daily-check" and t["title"] == {"zh": "叉车日常点检", "en": "Forklift daily check"}
    assert t["clauses"] == [{"standard": "ISO 45001:2018", "clause": "8.1.2"}, {"standard": "ISO 45001:2018", "clause": "9.1.1"}]
    props = t["schema"]["properties"]
    assert list(props) == ["check_date", "truck_no", "items", "result", "fault"]
    assert t["schema"]["required"] == ["check_date", "truck_no", "result"]
    assert props["truck_no"]["help"] == {"zh": "见铭牌", "en": "On the name plate"}
    assert list(props["items"]["items"]["properties"]) == ["part", "ok"] and props["items"]["items"]["required"] == ["part", "ok"]
    assert props["result"]["enum"] == ["ok", "stop"] and props["result"]["enumLabels"]["stop"] == {"zh": "停用报修", "en": "Stop"}
    assert builder.type_of(t, "fault") == "textarea"


def test_bad_rows_name_row_and_column():
    rows = copy.deepcopy(GOOD)
    rows[2][3] = "datum"             # row 3: unknown type
    rows[4][0] = "lines.part"        # row 5: parent is not a table
    rows[6][5] = "ok=可以|Fine; ok=重复|Dup"  # row 7: duplicate option
    rows[7][4] = "maybe"             # row 8: required is not yes/no
    rows.append(["Bad Key", "", "", "text", "", "", ""])  # row 10: bad key, no label
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(workbook(rows, META))
    errors = e.value.errors
    assert "row 3, column type: unknown type 'datum' (use text, textarea, number, integer, date, datetime, email, " \
           "choice, multichoice, yesno, table, section, attachment)" in errors
    assert "row 5, column key: 'lines' is not a table or section defined above" in errors
    assert "row 7, column options: option 'ok' appears twice" in errors
    assert "row 8, column required: write yes or no, not 'maybe'" in errors
    assert any(x.startswith("row 10, column key: 'Bad Key' is not a valid key") for x in errors)
    assert "row 10, column label_zh: every field needs a label (label_zh and/or label_en)" in errors


def test_sheet_problems_outside_the_rows():
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(workbook([["key", "label", "type"], ["a", "A", "text"]]))
    assert "row 1, column B: unknown column 'label' (use key, label_zh, label_en, type, required, options, help, show_if)" in e.value.errors
    assert "row 1: missing column(s) label_zh, label_en" in e.value.errors
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(workbook(GOOD, [["key", "x"], ["clauses", "ISO 9001:2015 8.99"]]))
    assert "key: give the template key (in the form or on the sheet 'template')" not in e.value.errors
    assert "sheet template, row 1, column value: 'x' is not a valid template key (lowercase letters, digits and -)" in e.value.errors
    assert "sheet template, row 2, column value: ISO 9001:2015 has no clause 8.99" in e.value.errors
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(b"PK\x03\x04 not really a workbook")
    assert e.value.errors[0].startswith("not an Excel workbook")


def test_form_values_override_the_template_sheet():
    t = sio.read_workbook(workbook(GOOD), {"key": "truck-check", "title_zh": "叉车检查", "title_en": "",
                                            "clauses": "9001 7.1.3"})
    assert t["key"] == "truck-check" and t["title"] == {"zh": "叉车检查", "en": "叉车检查"}
    assert t["clauses"] == [{"standard": "ISO 9001:2015", "clause": "7.1.3"}]


def test_show_if_column_makes_a_condition():
    rows = [HEADER + ["show_if"]] + [r + [""] for r in GOOD[1:-1]]
    rows[-1][-1] = "result=stop"
    rows[-1][4] = "yes"
    t = sio.read_workbook(workbook(rows, META))
    assert builder.condition_of(t, "fault") == ("result", ["stop"]) and builder.is_required(t, "fault")
    rows[-1][-1] = "result=broken"
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_workbook(workbook(rows, META))
    assert e.value.errors == ["row 8, column show_if: 'result' has no option 'broken' (options: ok, stop)"]


def test_excel_export_and_import_round_trip():
    t = sio.example_template()
    assert validate_template(t) == []
    back = sio.read_workbook(sio.write_workbook(t))
    assert back["schema"] == t["schema"] and back.get("ui") == t.get("ui")
    assert (back["key"], back["title"], back["clauses"], back["description"]) == \
           (t["key"], t["title"], t["clauses"], t["description"])


# --- JSON packs ----------------------------------------------------------------------------------------------


def test_pack_round_trip_and_single_templates():
    a, b = load_fixture("kitchen-sink.json"), load_file(LIBRARY_DIR / "internal-audit.json")
    assert sio.read_pack(sio.dumps_pack([a, b])) == [a, b]
    assert sio.read_pack(json.dumps(a)) == [a]  # one template file
    assert sio.read_pack(json.dumps([a, b])) == [a, b]  # a plain list


def test_pack_errors_name_template_and_json_path():
    a, b = load_fixture("kitchen-sink.json"), load_file(LIBRARY_DIR / "internal-audit.json")
    bad = copy.deepcopy(b)
    bad["workflow"]["transitions"][1]["to"] = "done"
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_pack(sio.dumps_pack([a, bad, a]))
    assert "template 2 (internal-audit): $.workflow.transitions[1].to: unknown state 'done'" in e.value.errors
    assert "template 3 (kitchen-sink): $.key: the key 'kitchen-sink' is already used by template 1" in e.value.errors
    with pytest.raises(sio.ImportFailed) as e:
        sio.read_pack(b'{"templates": [}')
    assert e.value.errors[0].startswith("not valid JSON: line 1 column 16")


# --- through the pages ---------------------------------------------------------------------------------------


def upload(client, url: str, data: bytes, filename: str, **fields):
    token = csrf_from(client.get(url).get_data(as_text=True))
    return client.post(url, data={"csrf_token": token, "file": (io.BytesIO(data), filename), **fields},
                       content_type="multipart/form-data")


def test_import_excel_through_the_page(app, world, client_for):
    c = client_for("consultant")
    rows = copy.deepcopy(GOOD)
    rows[2][3] = "datum"
    resp = upload(c, "/studio/o/acme/import", workbook(rows, META), "forms.xlsx", kind="excel")
    assert resp.status_code == 422
    assert "第 3 行，type 列：未知类型“datum”" in resp.get_data(as_text=True)  # in the UI language (#17.5)
    assert counts(app) == (0, 0)  # nothing created
    resp = upload(c, "/studio/o/acme/import", workbook(GOOD, META), "forms.xlsx", kind="excel")
    assert resp.status_code == 303 and "/studio/o/acme/d/" in resp.headers["Location"]
    assert counts(app) == (1, 0)
    html = c.get(resp.headers["Location"]).get_data(as_text=True)
    assert "叉车日常点检" in html and 'id="f-items"' in html  # the builder, with the form previewed


def test_import_excel_and_publish(app, world, client_for):
    resp = upload(client_for("consultant"), "/studio/o/acme/import", workbook(GOOD, META), "forms.xlsx", kind="excel",
                  publish="1")
    assert resp.status_code == 303 and resp.headers["Location"].endswith("/studio/o/acme/t/forklift-daily-check")
    assert counts(app) == (0, 1)


def test_import_pack_through_the_page(app, world, client_for):
    c = client_for("consultant")
    a, b = load_fixture("kitchen-sink.json"), load_file(LIBRARY_DIR / "internal-audit.json")
    bad = copy.deepcopy(b)
    del bad["schema"]["properties"]["audit_date"]["label"]
    resp = upload(c, "/studio/mine/import", sio.dumps_pack([a, bad]), "pack.json")
    assert resp.status_code == 422
    assert "模板 2 (internal-audit): $.schema.properties.audit_date: &#39;label&#39; is a required property" in \
        resp.get_data(as_text=True)
    assert counts(app) == (0, 0)
    resp = upload(c, "/studio/mine/import", sio.dumps_pack([a, b]), "pack.json")
    assert resp.status_code == 303
    with Session(app.extensions["workbench.engine"]) as s:
        drafts = s.exec(select(StudioDraft)).all()
        assert sorted(d.key for d in drafts) == ["internal-audit", "kitchen-sink"]
        assert {d.owner_user_id for d in drafts} == {world.users["consultant"].id}
    resp = upload(c, "/studio/mine/import", sio.dumps_pack([a]), "pack.json")  # a draft of it exists already
    assert resp.status_code == 422 and counts(app) == (2, 0)


def test_example_workbook_is_made_on_request_and_imports(app, world, client_for):
    c = client_for("consultant")
    resp = c.get("/studio/example.xlsx")
    assert resp.status_code == 200 and resp.mimetype.endswith("spreadsheetml.sheet")
    wb = load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["fields", "template", "types"]
    assert [c.value for c in wb["fields"][1]] == HEADER + ["show_if"]
    assert validate_template(sio.read_workbook(resp.data)) == []
    assert client_for("member").get("/studio/example.xlsx").status_code == 404


def test_template_as_excel(app, db, world, client_for):
    from workbench import library

    library.install_shipped(db)
    tpl = library.latest_shipped(db)["internal-audit"]
    resp = client_for("consultant").get(f"/studio/t/{tpl.id}/fields.xlsx")
    assert resp.status_code == 200
    t = sio.read_workbook(resp.data)  # every shipped template survives the sheet (without the finer rules)
    assert validate_template(t) == [] and list(t["schema"]["properties"]) == list(tpl.body["schema"]["properties"])
