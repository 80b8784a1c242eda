"""User-facing errors share one base class.

A service raises a `UserError` (or a subclass) for anything the user or client can correct; views and
the API catch `UserError` only, so an internal invariant that breaks stays a 500 and gets fixed. Each
class carries its HTTP status; `field` names the form field (dotted path) the message belongs to.
"""
from __future__ import annotations


class UserError(Exception):
    status = 422

    def __init__(self, message: str, *, field: str | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        if status is not None:
            self.status = status

    def __str__(self) -> str:
        return self.message


class NotFound(UserError):
    status = 404


class Forbidden(UserError):
    status = 403


class Conflict(UserError):
    """The thing changed since the user read it (stale form, a transition someone else took first)."""
    status = 409


class TooMany(UserError):
    status = 429
