"""The staff access log: who revealed personal data or changed an account, outside an
order's audit chain (``adapters.orm.StaffAccessLog``).

Rows are written in the transaction of what they record; ``access_log`` reads them
back, newest first.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters.orm import StaffAccessLog
from .common import clean_text, require_aware
from .uow import UnitOfWork

CALLBACK_TRANSCRIPT_REVEALED = "callback_transcript_revealed"
STAFF_CREATED = "staff_created"
STAFF_UPDATED = "staff_updated"
PASSWORD_SET = "password_set"
STAFF_DISABLED = "staff_disabled"
STAFF_ENABLED = "staff_enabled"


@dataclass(frozen=True)
class AccessEntry:
    """One row of the staff access log."""

    id: int
    at: datetime
    actor: str
    action: str
    subject: str


def log_access(session: Session, *, actor: str, action: str, subject: str, at: datetime) -> None:
    """Add a row in the caller's transaction (``actor`` as the audit names staff)."""
    require_aware(at)
    who = clean_text(actor, "actor", limit=80, required=True)
    assert who is not None
    session.add(StaffAccessLog(at=at, actor=who, action=action, subject=subject[:128]))


def access_log(
    uow: UnitOfWork, *, subject: str | None = None, limit: int = 100
) -> list[AccessEntry]:
    """The newest rows (of ``subject``, e.g. ``callback:12``, if given), at most ``limit``."""
    stmt = select(StaffAccessLog).order_by(StaffAccessLog.at.desc(), StaffAccessLog.id.desc())
    if subject is not None:
        stmt = stmt.where(StaffAccessLog.subject == subject)
    with uow.read_only():
        return [
            AccessEntry(id=r.id, at=r.at, actor=r.actor, action=r.action, subject=r.subject)
            for r in uow.session.scalars(stmt.limit(max(1, min(limit, 500))))
        ]
