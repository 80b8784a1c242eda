"""The REST API /api/v1 (issue #14 part 2): tokens, records over the record services, problem+json, OpenAPI."""
from __future__ import annotations

import hashlib
from collections import Counter
from datetime import timedelta

import pytest
from sqlmodel import select

from tests.conftest import load_fixture, login
from workbench.api import tokens
from workbench.api.models import ApiToken
from workbench.audit.models import Engagement
from workbench.models import Attachment, Event, utcnow

KS = load_fixture("kitchen-sink.json")
GOOD = {"batch_no": "B-1", "inspected_on": "2026-03-05", "result": "pass", "quantity": 3}
BASE = "/api/v1/o/acme"


@pytest.fixture
def api(app, world, db):
    """A test client and `token(persona, scopes)` -> Authorization headers."""
    world.add_template(KS, world.acme)

    def token(persona: str, scopes: str = "read,write", org=None, **kw) -> dict:
        with app.app_context():
            _row, clear = tokens.create(db, world.users[persona], org or world.acme, scopes, **kw)
            db.commit()
        return {"Authorization": f"Bearer {clear}"}

    client = app.test_client()
    client.token = token
    return client


def _problem(resp, status: int) -> dict:
    assert resp.status_code == status, resp.get_data(as_text=True)[:500]
    assert resp.mimetype == "application/problem+json"
    body = resp.get_json(force=True)
    assert body["status"] == status and body["title"]
    return body


def test_cli_token_is_printed_once_and_stored_hashed(app, world, db, api):
    out = app.test_cli_runner().invoke(args=["token", "create", "--user", "member@acme.test", "--org", "acme",
                                             "--scopes", "read,write", "--days", "7"])
    assert out.exit_code == 0, out.output
    clear = out.stdout.strip().splitlines()[0]
    assert clear.startswith("pbt_")
    row = db.exec(select(ApiToken)).one()
    assert row.token_hash == hashlib.sha256(clear.encode()).hexdigest() and clear.startswith(row.prefix)
    assert clear not in repr(row.model_dump()), "the clear token is never stored"
    assert row.scopes == ["read", "write"] and row.expires_at is not None
    h = {"Authorization": f"Bearer {clear}"}
    assert api.get(f"{BASE}/processes", headers=h).status_code == 200
    db.refresh(row)
    assert row.last_used_at is not None
    assert app.test_cli_runner().invoke(args=["token", "revoke", str(row.id)]).exit_code == 0
    _problem(api.get(f"{BASE}/processes", headers=h), 401)
    bad = app.test_cli_runner().invoke(args=["token", "create", "--user", "member@acme.test", "--org", "acme",
                                             "--scopes", "root"])
    assert bad.exit_code != 0


def test_expired_revoked_wrong_org_wrong_scope(app, world, db, api):
    h = api.token("member", "read")
    assert api.get(f"{BASE}/processes", headers=h).status_code == 200
    resp = api.get(f"{BASE}/processes")
    _problem(resp, 401)
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    _problem(api.get(f"{BASE}/processes", headers={"Authorization": "Bearer pbt_nope"}), 401)
    _problem(api.get(f"{BASE}/processes", headers={"Authorization": "Basic " + "x" * 5000}), 401)
    _problem(api.get("/api/v1/o/other/processes", headers=h), 404)  # a token names one organization
    _problem(api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": GOOD}, headers=h), 403)  # read only
    # expired
    row = db.exec(select(ApiToken)).one()
    row.expires_at = utcnow() - timedelta(seconds=1)
    db.add(row)
    db.commit()
    _problem(api.get(f"{BASE}/processes", headers=h), 401)
    # revoked (through the service, as the account page does)
    h2 = api.token("member", "read")
    row2 = db.exec(select(ApiToken).order_by(ApiToken.id.desc())).first()
    with app.app_context():
        tokens.revoke(db, world.users["member"], row2.id)
        db.commit()
    _problem(api.get(f"{BASE}/processes", headers=h2), 401)
    # a membership that ended ends the token's access too (the same rules as the UI)
    outsider_in_acme = api.token("outsider", "read", org=world.other)
    _problem(api.get(f"{BASE}/processes", headers=outsider_in_acme), 404)


def test_session_cookie_is_not_accepted(app, world, api):
    c = app.test_client()
    assert login(c, world.users["member"].email).status_code == 302
    _problem(c.get(f"{BASE}/processes"), 401)
    assert "Access-Control-Allow-Origin" not in c.get(f"{BASE}/processes", headers={"Origin": "https://x"}).headers


def test_create_list_edit_transition_events(app, world, db, api):
    w = api.token("member", "read,write")
    procs = api.get(f"{BASE}/processes", headers=w).get_json()["items"]
    assert procs[0]["key"] == "kitchen-sink" and procs[0]["schema"]["required"]
    resp = api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": GOOD}, headers=w)
    assert resp.status_code == 201, resp.get_data(as_text=True)
    rec = resp.get_json()
    assert rec["revision"] == 1 and rec["state"] == "draft" and rec["data"]["batch_no"] == "B-1"
    rid = rec["id"]
    page = api.get(f"{BASE}/processes/kitchen-sink/records?state=draft&per_page=10", headers=w).get_json()
    assert page["total"] == 1 and page["items"][0]["id"] == rid
    assert api.get(f"{BASE}/processes/kitchen-sink/records?state=released", headers=w).get_json()["total"] == 0
    got = api.get(f"{BASE}/records/{rid}", headers=w)
    assert got.headers["ETag"] == '"1"'
    # edit with If-Match
    edit = api.put(f"{BASE}/records/{rid}", json={"data": {**GOOD, "quantity": 4}}, headers={**w, "If-Match": '"1"'})
    assert edit.status_code == 200, edit.get_data(as_text=True)
    assert edit.get_json()["revision"] == 2 and edit.headers["ETag"] == '"2"'
    # a stale revision: 409, nothing stored
    stale = _problem(api.put(f"{BASE}/records/{rid}", json={"data": {**GOOD, "quantity": 9}},
                             headers={**w, "If-Match": "1"}), 409)
    assert stale["detail"]
    assert api.get(f"{BASE}/records/{rid}", headers=w).get_json()["data"]["quantity"] == 4
    _problem(api.put(f"{BASE}/records/{rid}", json={"data": GOOD}, headers=w), 428)
    _problem(api.put(f"{BASE}/records/{rid}", json={"data": GOOD}, headers={**w, "If-Match": "abc"}), 400)
    # transition
    tr = api.post(f"{BASE}/records/{rid}/transitions", json={"name": "submit"}, headers=w)
    assert tr.status_code == 200, tr.get_data(as_text=True)
    assert tr.get_json()["state"] == "submitted"
    _problem(api.post(f"{BASE}/records/{rid}/transitions", json={"name": "submit"}, headers=w), 422)
    # events of the record, and the chain segment (audit-read) with hashes that link
    evs = api.get(f"{BASE}/records/{rid}/events", headers=w).get_json()["items"]
    assert [e["action"] for e in evs][:1] == ["create"] and len(evs) == 3
    _problem(api.get(f"{BASE}/events", headers=w), 403)  # no audit-read scope
    m = api.token("manager", "audit-read")
    chain = api.get(f"{BASE}/events?from=1&limit=50", headers=m).get_json()["items"]
    assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
    assert all(b["prev_hash"] == a["hash"] for a, b in zip(chain, chain[1:]))


def test_record_list_takes_the_ui_lists_filters(app, world, db, api, client_for):
    """The API's list is the UI's `listing.ListQuery`: text search, state, creator, record-date range, field
    filters (choice, boolean, date range), sort and direction give the same records in both."""
    import re

    w, m = api.token("member", "read,write"), api.token("manager", "read,write")
    made = {}
    for name, data, h in (("a", {**GOOD, "batch_no": "ALPHA-1", "inspected_on": "2026-01-10", "first_article": True,
                                 "shift": "day"}, w),
                          ("b", {**GOOD, "batch_no": "BETA-2", "inspected_on": "2026-02-10", "shift": "night"}, w),
                          ("c", {**GOOD, "batch_no": "GAMMA-3", "inspected_on": "2026-03-10", "shift": "day"}, m)):
        resp = api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": data}, headers=h)
        assert resp.status_code == 201, resp.get_data(as_text=True)
        made[name] = resp.get_json()["id"]
    api.post(f"{BASE}/records/{made['c']}/transitions", json={"name": "submit"}, headers=m)
    a, b, c = made["a"], made["b"], made["c"]
    ui = client_for("member")
    cases = {"q=BETA": [b], "state=submitted": [c], f"by={world.users['manager'].id}": [c],
             "from=2026-02-01&to=2026-03-31&sort=date&dir=asc": [b, c], "f.shift=night": [b],
             "f.first_article=true": [a], "f.inspected_on.from=2026-01-01&f.inspected_on.to=2026-02-28&dir=asc": [a, b],
             "sort=batch_no&dir=asc": [a, b, c], "sort=batch_no&dir=desc": [c, b, a]}
    for query, want in cases.items():
        got = api.get(f"{BASE}/processes/kitchen-sink/records?{query}", headers=w).get_json()
        assert [r["id"] for r in got["items"]] == want and got["total"] == len(want), (query, got)
        page = ui.get(f"/o/acme/p/kitchen-sink/?{query}").get_data(as_text=True)
        shown = list(dict.fromkeys(int(i) for i in re.findall(r'href="/o/acme/r/(\d+)"', page)))
        assert shown == want, (query, shown)


def test_upload_and_download(app, world, db, api):
    w = api.token("member", "read,write")
    rid = api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": GOOD}, headers=w).get_json()["id"]
    pdf = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    import io
    up = api.post(f"{BASE}/records/{rid}/attachments/certificate", headers={**w, "If-Match": "1"},
                  data={"file": (io.BytesIO(pdf), "cert.pdf")}, content_type="multipart/form-data")
    assert up.status_code == 200, up.get_data(as_text=True)
    assert up.get_json()["revision"] == 2
    att = db.exec(select(Attachment).where(Attachment.record_id == rid)).one()
    down = api.get(f"{BASE}/attachments/{att.id}", headers=w)
    assert down.status_code == 200 and down.data == pdf
    _problem(api.get(f"{BASE}/attachments/{att.id}", headers=api.token("outsider", "read", org=world.other)), 404)
    _problem(api.post(f"{BASE}/records/{rid}/attachments/batch_no", headers={**w, "If-Match": "2"},
                      data={"file": (io.BytesIO(pdf), "x.pdf")}, content_type="multipart/form-data"), 404)


def test_chinese_attachment_names_download_with_rfc_5987_names_in_api_and_ui(app, world, db, api, client_for):
    """Werkzeug's send_file writes the Content-Disposition: an ASCII fallback plus filename*=UTF-8''…, which an
    RFC 6266 parser (filename* first) decodes back to the stored name, in the API and in the web application."""
    import io

    from werkzeug.http import parse_options_header

    w = api.token("member", "read,write")
    rid = api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": GOOD}, headers=w).get_json()["id"]
    pdf = b"%PDF-1.4\n%\xe2\xe3\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"
    name = "校准证书 2026年 (第1版);v2.pdf"
    up = api.post(f"{BASE}/records/{rid}/attachments/certificate", headers={**w, "If-Match": "1"},
                  data={"file": (io.BytesIO(pdf), name)}, content_type="multipart/form-data")
    assert up.status_code == 200, up.get_data(as_text=True)
    att = db.exec(select(Attachment).where(Attachment.record_id == rid)).one()
    assert att.filename == name
    for resp in (api.get(f"{BASE}/attachments/{att.id}", headers=w),
                 client_for("member").get(f"/o/acme/attachments/{att.id}")):
        assert resp.status_code == 200 and resp.data == pdf
        cd = resp.headers["Content-Disposition"]
        assert cd.startswith("attachment;") and "filename*=UTF-8''" in cd and cd.isascii(), cd
        assert parse_options_header(cd) == ("attachment", {"filename": name}), cd
    assert api.get(f"{BASE}/attachments/{att.id}", headers=w).headers["Digest"] == f"sha-256={att.sha256}"


def test_invalid_input_is_a_problem_with_field_paths_in_zh_and_en(app, world, api):
    w = api.token("member", "read,write")
    url = f"{BASE}/processes/kitchen-sink/records"
    en = _problem(api.post(url, json={"data": {"quantity": "many"}}, headers={**w, "Accept-Language": "en"}), 422)
    zh = _problem(api.post(url, json={"data": {"quantity": "many"}}, headers={**w, "Accept-Language": "zh-CN"}), 422)
    fields = {e["field"] for e in en["errors"]}
    assert {"batch_no", "quantity"} <= fields
    assert en["errors"] != zh["errors"] and en["title"] == "Invalid input"
    # malformed or wrongly shaped input is never a 500
    for body in ("not json", "[1,2]", '{"data": []}', '{"data": {"items": "x", "tags": {"a": 1}}}',
                 '{"data": {"items": [1, "x", null]}}', '{"data": {"defects": {"deep": [[[]]]}}}'):
        resp = api.post(url, data=body, content_type="application/json", headers=w)
        assert resp.status_code in (400, 422), (body, resp.status_code)
        assert resp.mimetype == "application/problem+json"
    _problem(api.get(f"{BASE}/processes/nope/records", headers=w), 404)
    _problem(api.get(f"{BASE}/records/999999", headers=w), 404)
    _problem(api.get(f"{BASE}/processes/kitchen-sink/records?per_page=100000", headers=w), 422)
    _problem(api.get(f"{BASE}/processes/kitchen-sink/records?from=yesterday", headers=w), 422)


def test_a_transition_that_signs_is_refused_over_the_api(app, world, db, api):
    w = api.token("member", "read,write")
    m = api.token("manager", "read,write")
    rid = api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": {**GOOD, "release_by": "质检员"}},
                   headers=w).get_json()["id"]
    assert api.post(f"{BASE}/records/{rid}/transitions", json={"name": "submit"}, headers=w).status_code == 200
    before = db.exec(select(Event).where(Event.record_id == rid)).all()
    body = _problem(api.post(f"{BASE}/records/{rid}/transitions", json={"name": "release", "password": "x"},
                             headers=m), 403)
    assert body["errors"][0]["field"] == "name"
    db.expire_all()
    assert len(db.exec(select(Event).where(Event.record_id == rid)).all()) == len(before)
    assert api.get(f"{BASE}/records/{rid}", headers=m).get_json()["state"] == "submitted"


def test_auditor_reads_in_scope_and_window_only(app, world, db, api):
    w = api.token("member", "read,write")
    rid = api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": GOOD}, headers=w).get_json()["id"]
    world.open_engagement_for_auditor()
    a = api.token("auditor", "read,write,audit-read")
    assert api.get(f"{BASE}/records/{rid}", headers=a).status_code == 200
    assert api.get(f"{BASE}/audit/engagements", headers=a).get_json()["items"][0]["title"] == "fixture audit"
    # a sample (algorithm 2: its frame is named by its digest, the drawn records are listed)
    from workbench.audit import sampling
    eng = db.exec(select(Engagement)).one()
    with app.test_request_context("/"):
        smp = sampling.create_sample(db, eng, {"start": None, "end": None, "process": None, "state": None},
                                     sampling.make_rule("fixed", n=1), 7, world.users["auditor"])
        db.commit()
    shown = api.get(f"{BASE}/audit/engagements", headers=a).get_json()["items"][0]["samples"][0]
    assert shown["algorithm"] == 2 and shown["frame_digest"] == smp.frame_digest and shown["drawn"] == [rid]
    assert "population_ids" not in shown and shown["digest"] == smp.digest
    assert api.get(f"{BASE}/events", headers=a).status_code == 200
    _problem(api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": GOOD}, headers=a), 403)
    _problem(api.put(f"{BASE}/records/{rid}", json={"data": GOOD}, headers={**a, "If-Match": "1"}), 403)
    _problem(api.post(f"{BASE}/records/{rid}/transitions", json={"name": "submit"}, headers=a), 403)
    # out of the engagement's scope: not even told the record exists
    e = db.exec(select(Engagement)).one()
    e.scope_processes = ["another-process"]
    db.add(e)
    db.commit()
    _problem(api.get(f"{BASE}/records/{rid}", headers=a), 404)
    assert api.get(f"{BASE}/processes", headers=a).get_json()["items"] == []
    # the access window closed: the token is worth nothing in this organization
    e.scope_processes, e.access_until = [], utcnow() - timedelta(minutes=1)
    db.add(e)
    db.commit()
    _problem(api.get(f"{BASE}/processes", headers=a), 404)
    _problem(api.get(f"{BASE}/audit/engagements", headers=a), 404)


def api_paths(app) -> set[str]:
    return {r.rule.removeprefix("/api/v1").replace("<int:", "{").replace("<", "{").replace(">", "}")
            for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/o/")}


def test_openapi_document_carries_each_process_schema(app, world, api):
    doc = api.get("/api/v1/openapi.json").get_json()
    assert doc["openapi"] == "3.1.0" and "/o/{org}/records/{record_id}" in doc["paths"]
    assert "Record_kitchen-sink" not in doc["components"]["schemas"]
    mine = api.get("/api/v1/openapi.json", headers=api.token("member", "read")).get_json()
    assert mine["components"]["schemas"]["Record_kitchen-sink"]["required"] == KS["schema"]["required"]
    # every API route is in the document
    assert api_paths(app) == set(doc["paths"])


def test_schemathesis_no_5xx_and_responses_conform(app, world, db, api):
    """Schemathesis against the live app (WSGI) with a read token and a write token: no 5xx, and every response
    conforms to the document (status codes, content types, bodies). Bounded: a few examples per operation."""
    import schemathesis
    from hypothesis import HealthCheck, given, settings
    from schemathesis.checks import not_a_server_error
    from schemathesis.specs.openapi.checks import (content_type_conformance, response_schema_conformance,
                                                   status_code_conformance)

    w = api.token("member", "read,write")
    rid = api.post(f"{BASE}/processes/kitchen-sink/records", json={"data": GOOD}, headers=w).get_json()["id"]
    world.open_engagement_for_auditor()
    tokens_ = {"read": api.token("auditor", "read,audit-read"), "write": w}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=w)
    checks = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
    ran, seen = 0, Counter()
    for result in schema.get_all_operations():
        op = result.ok()
        fixed = {k: v for k, v in {"org": "acme", "key": "kitchen-sink", "record_id": rid}.items()
                 if any(p.name == k for p in op.path_parameters)}
        for name, headers in tokens_.items():
            strategy = op.as_strategy(path_parameters=fixed)

            @settings(max_examples=6, deadline=None, database=None, derandomize=True,
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case):
                resp = case.call(headers=headers)
                seen[resp.status_code] += 1
                case.validate_response(resp, checks=checks, headers=headers)

            run()
            ran += 1
    assert ran == 2 * 11  # every operation of the document, with both tokens
    assert seen[200] and not any(code >= 500 for code in seen), seen


def test_account_page_creates_shows_once_and_revokes(app, world, db, client_for):
    from tests.conftest import csrf_from

    c = client_for("member")
    page = c.get("/account/tokens")
    assert page.status_code == 200
    resp = c.post("/account/tokens", data={"csrf_token": csrf_from(page.get_data(as_text=True)), "org": "acme",
                                           "scopes": ["read", "write"], "days": "30", "name": "ERP"})
    assert resp.status_code == 200
    html = resp.get_data(as_text=True)
    clear = html.split('id="new-token">')[1].split("<")[0]
    assert clear.startswith("pbt_")
    assert clear not in c.get("/account/tokens").get_data(as_text=True), "shown once"
    h = {"Authorization": f"Bearer {clear}"}
    assert app.test_client().get(f"{BASE}/processes", headers=h).status_code == 200
    row = db.exec(select(ApiToken)).one()
    page = c.get("/account/tokens").get_data(as_text=True)
    # another user cannot revoke it; a token for an organization one is not in cannot be made
    other = client_for("manager")
    opage = other.get("/account/tokens").get_data(as_text=True)
    assert other.post("/account/tokens", data={"csrf_token": csrf_from(opage), "revoke": str(row.id)}).status_code == 404
    assert other.post("/account/tokens", data={"csrf_token": csrf_from(opage), "org": "other",
                                               "scopes": "read"}).status_code == 422
    assert app.test_client().get(f"{BASE}/processes", headers=h).status_code == 200
    assert c.post("/account/tokens", data={"csrf_token": csrf_from(page), "revoke": str(row.id)}).status_code == 200
    assert app.test_client().get(f"{BASE}/processes", headers=h).status_code == 401


def test_rate_limited_with_a_problem(app, world, api):
    h = api.token("member", "read")
    app.config["API_RATE_LIMIT"] = "3/minute"
    codes = [api.get(f"{BASE}/processes", headers=h).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    _problem(api.get(f"{BASE}/processes", headers=h), 429)


def test_problems_speak_chinese_by_default_and_english_on_request(app, world, api):
    assert _problem(api.get(f"{BASE}/processes"), 401)["title"] == "需要身份验证"
    assert _problem(api.get(f"{BASE}/processes", headers={"Accept-Language": "en"}), 401)["title"] == \
        "Authentication required"


def test_readme_curl_example_runs_as_written(app, world, db, api, tmp_path):
    """The README's curl lines, replayed with the test client against a process of the shipped library: each
    answers 2xx (the create with the template's first example as complaint.json, the edit on that record)."""
    import re
    import shlex
    from pathlib import Path

    from workbench.templates import shipped_library

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    block = readme.split("## REST API", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [shlex.split(c.replace("\\\n", " ")) for c in re.findall(r"^curl .*?(?<!\\)$", block, re.M | re.S)]
    assert len(commands) >= 3
    tpl = shipped_library()["customer-complaint"]
    world.add_template(tpl, world.acme)
    h = api.token("member", "read,write")
    complaint = {"data": tpl["examples"][0]}
    made = None
    for argv in commands:
        method, headers, body, url = "GET", {}, None, None
        it = iter(argv[1:])
        for a in it:
            if a == "-X":
                method = next(it)
            elif a == "-H":
                k, _c, v = next(it).partition(":")
                headers[k.strip()] = v.strip()
            elif a == "-d":
                assert next(it) == "@complaint.json"
                body = complaint
            else:
                url = a.removeprefix("http://localhost:5000")
        assert headers.pop("Authorization") == "Bearer $TOKEN"
        if made is not None:
            url = re.sub(r"/records/\d+$", f"/records/{made}", url)
        resp = api.open(url, method=method, headers={**headers, **h}, json=body)
        assert 200 <= resp.status_code < 300, (argv, resp.status_code, resp.get_data(as_text=True)[:300])
        if method == "POST":
            made = resp.get_json()["id"]
    assert made is not None
