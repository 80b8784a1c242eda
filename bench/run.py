"""ProcessBench benchmarks: prints figures, asserts nothing. Run with `make bench`.

Measures, on a throw-away SQLite database:
- form generation (schema -> widgets -> HTML) and form post handling (parse + validate) per template;
- records created per second through the service layer (revision + chained event);
- event-chain verification speed, and `trail verify` of a large organization (default 100,000 records,
  BENCH_VERIFY_RECORDS to change) in a child process: events/s and the child's peak RSS;
- page latency of the main pages through the WSGI app (no network);
- demo seeding time.
"""
from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from werkzeug.datastructures import MultiDict  # noqa: E402

import forms  # noqa: E402
from workbench import create_app, records, trail  # noqa: E402
from workbench.templates import shipped_library  # noqa: E402


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return out


def ms(xs: list[float]) -> str:
    return f"median {statistics.median(xs) * 1000:.2f} ms, p95 {sorted(xs)[int(len(xs) * 0.95) - 1] * 1000:.2f} ms"


def main() -> None:
    lib = shipped_library()
    print(f"templates in the library: {len(lib)}")
    tmp = Path(tempfile.mkdtemp())
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}", "SECRET_KEY": "bench",
                      "SESSION_COOKIE_SECURE": False, "WTF_CSRF_ENABLED": False})

    with app.test_request_context("/"):
        from flask import render_template_string

        page = '{% import "forms/widgets.html" as fw %}{{ fw.render_sections(s) }}'
        render, post = [], []
        for t in lib.values():
            example = (t.get("examples") or [{}])[0]
            values = forms.flatten(t["schema"], example)
            render += timed(lambda: render_template_string(page, s=forms.build_form(t["schema"], t.get("ui"), values, {}, "zh")), 20)
            post += timed(lambda: forms.validate(t["schema"], forms.parse(t["schema"], MultiDict(values))[0], "zh"), 20)
        print(f"form render (schema -> HTML), per form: {ms(render)}")
        print(f"form post (parse + validate), per post: {ms(post)}")

    with app.app_context():
        from workbench.db import get_session
        from workbench.demo import seed

        t0 = time.perf_counter()
        report = seed()
        seconds = time.perf_counter() - t0
        print(f"demo seed: {report.records} records in {seconds:.1f} s ({report.records / seconds:.0f} records/s incl. workflow)")

        from sqlmodel import select

        from workbench import library
        from workbench.models import Organization, User

        db = get_session()
        org = db.exec(select(Organization).where(Organization.slug == "demo")).one()
        user = db.exec(select(User).where(User.email == "member@demo.example")).one()
        tpl = library.adopted(db, org, "production-inspection") or library.processes(db, org)[0]
        example = tpl.body["examples"][0]
        n = 300
        t0 = time.perf_counter()
        for i in range(n):
            records.create(db, org, tpl, example, user)
            db.commit()
        seconds = time.perf_counter() - t0
        print(f"record create (revision + chained event, one commit each): {n / seconds:.0f} records/s")

        events = trail.count_events(db, org.id)
        t0 = time.perf_counter()
        result = trail.verify(db, org.id)
        seconds = time.perf_counter() - t0
        print(f"trail verify: {events} events in {seconds * 1000:.0f} ms ({events / seconds:.0f} events/s), ok={result.ok}")

    client = app.test_client()
    client.post("/login", data={"email": "manager@demo.example", "password": "demo123456"})
    for url in ("/o/demo/", "/o/demo/p/production-inspection/", "/o/demo/p/production-inspection/new", "/o/demo/r/1"):
        xs = timed(lambda: client.get(url), 20)
        print(f"GET {url}: {ms(xs)}")
    big_verify(tmp)


def big_verify(tmp: Path) -> None:
    """Build an organization of n records (bulk, valid chain) and time `trail verify` in a fresh process."""
    import os
    import subprocess

    from sqlmodel import Session

    from bench.chain_data import synthetic_records
    from workbench.models import Organization, ProcessTemplate, User

    n = int(os.environ.get("BENCH_VERIFY_RECORDS", "100000"))
    url = f"sqlite:///{tmp / 'big.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with Session(app.extensions["workbench.engine"], expire_on_commit=False) as db:
        org = Organization(slug="big", name="big")
        user = User(email="bench@example.test", name="bench", password_hash="x")
        db.add(org)
        db.add(user)
        db.commit()
        body = shipped_library()["production-inspection"]
        tpl = ProcessTemplate(org_id=None, key=body["key"], version=body["version"], body=body)
        db.add(tpl)
        db.commit()
        t0 = time.perf_counter()
        synthetic_records(db, org, tpl, n, user)
        print(f"bulk history for the verify benchmark: {n} records in {time.perf_counter() - t0:.0f} s")
    child = (
        "import resource, sys, time\n"
        "from workbench import create_app, trail\n"
        "app = create_app({'DATABASE_URL': sys.argv[1], 'SECRET_KEY': 'bench'})\n"
        "with app.app_context(), trail.snapshot(app.extensions['workbench.engine']) as s:\n"
        "    t0 = time.perf_counter(); v = trail.verify(s, 1); dt = time.perf_counter() - t0\n"
        "print(v.events, dt, v.ok, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", child, url], capture_output=True, text=True, check=True,
                         cwd=str(Path(__file__).resolve().parent.parent)).stdout.split()
    events, seconds, ok, rss_kb = int(out[0]), float(out[1]), out[2], int(out[3])
    print(f"trail verify, {n} records: {events} events in {seconds:.1f} s ({events / seconds:.0f} events/s), "
          f"peak RSS {rss_kb / 1024:.0f} MB, ok={ok}")


if __name__ == "__main__":
    if "--records" in sys.argv:  # scale mode (issue #11): bench/scale.py
        from bench import scale

        scale.main(int(sys.argv[sys.argv.index("--records") + 1]))
    elif "--http" in sys.argv:  # throughput under gunicorn against hello-world (issue #11): bench/throughput.py
        from bench import throughput

        throughput.main()
    elif "--create" in sys.argv:  # record creation against its floor only (issue #11): bench/scale.py
        from bench import scale

        scale.create_only()
    else:
        main()
