"""What an assignee does with an order: accept (签收), decline, report progress, resolve (办结)."""

from __future__ import annotations

from datetime import datetime

from ..adapters import store
from ..adapters.orm import WorkOrder
from ..domain.lifecycle import Action, Status
from . import messages, outbox
from .audit_trail import transition
from .common import MAX_NOTE, clean_text, lock_order, order_view, require_aware
from .dispatching import after_capacity_freed, dispatch
from .errors import Forbidden, InvalidInput
from .linking import resolve_children
from .uow import UnitOfWork
from .views import OrderView

#: Kinds whose resolve note is the answer the reporter receives (其他诉求: a question,
#: a suggestion, a complaint is answered, or told where it was passed on).
ANSWERED_KINDS = frozenset({"request"})


def _require_assignee(order: WorkOrder, handler_id: int) -> None:
    if order.assignee_id != handler_id:
        raise Forbidden(
            f"handler {handler_id} is not the assignee of order {order.number}",
            "该工单未指派给您。",
        )


def accept(uow: UnitOfWork, number: str, handler_id: int, now: datetime) -> OrderView:
    """The assignee accepts (签收) an assigned order; the resident is told."""
    require_aware(now)
    with uow:
        session = uow.session
        order = lock_order(session, number)
        _require_assignee(order, handler_id)
        event = transition(session, order, Action.ACCEPT, actor=f"handler:{handler_id}", at=now,
                           handler_id=handler_id)
        order.accepted_at = now
        outbox.to_resident(session, uow.config, order, seq=event.seq, now=now, event="accepted")
        view = order_view(order, uow.config.taxonomy)
        uow.commit()
    return view


def decline(
    uow: UnitOfWork, number: str, handler_id: int, reason: str | None, now: datetime
) -> OrderView:
    """The assignee gives an assigned order back; it is re-dispatched at once.

    The decliner is remembered and never chosen for this order again; the
    search starts at the order's current tier (and goes up if nobody there
    is free). If nobody is, the order waits as pending and the dispatcher is
    told. Residents are not told (re-dispatch is internal).
    """
    require_aware(now)
    note = clean_text(reason, "reason", limit=MAX_NOTE, required=False)
    with uow:
        session = uow.session
        order = lock_order(session, number)
        _require_assignee(order, handler_id)
        transition(session, order, Action.DECLINE, actor=f"handler:{handler_id}", at=now,
                   note=note, handler_id=handler_id)
        store.add_decline(session, order.id, handler_id, now)
        order.assignee_id = None
        order.accept_by = None
        session.flush()
        dispatch(uow, order, now)
        view = order_view(order, uow.config.taxonomy)
        uow.commit()
    after_capacity_freed(uow, now)
    return view


def progress(
    uow: UnitOfWork, number: str, handler_id: int, note: str | None, now: datetime
) -> OrderView:
    """A progress note (处置); the first one moves accepted -> in_progress.

    The resident is told when the status changes (not on every note; notes
    are for the record and may be internal).
    """
    require_aware(now)
    text = clean_text(note, "note", limit=MAX_NOTE, required=False)
    with uow:
        session = uow.session
        order = lock_order(session, number)
        _require_assignee(order, handler_id)
        before = order.status
        event = transition(session, order, Action.PROGRESS, actor=f"handler:{handler_id}", at=now,
                           note=text, handler_id=handler_id)
        if before != Status.IN_PROGRESS.value:
            outbox.to_resident(session, uow.config, order, seq=event.seq, now=now,
                               event="in_progress")
        view = order_view(order, uow.config.taxonomy)
        uow.commit()
    return view


def resolve(
    uow: UnitOfWork, number: str, handler_id: int, note: str | None, now: datetime
) -> OrderView:
    """The assignee resolves (办结) the order; the resident is told and asked for satisfaction.

    For a request (``ANSWERED_KINDS``) the note is the answer: it is required
    (``InvalidInput``) and the resident's message quotes it. For a dispute or an
    incident the note, if any, is quoted as the result (handlers write notes
    knowing the resident reads them, as ``resident_view`` shows them too). The handler's
    capacity frees, so queued orders are dispatched afterwards.
    """
    require_aware(now)
    text = clean_text(note, "note", limit=MAX_NOTE, required=False)
    with uow:
        session = uow.session
        order = lock_order(session, number)
        _require_assignee(order, handler_id)
        answered = order.kind in ANSWERED_KINDS
        if answered and text is None:
            raise InvalidInput("note", "a request is resolved with its answer",
                               "请填写给居民的答复内容。")
        event = transition(session, order, Action.RESOLVE, actor=f"handler:{handler_id}", at=now,
                           note=text, handler_id=handler_id)
        order.resolved_at = now
        # the note reaches the resident: a request's as its answer, the others' as the result
        outbox.to_resident(
            session, uow.config, order, seq=event.seq, now=now, event="resolved",
            answer=text if answered else None,
            text=messages.resolved_with_note(order.number, text) if text and not answered
            else None)
        resolve_children(uow, order, note=text, now=now)  # orders merged into it (合并办理)
        view = order_view(order, uow.config.taxonomy)
        uow.commit()
    after_capacity_freed(uow, now)
    return view
