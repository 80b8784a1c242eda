"""Throughput under gunicorn (issue #11): the app served by gunicorn with 4 workers on a local port, and a
hello-world Flask app served the same way; GET new-record form and GET dashboard as the demo manager (session
cookie) against GET / of hello-world, requests/s and the ratio. Prints figures, asserts nothing.

    .venv/bin/python bench/run.py --http            (or make bench-http; DATABASE_URL chooses the database,
                                                      default a temporary SQLite file, demo seeded)

The load generator is wrk (Debian package `wrk`) with keep-alive connections; without it, a Python client with
the same number of keep-alive connections (threads; it competes with the server for the CPU, so its figures are
lower for both sides). Each target runs BENCH_HTTP_SECONDS (default 10) per round, BENCH_HTTP_ROUNDS (default 2)
rounds alternating with hello-world; the median is reported. Non-2xx answers are counted and shown.
"""
from __future__ import annotations

import http.client
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORKERS = 4
CONNECTIONS = int(os.environ.get("BENCH_HTTP_CONNECTIONS", "8"))
SECONDS = int(os.environ.get("BENCH_HTTP_SECONDS", "10"))
ROUNDS = int(os.environ.get("BENCH_HTTP_ROUNDS", "2"))
PAGES = {"GET new-record form": "/o/demo/p/production-inspection/new", "GET dashboard": "/o/demo/"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(app_spec: str, env: dict) -> tuple[subprocess.Popen, int]:
    port = free_port()
    gunicorn = str(Path(sys.executable).parent / "gunicorn")
    proc = subprocess.Popen([gunicorn, "-w", str(WORKERS), "-b", f"127.0.0.1:{port}", "--log-level", "warning",
                             "--chdir", str(ROOT), app_spec], env=env, start_new_session=True)
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/login" if "workbench" in app_spec
                                        else f"http://127.0.0.1:{port}/", timeout=5) as r:
                if r.status == 200:
                    return proc, port
        except OSError:
            time.sleep(0.5)
    stop(proc)
    raise RuntimeError(f"gunicorn {app_spec} did not answer on port {port}")


def stop(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)  # the server we started and its workers (their own session)
        proc.wait(30)
    except (ProcessLookupError, subprocess.TimeoutExpired):
        os.killpg(proc.pid, signal.SIGKILL)


def login(port: int) -> str:
    """Sign in as the demo manager; the Cookie header of the session."""
    jar = CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    html = opener.open(f"http://127.0.0.1:{port}/login").read().decode()
    token = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    body = urllib.parse.urlencode({"email": "manager@demo.example", "password": "demo123456", "csrf_token": token})
    opener.open(f"http://127.0.0.1:{port}/login", data=body.encode())
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    for path in PAGES.values():  # signed in, and every page answers 200 (warms each worker a little too)
        req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"Cookie": cookie})
        with urllib.request.urlopen(req) as r:
            assert r.status == 200 and r.url.endswith(path), (path, r.status, r.url)
    return cookie


def load_wrk(port: int, path: str, cookie: str | None) -> tuple[float, int]:
    cmd = ["wrk", "-t", "2", "-c", str(CONNECTIONS), "-d", f"{SECONDS}s"]
    if cookie:
        cmd += ["-H", f"Cookie: {cookie}"]
    out = subprocess.run(cmd + [f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    return rps, int(bad.group(1)) if bad else 0


def load_python(port: int, path: str, cookie: str | None) -> tuple[float, int]:
    """CONNECTIONS threads, each with one keep-alive connection, for SECONDS."""
    counts, bad = [0] * CONNECTIONS, [0] * CONNECTIONS
    headers = {"Cookie": cookie} if cookie else {}
    end = time.perf_counter() + SECONDS

    def client(i):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        while time.perf_counter() < end:
            conn.request("GET", path, headers=headers)
            r = conn.getresponse()
            r.read()
            counts[i] += 1
            bad[i] += r.status >= 400
        conn.close()
    t0 = time.perf_counter()
    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONNECTIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0), sum(bad)


def main() -> None:
    from sqlmodel import Session, func, select

    from workbench import create_app
    from workbench.models import Organization, Record

    url = os.environ.get("DATABASE_URL") or f"sqlite:///{Path(tempfile.mkdtemp()) / 'http.db'}"
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "bench"})
    with app.app_context():
        from workbench.demo import seed
        seed()
    engine = app.extensions["workbench.engine"]
    with Session(engine) as db:
        org = db.exec(select(Organization).where(Organization.slug == "demo")).one()
        n = db.exec(select(func.count()).select_from(Record).where(Record.org_id == org.id)).one()
    engine.dispose()
    load = load_wrk if shutil.which("wrk") else load_python
    print(f"database: {engine.dialect.name}, organization 'demo': {n} records; gunicorn -w {WORKERS}; "
          f"load: {'wrk' if load is load_wrk else 'Python client'}, {CONNECTIONS} keep-alive connections, "
          f"{SECONDS} s x {ROUNDS} rounds")
    env = dict(os.environ, DATABASE_URL=url, SECRET_KEY="bench", WORKBENCH_SECURE_COOKIES="0",
               WORKBENCH_INSTANCE=tempfile.mkdtemp(), PYTHONPATH=str(ROOT))
    hello, hello_port = serve("bench.hello:app", env)
    wb, wb_port = serve("workbench:create_app()", env)
    try:
        cookie = login(wb_port)
        results: dict[str, list[float]] = {"hello-world GET /": []}
        errors: dict[str, int] = {}
        for _ in range(ROUNDS):
            rps, bad = load(hello_port, "/", None)
            results["hello-world GET /"].append(rps)
            for name, path in PAGES.items():
                rps, bad = load(wb_port, path, cookie)
                results.setdefault(name, []).append(rps)
                errors[name] = errors.get(name, 0) + bad
    finally:
        stop(wb)
        stop(hello)
    base = statistics.median(results["hello-world GET /"])
    print(f"\n{'':28} {'requests/s':>11}   {'hello-world ÷ page':>18}")
    print(f"{'hello-world GET /':28} {base:11.0f}")
    for name, path in PAGES.items():
        rps = statistics.median(results[name])
        print(f"{name:28} {rps:11.1f}   {base / rps:17.1f}×   {path}"
              + (f"   ({errors[name]} non-2xx answers)" if errors.get(name) else ""))


if __name__ == "__main__":
    main()
