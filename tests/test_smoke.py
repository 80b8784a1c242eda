from tests.conftest import csrf_from, load_fixture


def test_new_record_roundtrip(app, world, client_for):
    world.add_template(load_fixture("kitchen-sink.json"))
    c = client_for("member")
    page = c.get("/o/acme/p/kitchen-sink/new")
    assert page.status_code == 200, page.get_data(as_text=True)
    html = page.get_data(as_text=True)
    token = csrf_from(html)
    assert "批号" in html
    resp = c.post("/o/acme/p/kitchen-sink/new", data={"csrf_token": token, "batch_no": "B1", "inspected_on": "2026-01-02",
                                                     "result": "pass", "quantity": "5", "_action": "save"})
    assert resp.status_code == 303, resp.get_data(as_text=True)
    detail = c.get(resp.headers["Location"])
    assert detail.status_code == 200
    assert "B1" in detail.get_data(as_text=True)
