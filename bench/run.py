"""ProcessBench benchmarks: prints figures, asserts nothing. Run with `make bench`.

Measures, on a throw-away SQLite database:
- form generation (schema -> widgets -> HTML) and form post handling (parse + validate) per template;
- records created per second through the service layer (revision + chained event);
- event-chain verification speed;
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


if __name__ == "__main__":
    main()
