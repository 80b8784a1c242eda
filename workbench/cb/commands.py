"""`workbench portfolio digest`: the weekly anomaly digest to certification-body staff (a Flask blueprint's
CLI group, so `app.test_cli_runner()` reaches it too). Judgement samples are re-verified by the existing
`workbench audit verify` (workbench.views.audit)."""
from __future__ import annotations

from datetime import date

import click
from flask import Blueprint

from workbench.db import get_session

bp = Blueprint("portfolio", __name__, cli_group="portfolio")


@bp.cli.command("digest")
@click.option("--cb", "cb_slug", default=None, help="Certification body slug (default: all).")
@click.option("--today", default=None, help="As of this date (YYYY-MM-DD; default: today).")
@click.option("--dry-run", is_flag=True, help="Print the digests without sending or remembering them.")
def digest_command(cb_slug: str | None, today: str | None, dry_run: bool) -> None:
    """Send each certification body's staff the anomalies that are new since the last digest."""
    from flask import current_app

    from workbench.cb import digest

    try:
        day = date.fromisoformat(today) if today else date.today()
    except ValueError:
        raise click.BadParameter("YYYY-MM-DD", param_hint="--today") from None
    with current_app.test_request_context():
        db = get_session()
        sent = digest.run(db, cb_slug=cb_slug, today=day, dry_run=dry_run)
        for d in sent:
            click.echo(f"# {d.user.email} → {d.delivery}")
            click.echo(d.text)
        click.echo(f"{len(sent)} digest(s)")
        if not dry_run:
            db.commit()
