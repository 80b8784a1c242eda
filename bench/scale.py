"""Scale benchmark (issue #11): an organization of N records, each operation's median and peak RSS next to a
reference measured in the same run (raw SQL for the same answer). Prints figures, asserts nothing.

    DATABASE_URL=sqlite:////tmp/scale.db .venv/bin/python bench/run.py --records 100000   (or make bench-scale N=...)

The database is created (demo seed: users, templates, an audit engagement with a sample and a nonconformity),
N records are added in bulk spread over the organization's processes (bench/chain_data.py: the same rows,
digests and hashes records.create writes), the chain is proved valid by the streaming verifier
(workbench/integrity.py), then every operation runs in a forked child so its peak RSS is its own. The database
is left in place afterwards (inspect it, or serve it with `workbench` and DATABASE_URL).
"""
from __future__ import annotations

import os
import resource
import statistics
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import text  # noqa: E402

REPEAT = int(os.environ.get("BENCH_REPEAT", "5"))
LIST_KEY = "production-inspection"
# BENCH_LIST_RECORDS=M: M of the N records go to the list process (the record-list operations then run on a
# process of M records); the rest are spread over the other processes. BENCH_OPS=word: only operations whose
# name contains it. BENCH_SKIP=word,word: leave out operations whose name contains one of them ("verify" also
# leaves out the proof after generating, "creation" the creation ratio at the end).
LIST_RECORDS = int(os.environ.get("BENCH_LIST_RECORDS", "0"))
ONLY = os.environ.get("BENCH_OPS", "")
SKIP = [w for w in os.environ.get("BENCH_SKIP", "").split(",") if w]


def skipped(name: str) -> bool:
    return bool(ONLY and ONLY not in name) or any(w in name for w in SKIP)


def populate(db, org, user, n: int, chunk: int = 2000, scheme: int | None = None) -> int:
    """Add n chain-valid records to `org`, spread over its processes (each from its own examples, dates moved
    over the last year). Returns the number added. scheme: the hash scheme (default: the current one)."""
    from bench.chain_data import synthetic_records
    from workbench import library
    from workbench.demo import record_from_example
    from workbench.formats import record_validator

    tpls = [t for t in library.processes(db, org) if t.body.get("examples")]
    today = date.today()
    big = min(n, LIST_RECORDS)
    others = [t for t in tpls if t.key != LIST_KEY] if big else tpls
    share, rest = divmod(n - big, len(others))
    for k, tpl in enumerate(tpls):
        count = big if big and tpl.key == LIST_KEY else share + (1 if others.index(tpl) < rest else 0)
        validator = record_validator(tpl.body["schema"])
        cache: dict[int, dict] = {}

        def data_for(i: int, tpl=tpl, validator=validator, cache=cache) -> dict:
            ex = tpl.body["examples"][i % len(tpl.body["examples"])]
            day = i % 365
            if day not in cache:
                d = record_from_example(tpl.body, ex, today - timedelta(days=day))
                cache[day] = d if validator.is_valid(d) else ex
            if "batch_no" in cache[day]:  # distinct batch numbers, so a search can look for one record
                return {**cache[day], "batch_no": f"B{i:07d}"}
            return cache[day]

        if count:
            synthetic_records(db, org, tpl, count, user, chunk=chunk, data_for=data_for,
                              **({"scheme": scheme} if scheme else {}))
    return n


def run_forked(fn, repeat: int) -> tuple[list[float], float]:
    """fn() `repeat` times in a forked child: (durations, the child's peak RSS in MB)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(r)
        try:
            fn()  # warm-up (templates compiled, caches filled), not counted
            out = []
            for _ in range(repeat):
                t0 = time.perf_counter()
                fn()
                out.append(time.perf_counter() - t0)
            os.write(w, (" ".join(map(str, out))).encode())
        except BaseException as e:  # noqa: BLE001 (report, then leave the child)
            os.write(w, f"ERR {type(e).__name__}: {e}".encode()[:4000])
        finally:
            os.close(w)
            os._exit(0)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _, _, usage = os.wait4(pid, 0)
    body = b"".join(chunks).decode()
    if body.startswith("ERR") or not body:
        raise RuntimeError(body or "child died")
    return [float(x) for x in body.split()], usage.ru_maxrss / 1024


def main(n: int) -> None:
    from sqlmodel import Session, func, select

    from workbench import create_app, integrity, trail
    from workbench.audit import frames
    from workbench.audit.models import Engagement
    from workbench.models import Event, Organization, Record, User

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tempfile.mkdtemp()) / 'scale.db'}"
    print(f"database: {url}")
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False,
                      "WTF_CSRF_ENABLED": False})
    engine = app.extensions["workbench.engine"]
    with app.app_context():
        from workbench.demo import seed
        seed()
    with Session(engine, expire_on_commit=False) as db:
        org = db.exec(select(Organization).where(Organization.slug == "demo")).one()
        user = db.exec(select(User).where(User.email == "member@demo.example")).one()
        have = db.exec(select(func.count()).select_from(Record).where(Record.org_id == org.id)).one()
        if have < n:
            t0 = time.perf_counter()
            populate(db, org, user, n - have)
            print(f"bulk: {n - have} records in {time.perf_counter() - t0:.0f} s")
        total = db.exec(select(func.count()).select_from(Record).where(Record.org_id == org.id)).one()
        events = db.exec(select(func.count()).select_from(Event).where(Event.org_id == org.id)).one()
        print(f"organization 'demo': {total} records, {events} events")
        if engine.dialect.name == "sqlite":
            db.execute(text("ANALYZE"))
            db.commit()
        e = db.exec(select(Engagement).where(Engagement.org_id == org.id)).first()
        nc = db.exec(select(Record).where(Record.org_id == org.id, Record.template_key == "nonconforming-output")
                     .order_by(Record.id)).first()
        list_key = LIST_KEY
        tpl_id = db.exec(select(Record.template_id).where(Record.org_id == org.id, Record.template_key == list_key)).first()
        org_id, eid = org.id, e.id if e else None
        # the draw's definition (period, ISO 9001 clause 8): its frame's ids are the reference's answer
        draw_def = {"start": e.period_start.isoformat(), "end": e.period_end.isoformat(), "process": None,
                    "standard": "ISO 9001:2015", "clause": "8", "state": None} if e else {}
        draw_tids = ",".join(str(t) for t in (frames.serving(db, org_id, draw_def) or [0])) if e else "0"

    if not ONLY and not skipped("verify"):
        with trail.snapshot(engine) as s:  # proof: the generated history is chain-valid
            t0 = time.perf_counter()
            v = integrity.verify_org(s, org_id)
            print(f"streaming verification: ok={v.ok}, {v.events} events, {len(v.problems)} problems, "
                  f"{time.perf_counter() - t0:.1f} s" + (f"; first: {v.problems[0]}" if v.problems else ""))

    client = app.test_client()
    client.post("/login", data={"email": "manager@demo.example", "password": "demo123456"})

    def get(path):
        def go():
            resp = client.get(path)
            assert resp.status_code == 200, (path, resp.status_code)
            resp.get_data()
            resp.close()
        return go

    def sql(*stmts, **params):
        def go():
            with engine.connect() as c:
                for stmt in stmts:
                    for _ in c.execute(text(stmt), {k: v for k, v in params.items() if f":{k}" in stmt}):
                        pass
        return go

    def in_session(fn):
        def go():
            with app.app_context(), Session(engine, expire_on_commit=False) as db:
                fn(db)
                db.rollback()
        return go

    def draw(db):
        from workbench.audit import sampling
        sampling.create_sample(db, db.get(Engagement, eid), draw_def, sampling.make_rule("fixed", n=50), 42, db.get(User, 1))

    def verify(db):
        integrity.verify_org(db, org_id)

    def list_query(qs: str):
        """The list's own SQL (workbench.listing: capped count + one page), without the page around it."""
        from urllib.parse import parse_qsl

        from werkzeug.datastructures import MultiDict

        from workbench import library, listing

        def go(db):
            args = MultiDict(parse_qsl(qs))
            tpl = library.adopted(db, db.get(Organization, org_id), list_key)
            lq = listing.ListQuery.from_args(tpl, args, db)
            stmt = lq.select(org_id)
            listing.count(db, lq.select(org_id, counting=True), cap=listing.COUNT_CAP)
            db.exec(stmt.offset((int(args.get("page", 1)) - 1) * 50).limit(50)).all()
        return in_session(go)

    lp = f"/o/demo/p/{list_key}/"
    lsql = "SELECT id, title, state, record_date FROM record WHERE org_id=:o AND template_key=:k "
    ops = []
    for label, qs, ref in [
            ("search one batch no", "q=B0001234", "AND title = 'B0001234' LIMIT 50"),
            ("search 传动轴 (common)", "q=传动轴", "ORDER BY record_date DESC, id DESC LIMIT 50"),
            ("search 传动 (2 chars)", "q=传动", "ORDER BY record_date DESC, id DESC LIMIT 50"),
            ("search 'zzq' (no match)", "q=zzq", "AND title = 'zzq' LIMIT 50"),
            ("sort by inspected_at", "sort=inspected_at&dir=desc", "ORDER BY record_date DESC, id DESC LIMIT 50"),
            ("f.result=pass, page 50", "f.result=pass&page=50", "ORDER BY record_date DESC, id DESC LIMIT 50 OFFSET 2450"),
            ("f.result=fail (rare), page 1", "f.result=fail", "ORDER BY record_date DESC, id DESC LIMIT 50")]:
        reference = sql(lsql + ref, o=org_id, k=list_key)
        ops += [(f"GET list: {label}", get(lp + "?" + qs), reference), (f"list SQL: {label}", list_query(qs), reference)]
    ops += [
        ("GET dashboard", get("/o/demo/"),
         sql("SELECT template_key, subject, max(due_date), max(record_date), count(*) FROM record "
             "WHERE org_id=:o GROUP BY template_key, subject", o=org_id)),
        (f"GET record list ({list_key})", get(f"/o/demo/p/{list_key}/"),
         sql("SELECT id, title, state, record_date FROM record WHERE org_id=:o AND template_key=:k "
             "ORDER BY record_date DESC, id DESC LIMIT 50", o=org_id, k=list_key)),
        (f"GET record page (nonconformity #{nc.id if nc else '-'})", get(f"/o/demo/r/{nc.id}") if nc else None,
         sql("SELECT * FROM record WHERE id=:r", "SELECT * FROM revision WHERE record_id=:r",
             "SELECT * FROM event WHERE org_id=:o AND record_id=:r ORDER BY seq", o=org_id, r=nc.id if nc else 0)),
        ("GET coverage page", get(f"/o/demo/audit/e/{eid}/coverage") if eid else None,
         sql("SELECT template_key, state, count(*) FROM record WHERE org_id=:o GROUP BY template_key, state", o=org_id)),
        ("draw a sample of 50", in_session(draw) if eid else None,
         sql("SELECT id FROM record WHERE org_id=:o AND record_date >= :a AND record_date <= :b "
             f"AND template_id IN ({draw_tids}) ORDER BY id", o=org_id,
             a=date.fromisoformat(draw_def.get("start", "2000-01-01")), b=date.fromisoformat(draw_def.get("end", "2000-01-01")))),
        ("trail verify (streaming)", in_session(verify),
         sql("SELECT * FROM event WHERE org_id=:o ORDER BY seq", o=org_id)),
        ("audit report xlsx", get(f"/o/demo/audit/e/{eid}/report.xlsx") if eid else None,
         sql("SELECT r.* FROM record r WHERE r.org_id=:o AND r.id IN (SELECT id FROM record WHERE org_id=:o "
             "ORDER BY id LIMIT 50)", o=org_id)),
        (f"GET new-record form ({list_key})", get(f"/o/demo/p/{list_key}/new"),
         sql("SELECT body FROM process_template WHERE id=:t", t=tpl_id or 0)),
        ("GET to-do page", get("/o/demo/todo"),
         sql("SELECT id, title, state, updated_at FROM record WHERE org_id=:o AND template_key=:k AND state='submitted' "
             "ORDER BY updated_at DESC LIMIT 200", o=org_id, k=list_key)),
    ]
    print(f"\n{'operation':45} {'median':>10} {'peak RSS':>9}   {'reference (raw SQL)':>20} {'peak RSS':>9}   ratio")
    for name, fn, ref in ops:
        if skipped(name):
            continue
        if fn is None:
            print(f"{name:45} skipped (nothing to measure)")
            continue
        repeat = 1 if "verify" in name and n > 200_000 else REPEAT
        try:
            xs, rss = run_forked(fn, repeat)
        except RuntimeError as err:
            print(f"{name:45} FAILED: {err}")
            continue
        ys, rrss = run_forked(ref, repeat)
        a, b = statistics.median(xs), statistics.median(ys)
        print(f"{name:45} {a * 1000:8.1f}ms {rss:7.0f}MB   {b * 1000:18.2f}ms {rrss:7.0f}MB   {a / b if b else 0:6.1f}×")
    if not ONLY and not skipped("creation"):
        create_ratio(app, engine, org_id, n)


def create_ratio(app, engine, org_id: int, n: int) -> float:
    """Record creation through the service (the form's code path: parse, checks, validate, record, revision, chained
    event, webhooks, commit) vs its floor: jsonschema validate (a validator compiled once) + one INSERT of the JSON
    + commit. Rounds of BENCH_CREATES_BATCH service creates and as many floor inserts alternate (the machine's load
    falls on both); the medians of wall time and of CPU time per create are printed. Returns the wall ratio."""
    import json

    from sqlmodel import Session, select
    from werkzeug.datastructures import MultiDict

    import forms
    from workbench import library
    from workbench.formats import FORMAT_CHECKER, RecordValidator
    from workbench.models import Organization, Record, User
    from workbench.services import records as service

    rounds, batch = int(os.environ.get("BENCH_CREATES_ROUNDS", "20")), int(os.environ.get("BENCH_CREATES_BATCH", "10"))
    with Session(engine, expire_on_commit=False) as db:
        org = db.get(Organization, org_id)
        user = db.exec(select(User).where(User.email == "member@demo.example")).one()
        tpl = library.adopted(db, org, "production-inspection")
        example = tpl.body["examples"][0]
        values = MultiDict(forms.flatten(tpl.body["schema"], example))
        validator = RecordValidator(json.loads(json.dumps(tpl.body["schema"])), format_checker=FORMAT_CHECKER)
        insert = Record.__table__.insert()

        def through_service():
            res = service.submit(db, org, tpl, service.Submission(values), user)
            assert isinstance(res, service.Saved), res
            db.commit()

        def floor():
            validator.validate(example)
            with engine.begin() as c:
                c.execute(insert, dict(org_id=org.id, template_id=tpl.id, template_key=tpl.key, state="bench-floor",
                                       revision=1, data=json.loads(json.dumps(example))))

        times: dict[str, tuple[list[float], list[float]]] = {"service": ([], []), "floor": ([], [])}
        with app.test_request_context("/"):
            through_service()
            floor()  # warm-up
            for _ in range(rounds):
                for name, fn in (("service", through_service), ("floor", floor)):
                    w0, c0 = time.perf_counter(), time.process_time()
                    for _ in range(batch):
                        fn()
                    times[name][0].append((time.perf_counter() - w0) / batch)
                    times[name][1].append((time.process_time() - c0) / batch)
        # the floor's rows are not part of the chain: remove them so the database stays verifiable
        with engine.begin() as c:
            c.execute(text("DELETE FROM record WHERE org_id=:o AND state='bench-floor'"), {"o": org.id})
    (sw, sc), (fw, fc) = ([statistics.median(x) for x in times[k]] for k in ("service", "floor"))
    print(f"\nrecord creation ({engine.dialect.name}, {rounds}×{batch} each, interleaved, at {n} records): "
          f"service {sw * 1000:.2f} ms vs floor {fw * 1000:.2f} ms = {sw / fw:.2f}× wall; "
          f"CPU of this process {sc * 1000:.2f} vs {fc * 1000:.2f} ms = {sc / fc:.2f}×")
    return sw / fw


def create_only() -> None:
    """`bench/run.py --create`: the demo in DATABASE_URL (default: a temporary SQLite file), then create_ratio."""
    from sqlmodel import Session, func, select

    from workbench import create_app
    from workbench.models import Organization, Record

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tempfile.mkdtemp()) / 'create.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench", "SESSION_COOKIE_SECURE": False,
                      "WTF_CSRF_ENABLED": False})
    engine = app.extensions["workbench.engine"]
    with app.app_context():
        from workbench.demo import seed
        seed()
    with Session(engine) as db:
        org = db.exec(select(Organization).where(Organization.slug == "demo")).one()
        n = db.exec(select(func.count()).select_from(Record).where(Record.org_id == org.id)).one()
    create_ratio(app, engine, org.id, n)


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--records", type=int, default=100_000)
    main(p.parse_args().records)
    print(f"peak RSS of the benchmark process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")
