"""Nothing a user can type causes a 500: junk form posts, row actions and list filters."""
from __future__ import annotations

import io

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import select
from werkzeug.datastructures import MultiDict

from tests.conftest import csrf_from, load_fixture

KS = load_fixture("kitchen-sink.json")
KEYS = ["batch_no", "inspected_on", "started_at", "quantity", "temperature", "first_article", "result", "defects",
        "items.__row", "items.0.item", "items.0.measured", "items.7.ok", "tags.__row", "tags.0", "supplier.name",
        "certificate", "release_by", "_action", "_comment", "nope", "items.x.item", "__row", "."]
JUNK = st.one_of(st.text(max_size=30), st.sampled_from(["", "0", "-1", "1e309", "nan", "true", "2026-02-30",
                                                         "9" * 40, "add:items", "remove:items.0", "add:", "remove:x",
                                                         "add:../../etc", "remove:items.99999999999999999999",
                                                         "<script>", "att:1/x.pdf", "\x00", "¹", "٣"]))


def test_junk_posts_never_crash(app, world, client_for):
    world.add_template(KS, world.acme)
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.tuples(st.sampled_from(KEYS), JUNK), max_size=12), st.booleans())
    def post(pairs, htmx):
        form = MultiDict([("csrf_token", token)] + [(k, v.replace("\x00", "")) for k, v in pairs])
        resp = c.post("/o/acme/p/kitchen-sink/new", data=form, headers={"HX-Request": "true"} if htmx else {})
        assert resp.status_code in (200, 303, 422), resp.status_code

    post()


def test_junk_query_strings_never_crash(app, world, client_for):
    world.add_template(KS, world.acme)
    c = client_for("member")

    @settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.dictionaries(st.sampled_from(["sort", "dir", "page", "state", "from", "to", "lang", "link.x"]),
                           JUNK.map(lambda s: s.replace("\x00", "")), max_size=5))
    def get(params):
        assert c.get("/o/acme/p/kitchen-sink/", query_string=params).status_code == 200
        assert c.get("/o/acme/p/kitchen-sink/new", query_string=params).status_code == 200

    get()
    for url in ("/o/acme/r/999999", "/o/acme/r/1/revisions/5", "/o/acme/p/nope/", "/o/nope/", "/o/acme/attachments/3"):
        assert c.get(url).status_code == 404


# --- issue #10 items 8–12: odd inputs, zero 500s ----------------------------------------------------------------

ODD_NUMBER = st.one_of(st.integers(min_value=2**63 - 3, max_value=10**40).map(str),
                       st.integers(min_value=-10**30, max_value=-1).map(str),
                       st.sampled_from(["9" * 5000, "-" + "9" * 4400, "1e309", "NaN", "Infinity", "-0", "0x10", "١٢",
                                        "9223372036854775807", "9223372036854775808", "18446744073709551616", " 7 ", ""]))
BIDI = st.sampled_from(["\u202e", "\u202d", "\u2066", "\u2067", "\u2068", "\u2069", "\u200e", "\u200f", "\u061c"])


def test_odd_ids_in_paths_and_fields_never_crash(app, db, world, client_for):
    world.add_template(KS, world.acme)
    member, manager, auditor = client_for("member"), client_for("manager"), client_for("auditor")
    tok = {c: csrf_from(c.get("/account/password").get_data(as_text=True)) for c in (member, manager, auditor)}

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(ODD_NUMBER)
    def probe(n):
        n = n.replace("\x00", "")
        seg = n.strip() or "0"
        for c, url in [(member, f"/o/acme/r/{seg}"), (member, f"/o/acme/r/{seg}/edit"), (member, f"/o/acme/attachments/{seg}"),
                       (member, f"/o/acme/r/1/revisions/{seg}"), (auditor, f"/o/acme/audit/e/{seg}/"),
                       (auditor, f"/o/acme/audit/e/1/r/{seg}"), (member, f"/studio/t/{seg}"),
                       (member, f"/o/acme/p/kitchen-sink/?page={n}"), (member, f"/studio/export?t={n}&d={n}")]:
            assert c.get(url).status_code < 500, url
        for c, url, form in [(manager, "/o/acme/members", {"remove": n}), (manager, "/o/acme/members", {"cancel": n}),
                             (member, "/invitations", {"invitation": n, "decision": "accept"}),
                             (auditor, "/o/acme/audit/e/1/findings", {"grade": "minor", "standard": "ISO 9001:2015",
                                                                      "clause": "8.6", "statement": "x", "evidence": n,
                                                                      "sample": n, "record": n}),
                             (auditor, "/o/acme/audit/e/1/s/1/more", {"count": n}),
                             (manager, "/o/acme/audit/e/1/f/1/answer", {"record_id": n}),
                             (member, "/o/acme/p/kitchen-sink/new", {"batch_no": "B", "quantity": n, "temperature": n,
                                                                     "items.__row": n, f"items.{n}.item": "x"})]:
            resp = c.post(url, data=dict(form, csrf_token=tok[c]))
            assert resp.status_code < 500, (url, resp.status_code)

    probe()


def test_many_rows_never_crash(app, world, client_for):
    world.add_template(KS, world.acme)
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))

    @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(min_value=0, max_value=3000), st.integers(min_value=1, max_value=50), st.sampled_from(["", "add:items"]))
    def post(n, step, action):
        rows = [("items.__row", str(i % (n // step + 1))) for i in range(n)]
        form = MultiDict([("csrf_token", token), ("batch_no", "B"), ("_action", action)] + rows)
        assert c.post("/o/acme/p/kitchen-sink/new", data=form).status_code in (200, 303, 422)

    post()


def test_odd_json_never_crashes_the_studio(app, world, client_for):
    from tests.test_studio_views import add_draft, scrape

    draft_id = add_draft(app, KS, org=world.acme)
    c = client_for("consultant")
    form = scrape(c.get(f"/studio/o/acme/d/{draft_id}?tab=json").get_data(as_text=True))
    pack_token = csrf_from(c.get("/studio/mine/import").get_data(as_text=True))

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.one_of(st.integers(min_value=1, max_value=20000).map(lambda d: "[" * d + "]" * d),
                     st.integers(min_value=1, max_value=20000).map(lambda d: '{"a":' * d + "1" + "}" * d),
                     ODD_NUMBER.map(lambda n: '{"key": "kitchen-sink", "version": %s}' % (n or "1")),
                     st.sampled_from(['{"minimum": NaN}', "[Infinity]", "-Infinity", "1e999", '{"a": "\\ud800"}']),
                     st.text(max_size=50)))
    def post(text):
        text = text.replace("\x00", "")
        data = MultiDict(form)
        data.setlist("json", [text])
        assert c.post(f"/studio/o/acme/d/{draft_id}", data=data).status_code in (200, 303, 422)
        resp = c.post("/studio/mine/import", data={"csrf_token": pack_token, "file": (io.BytesIO(text.encode()), "p.json")},
                      content_type="multipart/form-data")
        assert resp.status_code in (200, 303, 422)

    post()


def test_odd_workbooks_never_crash_the_reader():
    from openpyxl import Workbook

    from workbench.studio import io as sio

    wb = Workbook()
    wb.active.append(["key", "label_zh", "label_en", "type"])
    wb.active.append(["a", "甲", "A", "text"])
    buf = io.BytesIO()
    wb.save(buf)
    good = buf.getvalue()

    @settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.integers(min_value=0, max_value=len(good) - 1), st.binary(min_size=1, max_size=8), st.booleans())
    def read(at, junk, cut):
        data = good[:at] if cut else good[:at] + junk + good[at + len(junk):]
        try:
            sio.read_workbook(data)
        except sio.ImportFailed:
            pass

    read()


def test_odd_attachment_names_never_crash(app, db, world, client_for):
    from workbench.models import Attachment

    world.add_template(KS, world.acme)
    c = client_for("member")
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    pdf = b"%PDF-1.4\n%%EOF\n"

    @settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(st.one_of(BIDI, st.text(max_size=40)), max_size=12).map("".join),
           st.integers(min_value=0, max_value=400), st.sampled_from([".pdf", ".PDF", ".exe", "", ".pdf\u202e"]))
    def post(name, pad, ext):
        filename = (name + "x" * pad + ext).replace("\x00", "")
        data = {"csrf_token": token, "batch_no": "B1", "inspected_on": "2026-01-05", "result": "pass", "quantity": "1",
                "certificate.__file": (io.BytesIO(pdf), filename)}
        resp = c.post("/o/acme/p/kitchen-sink/new", data=data, content_type="multipart/form-data")
        assert resp.status_code in (200, 303, 422), resp.status_code

    post()
    for att in db.exec(select(Attachment)).all():
        assert not any(ch in att.filename for ch in "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c")
        assert len(att.filename) <= 120 and att.filename.lower().endswith(".pdf")
