"""Bulk actions on selected records: one transition taken on each record separately (each gets its own event
and, where the step is signed, its own signature), one password entry for the batch. A record that cannot
take the step (wrong state, missing fields, someone else was first) is reported and the others go ahead."""
from __future__ import annotations

from dataclasses import dataclass, field

from flask_babel import gettext as _
from sqlmodel import Session

from workbench.services import records as service
from workbench.auth import verify_password
from workbench.errors import UserError
from workbench.models import Organization, Record, User

MAX_BATCH = 200


@dataclass
class BulkResult:
    done: list[int] = field(default_factory=list)
    failed: list[tuple[int, str]] = field(default_factory=list)


def transition(db: Session, org: Organization, key: str, ids: list[int], name: str, user, roles: set[str], *,
               comment: str = "", password: str | None = None) -> BulkResult:
    ids = list(dict.fromkeys(ids))[:MAX_BATCH]
    if not ids:
        raise UserError(_("Select at least one record."))
    account = db.get(User, user.id)
    if password is not None and password != "" and not verify_password(account.password_hash, password):
        raise UserError(_("The signature password is not correct."), field="password")
    result = BulkResult()
    for rid in ids:
        rec = db.get(Record, rid)
        if rec is None or rec.org_id != org.id or rec.template_key != key:
            result.failed.append((rid, _("Not a record of this process.")))
            continue
        try:
            with db.begin_nested():
                service.transition(db, rec, name, user, roles, comment=comment, password=password)
        except UserError as e:  # the step is not possible here, or someone else was first
            db.refresh(rec)
            result.failed.append((rid, str(e)))
        else:
            result.done.append(rid)
    return result
