"""`workbench records import --org SLUG --process KEY --user EMAIL FILE [--commit]`: the same preview / commit
as the web page, as that user (a member or manager of the organization; auditors never)."""
from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import Blueprint, current_app
from sqlmodel import Session, select

bp = Blueprint("records_cli", __name__, cli_group="records")


@bp.cli.command("import")
@click.option("--org", "org_slug", required=True)
@click.option("--process", "key", required=True)
@click.option("--user", "email", required=True, help="The member or manager the records are created by.")
@click.option("--commit", is_flag=True, help="Store the records (default: preview only).")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_cmd(org_slug: str, key: str, email: str, commit: bool, file: Path) -> None:
    """Preview (or with --commit store, all or nothing) records of a process from an xlsx or csv file."""
    from workbench import library
    from workbench.auth import roles_in
    from workbench.db import transaction
    from workbench.errors import UserError
    from workbench.importing import files, service
    from workbench.models import Organization, User
    from workbench.tenancy import POLICIES

    with Session(current_app.extensions["workbench.engine"], expire_on_commit=False) as db:
        org = db.exec(select(Organization).where(Organization.slug == org_slug)).first()
        user = db.exec(select(User).where(User.email == email.strip().lower())).first()
        if org is None or user is None or not roles_in(db, user, org.id) & POLICIES["org:write"]:
            raise click.ClickException("no such organization, or the user may not create records there")
        tpl = library.adopted(db, org, key)
        if tpl is None:
            raise click.ClickException(f"no adopted process {key!r} in {org_slug}")
        try:
            stored = files.save_path(current_app.instance_path, org.id, file)
            with transaction(db):
                out = service.run(db, org, tpl, user, stored, commit=commit, lang="en")
                if not commit:
                    db.rollback()
        except service.ImportInvalid as e:
            out = e.preview
        except UserError as e:
            raise click.ClickException(str(e))
    for p in out.errors:
        click.echo(f"✘ {p.sheet}!{p.row} {p.column}: {p.message}", err=True)
    click.echo(f"{out.filename} sha256={out.sha256}: {out.records} records, {out.error_count} errors"
               + (", imported" if commit and not out.error_count else ", nothing stored"))
    if out.error_count:
        sys.exit(1)
