"""Run a benchmark on a throw-away PostgreSQL cluster (Debian's server binaries, unix socket in a temp dir, as
tests/test_postgres.py does): the command runs with DATABASE_URL pointing at it; the cluster is removed afterwards
(BENCH_PG_KEEP=1 keeps it running and prints how to stop it).

    .venv/bin/python bench/pg.py .venv/bin/python bench/run.py --create
    .venv/bin/python bench/pg.py .venv/bin/python bench/run.py --http
    .venv/bin/python bench/pg.py .venv/bin/python bench/run.py --records 100000
"""
from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def main(argv: list[str]) -> int:
    bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"))
    if not bins or not argv:
        print(__doc__ if argv else "PostgreSQL server binaries are missing (apt-get install postgresql)")
        return 2
    base = Path(tempfile.mkdtemp(prefix="pgbench-"))
    os.chmod(base, 0o777)
    data = base / "data"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run(_as_postgres([f"{bins[-1]}/initdb", "-D", str(data), "-A", "trust", "-U", "postgres", "-E", "UTF8",
                                 "--locale=C"]), check=True, capture_output=True)
    ctl = [f"{bins[-1]}/pg_ctl", "-D", str(data)]
    subprocess.run(_as_postgres(ctl + ["-w", "-l", str(base / "log"), "-o", f"-k {base} -p {port} -c listen_addresses=''",
                                       "start"]), check=True, capture_output=True)
    url = f"postgresql://postgres@/postgres?host={base}&port={port}"
    try:
        return subprocess.run(argv, env=dict(os.environ, DATABASE_URL=url)).returncode
    finally:
        if os.environ.get("BENCH_PG_KEEP"):
            print(f"cluster kept: DATABASE_URL='{url}'; stop: {' '.join(_as_postgres(ctl + ['stop']))}")
        else:
            subprocess.run(_as_postgres(ctl + ["-m", "fast", "stop"]), capture_output=True)
            shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
