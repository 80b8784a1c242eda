"""The same code on PostgreSQL: a throw-away cluster (Debian's server binaries, unix socket in a temp dir)
runs migrations, the record/revision/chain flow through the web, tenancy, and concurrent chain appends
from several threads (as several gunicorn workers would)."""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlmodel import Session, select

from tests.conftest import World, csrf_from, load_fixture, login
from workbench import create_app, records, trail
from workbench.models import Event, Record

pytestmark = pytest.mark.postgres
BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
KS = load_fixture("kitchen-sink.json")


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


@pytest.fixture(scope="module")
def pg_url():
    if not BIN:
        pytest.fail("PostgreSQL server binaries are missing: run `make test` (it installs them)")
    bindir = BIN[-1]
    base = Path(tempfile.mkdtemp(prefix="pgtest-"))
    os.chmod(base, 0o777)
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_postgres([f"{bindir}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                 "--locale=C"]), check=True, capture_output=True)
    subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-w", "-l", str(base / "log"), "-o",
                                 f"-k {base} -p {port} -c listen_addresses=''", "start"]), check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@/postgres?host={base}&port={port}"
    finally:
        subprocess.run(_as_postgres([f"{bindir}/pg_ctl", "-D", str(data), "-m", "immediate", "stop"]), capture_output=True)
        shutil.rmtree(base, ignore_errors=True)


def empty_schema(url: str) -> None:
    """The module's cluster is shared: start from an empty public schema."""
    from workbench.db import make_engine

    admin = make_engine(url)
    with admin.connect() as conn:
        conn.execute(text("COMMIT"))
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
        conn.commit()
    admin.dispose()


@pytest.fixture
def pg_app(pg_url):
    empty_schema(pg_url)
    app = create_app({"DATABASE_URL": pg_url, "SECRET_KEY": "pg", "TESTING": True, "SESSION_COOKIE_SECURE": False})
    yield app
    app.extensions["workbench.engine"].dispose()


@pytest.fixture
def pg_world(pg_app):
    with Session(pg_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        w = World(db)
        w.add_template(KS, w.acme)
        yield w


def test_web_flow_on_postgres(pg_app, pg_world):
    c = pg_app.test_client()
    assert login(c, pg_world.users["member"].email).status_code == 302
    token = csrf_from(c.get("/o/acme/p/kitchen-sink/new").get_data(as_text=True))
    r = c.post("/o/acme/p/kitchen-sink/new", data={"csrf_token": token, "batch_no": "PG-1", "inspected_on": "2026-02-28",
                                                  "result": "fail", "nc_description": "毛刺", "quantity": "3",
                                                  "started_at": "2026-02-28T08:30"})
    assert r.status_code == 303, r.get_data(as_text=True)[:300]
    rid = int(r.headers["Location"].rstrip("/").rsplit("/", 1)[-1])
    r = c.post(f"/o/acme/r/{rid}/edit", data={"csrf_token": token, "batch_no": "PG-1", "inspected_on": "2026-02-28",
                                             "result": "pass", "quantity": "4", "_comment": "复检合格"})
    assert r.status_code == 303
    page = c.get(f"/o/acme/r/{rid}").get_data(as_text=True)
    assert "事件链已验证" in page and "PG-1" in page
    assert c.get("/o/acme/p/kitchen-sink/?sort=title&dir=asc&from=2026-01-01").status_code == 200
    outsider = pg_app.test_client()
    login(outsider, pg_world.users["outsider"].email)
    assert outsider.get(f"/o/acme/r/{rid}").status_code == 404
    with Session(pg_app.extensions["workbench.engine"]) as db:
        rec = db.get(Record, rid)
        first = records.revisions(db, rec)[0]
        assert first.data["started_at"] == "2026-02-28T08:30:00+08:00" and rec.revision == 2
        assert rec.data["result"] == "pass" and "started_at" not in rec.data
        assert trail.verify(db, pg_world.acme.id).ok
        db.execute(text("UPDATE revision SET data = '{\"batch_no\": \"X\"}' WHERE record_id = :r AND number = 1"), {"r": rid})
        db.commit()
        assert not trail.verify(db, pg_world.acme.id).ok


def test_concurrent_appends_keep_one_chain(pg_app, pg_world):
    """Eight threads creating records at once: every create succeeds and the chain stays linear."""
    engine = pg_app.extensions["workbench.engine"]
    errors: list[BaseException] = []

    def work(i):
        try:
            with pg_app.app_context(), Session(engine, expire_on_commit=False) as db:
                from workbench import library

                tpl = library.adopted(db, pg_world.acme, "kitchen-sink")
                for j in range(5):
                    records.create(db, pg_world.acme, tpl, {"batch_no": f"T{i}-{j}", "inspected_on": "2026-01-01",
                                                            "result": "pass", "quantity": 1}, pg_world.users["member"])
                    db.commit()
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with Session(engine) as db:
        seqs = [e.seq for e in db.exec(select(Event).where(Event.org_id == pg_world.acme.id).order_by(Event.seq)).all()]
        assert seqs == list(range(1, 41))
        assert trail.verify(db, pg_world.acme.id).ok
