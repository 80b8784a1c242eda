"""CLI commands of the certification-body side: `workbench audit verify` (re-verify every sample, random and
judgement, of an engagement or of all) and `workbench portfolio digest` (the weekly anomaly digest)."""
from __future__ import annotations

import sys
from datetime import date

import click
from flask import current_app
from flask.cli import AppGroup
from sqlmodel import Session, select


def _session() -> Session:
    return Session(current_app.extensions["workbench.engine"], expire_on_commit=False)


def verify_samples_command(group: click.Group) -> None:
    @group.command("verify")
    @click.option("--engagement", "engagement_id", type=int, default=None, help="Engagement id (default: all).")
    def audit_verify(engagement_id: int | None) -> None:
        """Re-draw every sample from its stored population, rule (random or judgement) and seed, check it against
        the event chain; exit 1 on the first problem."""
        from workbench.audit import sampling
        from workbench.audit.models import Sample

        with current_app.test_request_context(), _session() as db:
            q = select(Sample).order_by(Sample.engagement_id, Sample.number)
            if engagement_id is not None:
                q = q.where(Sample.engagement_id == engagement_id)
            samples = db.exec(q).all()
            bad = 0
            for s in samples:
                v = sampling.verify_sample(db, s)
                kind = s.rule.get("kind")
                if v.ok:
                    click.echo(f"✔ engagement {s.engagement_id} sample {s.number} ({kind}): {len(s.drawn)} of "
                               f"{s.population_size} re-drawn identically")
                else:
                    bad += 1
                    click.echo(f"✘ engagement {s.engagement_id} sample {s.number} ({kind}): {v.problems[0]}")
            click.echo(f"{len(samples) - bad} verified, {bad} with problems")
        sys.exit(1 if bad else 0)


def register(main: click.Group) -> None:
    audit_group = main.commands.get("audit")
    if audit_group is None:
        @main.group("audit", cls=AppGroup)
        def audit_group() -> None:
            """Audits: samples, bundles."""
    verify_samples_command(audit_group)

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
