"""The consultant studio: template list, visual builder with live preview, versions, adoption, import/export.

Drafts live in two places, with the same pages: an organization's drafts (`/studio/o/<org>/…`, policy
"org:author": its consultants, managers and admins) and a consultant's personal library (`/studio/mine/…`,
policy "login" plus an explicit check: consultants and admins, each seeing only their own drafts).
Publishing is organization-scoped; a manager adopts a published version when ready.

Every page works as plain HTML forms; htmx only refreshes the preview while typing.

- `access`    who may use the studio, where drafts live (Scope), helpers every page uses
- `library`   the template list, new / clone / edit drafts, import and export
- `builder`   the builder page, the live preview, save and discard
- `publish`   publishing a draft (confirmation with the diff and its impact, release note), draft changes
- `versions`  the versions of a process, diffs, adoption, reading a published version
"""
from flask import Blueprint

bp = Blueprint("studio", __name__, url_prefix="/studio")

from workbench.views.studio import access, builder, library, publish, versions  # noqa: E402,F401  (routes)
