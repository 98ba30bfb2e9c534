"""What staff do with a 研判预警 warning: acknowledge it (知悉, with a note) and close it.

    acknowledge: open → acknowledged          close: open | acknowledged → closed

Each change writes a ``warning_events`` row (``actor`` as the audit names staff,
``staff:alice``; the warning's level at that moment; the note) and sets
``updated_at``. The warning row is not locked while it is read: its ``version``
column makes a concurrent change (another person, the detector raising its level)
a ``Conflict`` for the later writer instead of a lost update.

``scope`` as in ``warning_queries``: a warning outside it is ``NotFound``.
"""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime

from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import StaleDataError

from ..adapters.orm import RiskWarning, WarningEvent
from .common import clean_text, require_aware
from .errors import Conflict, NotFound
from .uow import UnitOfWork
from .warning_queries import WarningView, in_scope, warning_view

#: The longest note a person may leave when acknowledging or closing a warning.
MAX_WARNING_NOTE = 500

OPEN, ACKNOWLEDGED, CLOSED = "open", "acknowledged", "closed"
ACKNOWLEDGE, CLOSE = "acknowledge", "close"


def acknowledge(
    uow: UnitOfWork, warning_id: int, *, note: str | None, actor: str, now: datetime,
    scope: Collection[str] | None,
) -> WarningView:
    """Someone has seen the warning and says what is being done (``note`` required,
    at most 500 characters): open → acknowledged. ``Conflict`` if it is not open
    (acknowledged or closed already, or changed meanwhile)."""
    require_aware(now)
    who, text = _who(actor), _note(note)
    with uow:
        session = uow.session
        warning = _visible(session, warning_id, scope)
        if warning.state == ACKNOWLEDGED:
            raise Conflict(f"warning {warning_id} is acknowledged already",
                           "该预警已知悉，无需重复操作。")
        if warning.state != OPEN:
            raise Conflict(f"warning {warning_id} is {warning.state}",
                           "该预警已关闭，不能再标记知悉。")
        warning.state = ACKNOWLEDGED
        warning.acknowledged_at = now
        warning.acknowledged_by = who
        warning.ack_note = text
        return _commit(uow, warning, ACKNOWLEDGE, who, text, now, scope)


def close(
    uow: UnitOfWork, warning_id: int, *, note: str | None, actor: str, now: datetime,
    scope: Collection[str] | None,
) -> WarningView:
    """The warning needs nothing more (``note`` required, at most 500 characters: what
    was done or why it was a false alarm): open or acknowledged → closed. ``Conflict``
    if it is closed already (or changed meanwhile)."""
    require_aware(now)
    who, text = _who(actor), _note(note)
    with uow:
        session = uow.session
        warning = _visible(session, warning_id, scope)
        if warning.state == CLOSED:
            raise Conflict(f"warning {warning_id} is closed already",
                           "该预警已关闭，无需重复操作。")
        warning.state = CLOSED
        warning.closed_at = now
        warning.closed_by = who
        warning.close_note = text
        return _commit(uow, warning, CLOSE, who, text, now, scope)


# --------------------------------------------------------------------- helpers


def _who(actor: str) -> str:
    who = clean_text(actor, "actor", limit=80, required=True)
    assert who is not None
    return who


def _note(note: str | None) -> str:
    text = clean_text(note, "note", limit=MAX_WARNING_NOTE, required=True)
    assert text is not None
    return text


def _load(session: Session, warning_id: int) -> RiskWarning | None:
    """The warning as it is now (no row lock: the version column guards the write)."""
    return session.get(RiskWarning, warning_id, populate_existing=True)


def _visible(session: Session, warning_id: int, scope: Collection[str] | None) -> RiskWarning:
    warning = _load(session, warning_id)
    if warning is None or not in_scope(session, warning.area_code, scope):
        raise NotFound("warning", warning_id)
    return warning


def _commit(uow: UnitOfWork, warning: RiskWarning, action: str, who: str, note: str,
            now: datetime, scope: Collection[str] | None) -> WarningView:
    """Write the change and its event; a concurrent change of the row is ``Conflict``."""
    session, warning_id = uow.session, warning.id
    warning.updated_at = now
    session.add(WarningEvent(warning_id=warning.id, action=action, actor=who, at=now,
                             level=warning.level, note=note))
    try:
        session.flush()
    except StaleDataError as exc:
        session.rollback()
        raise Conflict(f"warning {warning_id} was changed meanwhile: {exc}",
                       "该预警刚被他人更新，请刷新后重试。") from exc
    view = warning_view(session, warning_id, scope=scope, taxonomy=uow.config.taxonomy)
    uow.commit()
    return view
