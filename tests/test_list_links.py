"""The record list builds its rows' record links from one url_for (#11): each row still links to exactly what
url_for('records.detail') gives."""
from __future__ import annotations

import re

import pytest
from flask import url_for

from tests.conftest import login
from workbench import records
from workbench.templates import shipped_library


@pytest.mark.parametrize("root", [""])
def test_row_links_are_url_for(app, db, world, root):
    lib = shipped_library()
    tpl = world.add_template(lib["production-inspection"], world.acme)
    ids = [records.create(db, world.acme, tpl, ex, world.users["member"]).id for ex in lib["production-inspection"]["examples"] * 3]
    db.commit()
    client = app.test_client()
    client.environ_base["SCRIPT_NAME"] = root
    assert login(client, world.users["member"].email).status_code == 302
    html = client.get("/o/acme/p/production-inspection/").get_data(as_text=True)
    with app.test_request_context(base_url=f"http://localhost{root}"):
        for rid in ids:
            want = url_for("records.detail", org="acme", record_id=rid)
            assert want.startswith(f"{root}/o/acme/r/")
            assert html.count(f'href="{want}"') == 2, rid  # the id and the title
    assert not re.search(r'href="[^"]*/r/0?"', html)
