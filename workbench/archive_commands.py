"""`workbench org export` / `workbench org import`: organization backup and restore (workbench.archive).

An operator tool: whoever can run the `workbench` command on the server already holds the database
credentials (DATABASE_URL) and can read or change every organization, so these commands take no
user login; there is deliberately no web route (docs/org-archive.md, "Who may run it").
"""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup


@click.group("org", cls=AppGroup)
def org() -> None:
    """Organization backup (export) and restore (import) — operator commands."""


@org.command("export")
@click.option("--org", "slug", required=True, help="Organization slug.")
@click.option("-o", "--output", "output", required=True, type=click.Path(path_type=Path),
              help="Archive (.zip) to write.")
def org_export(slug: str, output: Path) -> None:
    """Write everything of one organization to one zip archive with a manifest and SHA-256 digests."""
    from workbench import trail
    from workbench.archive import ArchiveError, export_org

    engine = current_app.extensions["workbench.engine"]
    tmp = output.with_name(output.name + ".part")
    try:
        with trail.snapshot(engine) as s:
            r = export_org(s.connection(), slug, tmp)
    except ArchiveError as e:
        tmp.unlink(missing_ok=True)
        click.echo(f"✘ {e}", err=True)
        sys.exit(1)
    tmp.replace(output)
    rows = sum(v for k, v in r.counts.items())
    click.echo(f"✔ {slug}: {rows} rows in {len(r.counts)} tables → {output} "
               f"(chain head #{r.head_seq} {r.head_hash})")


@org.command("import")
@click.argument("archive", type=click.Path(path_type=Path, exists=True, dir_okay=False))
@click.option("--replace", is_flag=True,
              help="Remove an existing organization with the same slug first (same transaction).")
@click.option("--slug", "slug", default=None, help="Restore under this slug instead of the archived one.")
def org_import(archive: Path, replace: bool, slug: str | None) -> None:
    """Restore an organization archive into this instance, in one transaction (a failure leaves nothing)."""
    from workbench import trail
    from workbench.archive import ArchiveError, import_org

    engine = current_app.extensions["workbench.engine"]
    try:
        with engine.begin() as conn:
            r = import_org(conn, archive, replace=replace, slug=slug)
    except ArchiveError as e:
        click.echo(f"✘ {e}", err=True)
        sys.exit(1)
    with trail.snapshot(engine) as s:
        v = trail.verify(s, r.org_id)
    linked = f", {len(r.linked_users)} existing users linked" if r.linked_users else ""
    dropped = f", dropped (other organizations' rows): {r.dropped}" if r.dropped else ""
    click.echo(f"✔ {r.slug}: {sum(r.counts.values())} rows restored{linked}{dropped}")
    click.echo(f"{'✔' if v.ok else '✘'} chain: {v.events} events, head #{v.head_seq} {v.head_hash}"
               + ("" if v.ok else f" — first broken link: {v.first}"))
    sys.exit(0 if v.ok else 1)
