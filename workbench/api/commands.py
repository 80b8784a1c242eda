"""`workbench token create --user EMAIL --org SLUG --scopes read,write [--days N]` (prints the token once) and
`workbench token revoke ID`."""
from __future__ import annotations

import click
from flask import Blueprint
from sqlmodel import select

from workbench.db import get_session

bp = Blueprint("token", __name__, cli_group="token")


@bp.cli.command("create")
@click.option("--user", "email", required=True, help="The token owner's e-mail.")
@click.option("--org", "org_slug", required=True, help="The organization the token works in.")
@click.option("--scopes", default="read", show_default=True, help="Comma-separated: read, write, audit-read.")
@click.option("--days", default=90, show_default=True, type=click.IntRange(1, 366), help="Days until it expires.")
@click.option("--name", default="cli", help="A label for the token list.")
def create_command(email: str, org_slug: str, scopes: str, days: int, name: str) -> None:
    """Create a personal access token and print it (once: only its SHA-256 is stored)."""
    from workbench.api import tokens
    from workbench.db import transaction
    from workbench.errors import UserError
    from workbench.models import Organization, User

    db = get_session()
    user = db.exec(select(User).where(User.email == email.strip().lower())).first()
    org = db.exec(select(Organization).where(Organization.slug == org_slug)).first()
    if user is None or org is None:
        raise click.ClickException("no such user or organization")
    try:
        with transaction(db):
            row, clear = tokens.create(db, user, org, scopes, days=days, name=name)
    except UserError as e:
        raise click.ClickException(str(e)) from None
    click.echo(clear)
    click.echo(f"# id {row.id}, scopes {','.join(row.scopes)}, expires {row.expires_at:%Y-%m-%d %H:%M} UTC", err=True)


@bp.cli.command("revoke")
@click.argument("token_id", type=int)
def revoke_command(token_id: int) -> None:
    """Revoke a token by id (it answers 401 from now on)."""
    from workbench.api.models import ApiToken
    from workbench.db import transaction
    from workbench.models import utcnow

    db = get_session()
    row = db.get(ApiToken, token_id)
    if row is None:
        raise click.ClickException("no such token")
    with transaction(db):
        row.revoked_at = row.revoked_at or utcnow()
        db.add(row)
    click.echo(f"revoked {token_id}")
