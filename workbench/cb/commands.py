"""CLI of the certification-body side: `workbench portfolio digest` (the weekly anomaly digest). Judgement
samples are re-verified by the existing `workbench audit verify` (workbench.views.audit)."""
from __future__ import annotations

from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session


def _session() -> Session:
    return Session(current_app.extensions["workbench.engine"], expire_on_commit=False)


def register(main: click.Group) -> None:
    @main.group("portfolio", cls=AppGroup)
    def portfolio() -> None:
        """The certification body's portfolio across clients."""

    @portfolio.command("digest")
    @click.option("--cb", "cb_slug", default=None, help="Certification body slug (default: all).")
    @click.option("--today", default=None, help="As of this date (YYYY-MM-DD; default: today).")
    @click.option("--dry-run", is_flag=True, help="Print the digests without sending or remembering them.")
    def portfolio_digest(cb_slug: str | None, today: str | None, dry_run: bool) -> None:
        """Send each certification body's staff the anomalies that are new since the last digest."""
        from workbench.cb import digest

        day = date.fromisoformat(today) if today else date.today()
        with current_app.test_request_context(), _session() as db:
            for d in digest.run(db, cb_slug=cb_slug, today=day, dry_run=dry_run):
                click.echo(d.text)
                click.echo(f"→ {d.delivery}")
            if not dry_run:
                db.commit()
