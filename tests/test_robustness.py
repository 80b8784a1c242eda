"""Nothing a user can type causes a 500: junk form posts, row actions and list filters."""
from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
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
