"""The `workbench` command (Flask's CLI group: `workbench run`, `workbench routes` come with it)."""
from __future__ import annotations

import os
import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup

from workbench import create_app


def _app_factory():
    return create_app()


@click.group(cls=FlaskGroup, create_app=_app_factory, add_default_commands=True)
def main() -> None:
    """ProcessBench — ISO process templates, forms, workflows and audit-ready records."""


# --- templates ----------------------------------------------------------------------------------

@main.group(cls=AppGroup)
def templates() -> None:
    """Process templates."""


@templates.command("validate", with_appcontext=False)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
def templates_validate(paths: tuple[Path, ...]) -> None:
    """Validate template files (default: the shipped library). Exit 1 on any error."""
    from workbench.templates import InvalidTemplate, LIBRARY_DIR, library_files, load_file

    files: list[Path] = []
    for p in paths or (LIBRARY_DIR,):
        files += library_files(p) if p.is_dir() else [p]
    bad = 0
    keys: dict[str, Path] = {}
    for f in files:
        try:
            t = load_file(f)
        except InvalidTemplate as e:
            bad += 1
            for err in e.errors:
                click.echo(f"✘ {err}", err=True)
            continue
        if t["key"] in keys:
            bad += 1
            click.echo(f"✘ {f}: $.key: duplicate key '{t['key']}' (also in {keys[t['key']]})", err=True)
            continue
        keys[t["key"]] = f
        click.echo(f"✔ {f.name}: {t['key']} v{t['version']} — {t['title']['zh']} / {t['title']['en']}")
    click.echo(f"{len(files) - bad} valid, {bad} invalid")
    if bad or not files:
        sys.exit(1)


# --- database, demo -------------------------------------------------------------------------------

@main.group(cls=AppGroup)
def db() -> None:
    """Database schema."""


@db.command("upgrade")
def db_upgrade() -> None:
    """Apply schema migrations (create_app does this on start-up too)."""
    from workbench.migrate import upgrade

    upgrade(current_app.extensions["workbench.engine"])
    click.echo("database is at the newest schema")


@main.command("demo", with_appcontext=False)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option("--reset", is_flag=True, help="Delete the demo database first.")
@click.option("--no-serve", is_flag=True, help="Only create and seed the database.")
def demo(host: str, port: int, reset: bool, no_serve: bool) -> None:
    """Create the SQLite database, load the template library, seed demo organizations, and serve."""
    os.environ.setdefault("WORKBENCH_SECURE_COOKIES", "0")  # the demo serves plain http on this machine
    if reset and not os.environ.get("DATABASE_URL"):
        for suffix in ("", "-wal", "-shm"):
            Path("instance", "workbench.db" + suffix).unlink(missing_ok=True)
    app = create_app()
    from workbench.demo import DEMO_USERS, seed

    with app.app_context():
        summary = seed()
    click.echo(summary)
    click.echo("Sign in with any of these (password: demo123456):")
    from workbench.cb.demo import CB, CB_USERS

    for email, name, role, org in DEMO_USERS + [(e, n, r, CB[0]) for e, n, r in CB_USERS]:
        click.echo(f"  {email:<28} {role:<11} {org}  {name}")
    if not no_serve:
        click.echo(f"ProcessBench demo: http://{host}:{port}/")
        from werkzeug.serving import run_simple

        # (Flask refuses app.run() inside its own CLI.) Production: gunicorn "workbench:create_app()".
        run_simple(host, port, app, threaded=True)


# --- trail --------------------------------------------------------------------------------------

@main.group(cls=AppGroup)
def trail() -> None:
    """The tamper-evident event chain."""


def _orgs(s, org_slug: str | None):
    from sqlmodel import select

    from workbench.models import Organization

    q = select(Organization).order_by(Organization.id)
    if org_slug:
        q = q.where(Organization.slug == org_slug)
    orgs = s.exec(q).all()
    if not orgs:
        click.echo(f"no organization {org_slug!r}", err=True)
        sys.exit(2)
    return orgs


@trail.command("verify")
@click.option("--org", "org_slug", default=None, help="Organization slug (default: all).")
@click.option("--checkpoint", "checkpoint", default=None, type=click.File("r", encoding="utf-8"),
              help="A checkpoint file (workbench trail checkpoint): the chain must still contain its heads.")
def trail_verify(org_slug: str | None, checkpoint) -> None:
    """Recompute every organization's event chain on one consistent snapshot; name the first broken link;
    with --checkpoint, also check the chain still contains each checkpointed head. Exit 1 if anything fails."""
    import time

    from workbench import checkpoints
    from workbench import trail as trail_mod

    cps = []
    if checkpoint is not None:
        try:
            cps = checkpoints.load(checkpoint.read())
        except checkpoints.BadCheckpoint as exc:
            click.echo(f"✘ checkpoint file: {exc}", err=True)
            sys.exit(2)
    broken = 0
    with trail_mod.snapshot(current_app.extensions["workbench.engine"]) as s:
        orgs = _orgs(s, org_slug)
        for org in orgs:
            t0 = time.perf_counter()
            v = trail_mod.verify(s, org.id)
            took = time.perf_counter() - t0
            if v.ok:
                click.echo(f"✔ {org.slug}: {v.events} events, chain intact (head #{v.head_seq} {v.head_hash[:16]}…, {took:.1f} s)")
            else:
                broken += 1
                click.echo(f"✘ {org.slug}: first broken link: {v.first} ({len(v.problems)} problems)")
                for p in v.problems[1:10]:
                    click.echo(f"    {p}")
        by_slug = {o.slug: o for o in orgs}
        for cp in cps:
            org = by_slug.get(cp["org"])
            if org is None:
                if org_slug is None:
                    broken += 1
                    click.echo(f"✘ {cp['org']}: checkpointed organization is missing")
                continue
            out = checkpoints.compare(s, org, cp)
            broken += not out.ok
            click.echo(f"{'✔' if out.ok else '✘'} {org.slug}: checkpoint #{cp['seq']}: {out.message}")
    sys.exit(1 if broken else 0)


@trail.command("checkpoint")
@click.option("--org", "org_slug", default=None, help="Organization slug (default: all).")
@click.option("-o", "--output", default="-", type=click.File("w", encoding="utf-8"), help="File (default: stdout).")
def trail_checkpoint(org_slug: str | None, output) -> None:
    """Write the head (seq, hash, time, scheme) of each organization's chain as JSON, to keep outside the database."""
    import json

    from workbench import checkpoints
    from workbench import trail as trail_mod

    with trail_mod.snapshot(current_app.extensions["workbench.engine"]) as s:
        doc = checkpoints.take(s, _orgs(s, org_slug))
    output.write(json.dumps(doc, ensure_ascii=False, indent=1) + "\n")


# --- documents ----------------------------------------------------------------------------------

@main.group(cls=AppGroup)
def docs() -> None:
    """Controlled documents: procedures (程序文件) and the management manual (管理手册)."""


@docs.command("build")
@click.option("--org", "org_slug", required=True, help="Organization slug.")
@click.option("--lang", "doc_lang", type=click.Choice(["zh", "en"]), default="zh", show_default=True)
@click.option("-o", "--out", "out_dir", required=True, type=click.Path(path_type=Path, file_okay=False))
def docs_build(org_slug: str, doc_lang: str, out_dir: Path) -> None:
    """Write every procedure and the manual of an organization as .docx files into OUT."""
    from sqlmodel import Session, select

    from workbench.documents.export import build_dir
    from workbench.models import Organization

    with Session(current_app.extensions["workbench.engine"]) as s:
        org = s.exec(select(Organization).where(Organization.slug == org_slug)).first()
        if org is None:
            click.echo(f"no organization {org_slug!r}", err=True)
            sys.exit(2)
        files = build_dir(s, org, doc_lang, out_dir)
    click.echo(f"wrote {len(files)} documents to {out_dir}")
# --- notifications (daily) -----------------------------------------------------------------------

@main.command("deliver")
@click.option("--worker", default=None, help="Worker name (default: host:random).")
@click.option("--loop", "loop_seconds", default=0, type=int, help="Keep running, polling every N seconds.")
def deliver_cmd(worker: str | None, loop_seconds: int) -> None:
    """Send queued messages (email, 企业微信/钉钉 robots, webhooks); failures are retried with back-off."""
    import time

    from workbench import outbox

    while True:
        r = outbox.deliver(current_app.extensions["workbench.engine"], worker)
        click.echo(f"sent {len(r.sent)}, to retry {len(r.retry)}, failed {len(r.failed)}")
        if not loop_seconds:
            break
        time.sleep(loop_seconds)


@main.command("remind")
@click.option("--date", "day", default=None, help="Pretend today is YYYY-MM-DD (tests, catching up).")
def remind_cmd(day: str | None) -> None:
    """Queue today's due reminders and digests (idempotent per day); `workbench deliver` sends them."""
    from datetime import date

    from sqlmodel import Session

    from workbench.notify import remind

    with Session(current_app.extensions["workbench.engine"], expire_on_commit=False) as s:
        r = remind.run(s, date.fromisoformat(day) if day else None)
        s.commit()
    click.echo(f"{r.notifications} notifications, {r.messages} messages queued")


from workbench.archive_commands import org as _org_commands  # noqa: E402  (workbench org export / import)

main.add_command(_org_commands)

if __name__ == "__main__":  # pragma: no cover
    main()
