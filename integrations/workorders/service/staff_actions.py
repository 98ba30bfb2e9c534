"""What dispatchers (事件调度员) do to orders: reassign and reopen.

Callers check the staff role and area before calling (the HTTP layer);
``actor`` is recorded as given, e.g. ``"staff:alice"``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from ..adapters import store
from ..adapters.orm import Handler, WorkOrder
from ..domain.dispatch import URGENT_RULE, OrderToDispatch, has_room, may_overflow
from ..domain.lifecycle import Action, Status, apply
from ..domain.taxonomy import Priority
from . import messages, outbox
from .audit_trail import transition
from .common import MAX_NOTE, clean_text, lock_order, order_view, require_aware
from .dispatching import after_capacity_freed, assign, dispatch, handler_state
from .errors import Conflict, NotFound
from .linked import is_linked
from .resident_actions import reopen_order
from .uow import UnitOfWork
from .views import OrderView


def _actor(actor: str) -> str:
    cleaned = clean_text(actor, "actor", limit=80, required=True)
    assert cleaned is not None
    return cleaned


def reassign(
    uow: UnitOfWork,
    number: str,
    handler_id: int | None,
    actor: str,
    now: datetime,
    *,
    reason: str | None = None,
) -> OrderView:
    """Move an assigned or pending order to another handler, or back to the policy.

    An assigned order is first taken back (event ``decline`` by ``actor``, the
    previous assignee told they need not go). Then, with ``handler_id``, a
    direct assignment at that handler's tier: the dispatcher may override
    skills, areas and earlier declines, but not role, duty or capacity
    (``Conflict``), where capacity is what the dispatch rule allows: room for
    the order (a normal one below a county handler's urgent reserve), or for
    an urgent order a handler not over capacity yet (they go over by this one
    order at most). With ``handler_id`` None the dispatch policy chooses,
    excluding the previous assignee; if nobody is free the order stays
    pending. Accepted or later orders cannot be reassigned
    (``IllegalTransition``): escalation covers them.
    """
    require_aware(now)
    who = _actor(actor)
    note = clean_text(reason, "reason", limit=MAX_NOTE, required=False)
    freed = False
    with uow:
        session, cfg = uow.session, uow.config
        order = lock_order(session, number)
        if order.status == Status.ASSIGNED.value:
            previous = order.assignee_id
            if handler_id is not None and handler_id == previous:
                raise Conflict("the order is already assigned to this handler",
                               "该工单已指派给此处理人员。")
            _take_back(uow, order, who, note, now, exclude=handler_id is None)
            freed = True
        else:
            apply(order.status, Action.DISPATCH)  # IllegalTransition unless new/pending/reopened
            if is_linked(order):
                raise Conflict(f"order {order.number} is linked under a parent order",
                               "该工单已与其他工单合并办理，请处理主工单。")
        if handler_id is None:
            dispatch(uow, order, now, actor=who, notify_if_queued=False)
        else:
            _assign_directly(uow, order, handler_id, who, now)
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    if freed:
        after_capacity_freed(uow, now)
    return view


def _take_back(
    uow: UnitOfWork, order: WorkOrder, actor: str, note: str | None, now: datetime, *,
    exclude: bool,
) -> None:
    session, cfg = uow.session, uow.config
    previous = order.assignee_id
    event = transition(session, order, Action.DECLINE, actor=actor, at=now,
                       note=f"reassign handler:{previous}" + (f" {note}" if note else ""),
                       handler_id=previous)
    order.assignee_id = None
    order.accept_by = None
    if previous is not None:
        if exclude:
            store.add_decline(session, order.id, previous, now)
        handler = session.get_one(Handler, previous)
        outbox.to_handler(session, cfg, order, handler, seq=event.seq, now=now,
                          topic=outbox.TOPIC_WITHDRAWN,
                          text=messages.withdrawn_reassigned(order.number))
    session.flush()


def _assign_directly(
    uow: UnitOfWork, order: WorkOrder, handler_id: int, actor: str, now: datetime
) -> None:
    session, cfg = uow.session, uow.config
    locked = store.lock_handlers(session, [handler_id])
    if not locked:
        raise NotFound("handler", handler_id)
    handler = locked[0]
    if handler.role != cfg.taxonomy.handler_role(order.kind):
        raise Conflict(f"handler {handler_id} is a {handler.role}, not for {order.kind}",
                       "该处理人员的岗位与事项类型不符。")
    if not handler.on_duty:
        raise Conflict(f"handler {handler_id} is off duty", "该处理人员不在岗。")
    load = store.handler_loads(session, [handler_id])[handler_id]
    state = handler_state(handler, load, 0)
    request = OrderToDispatch(kind=order.kind, category=order.category,
                              priority=Priority.parse(order.priority),
                              area_by_tier={}, tier=handler.tier)
    over = not has_room(state, request, URGENT_RULE)
    if over and not (URGENT_RULE.overflow and may_overflow(state, request)):
        reserved = URGENT_RULE.reserved_at(handler.tier)
        if reserved and has_room(state, request, replace(URGENT_RULE, reserve={})):
            raise Conflict(
                f"handler {handler_id}'s last {reserved} units are kept for urgent orders "
                f"(load {load}/{handler.capacity})",
                f"该处理人员最后{reserved}个承办名额留给紧急工单。")
        raise Conflict(f"handler {handler_id} has no room (load {load}/{handler.capacity})",
                       "该处理人员手头工单已满。")
    assign(uow, order, handler, handler.tier, now, actor=actor, over_capacity=over)


def reopen(
    uow: UnitOfWork, number: str, actor: str, reason: str | None, now: datetime
) -> OrderView:
    """Reopen a resolved order (e.g. after a follow-up call) and dispatch it again.

    Recorded as ``unsatisfied`` by ``actor``, with fresh time limits; closed
    orders cannot be reopened (``IllegalTransition``): a new report is needed.
    """
    require_aware(now)
    who = _actor(actor)
    note = clean_text(reason, "reason", limit=MAX_NOTE, required=False)
    with uow:
        order = lock_order(uow.session, number)
        reopen_order(uow, order, actor=who, note=note, now=now)
        view = order_view(order, uow.config.taxonomy)
        uow.commit()
    return view
