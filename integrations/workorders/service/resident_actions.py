"""What a resident does after reporting: answer the follow-up (回访), cancel, add a report.

A resident reaches only their own orders: an order reported through another
``reporter_ref`` is ``NotFound`` for them, exactly like a number that does not
exist, so nobody can probe other people's orders.
"""

from __future__ import annotations

from datetime import datetime

from ..adapters.orm import Handler, WorkOrder
from ..domain.lifecycle import OPEN_STATUSES, Action
from . import messages, outbox
from .audit_trail import REPORT, record, transition
from .common import MAX_DESCRIPTION, MAX_NOTE, clean_text, lock_order, order_view, require_aware
from .dispatching import after_capacity_freed, dispatch
from .errors import Conflict, InvalidInput, NotFound
from .linking import release_children
from .queries import BEING_HANDLED
from .uow import UnitOfWork
from .views import SATISFACTION_LABELS, OrderView


def _own_order(uow: UnitOfWork, number: str, reporter_ref: str) -> WorkOrder:
    order = lock_order(uow.session, number)
    if order.reporter_ref != reporter_ref:
        raise NotFound("order", number)
    return order


def answer_satisfaction(
    uow: UnitOfWork,
    number: str,
    reporter_ref: str,
    answer: str,
    reason: str | None,
    now: datetime,
) -> OrderView:
    """The reporter's follow-up answer on a resolved order.

    ``satisfied`` / ``basically_satisfied`` close it (回访); ``unsatisfied``
    reopens it with fresh time limits and dispatches it again. ``InvalidInput``
    for another answer; ``IllegalTransition`` if the order is not resolved.
    """
    require_aware(now)
    if answer not in SATISFACTION_LABELS:
        raise InvalidInput(
            "answer", f"must be one of {', '.join(SATISFACTION_LABELS)}",
            "请回复“满意”“基本满意”或“不满意”。",
        )
    why = clean_text(reason, "reason", limit=MAX_NOTE, required=False)
    note = SATISFACTION_LABELS[answer] + (f"：{why}" if why else "")
    with uow:
        session = uow.session
        order = _own_order(uow, number, reporter_ref)
        if answer == "unsatisfied":
            reopen_order(uow, order, actor="resident", note=note, now=now)
        else:
            event = transition(session, order, Action.SATISFIED, actor="resident", at=now,
                               note=note)
            order.closed_at = now
            outbox.to_resident(session, uow.config, order, seq=event.seq, now=now,
                               event="closed")
        order.satisfaction = answer
        view = order_view(order, uow.config.taxonomy)
        uow.commit()
    return view


def reopen_order(uow: UnitOfWork, order: WorkOrder, *, actor: str, note: str | None,
                 now: datetime) -> None:
    """resolved -> reopened (``unsatisfied``) with fresh limits, then dispatch again."""
    session, cfg = uow.session, uow.config
    event = transition(session, order, Action.UNSATISFIED, actor=actor, at=now, note=note)
    order.parent_id = None  # resolved with a parent (合并办理), reopened: handled on its own
    order.assignee_id = None
    order.accept_by = None
    order.accepted_at = None
    order.resolved_at = None
    order.resolve_by = cfg.taxonomy.deadlines(order.category, order.priority, now).resolve_by
    order.overdue_notified_at = None
    order.resolve_reminded_at = None
    outbox.to_resident(session, cfg, order, seq=event.seq, now=now, event="reopened")
    session.flush()
    dispatch(uow, order, now)


def cancel(uow: UnitOfWork, number: str, reporter_ref: str, now: datetime) -> OrderView:
    """The reporter withdraws their report, before it is being handled on site.

    Allowed while new, pending, assigned or accepted (``IllegalTransition``
    otherwise); only for the reporter (``NotFound`` for anyone else). The
    assignee, if any, is told they need not go; their capacity frees.
    """
    require_aware(now)
    with uow:
        session, cfg = uow.session, uow.config
        order = _own_order(uow, number, reporter_ref)
        held = order.status in {s.value for s in OPEN_STATUSES}
        event = transition(session, order, Action.CANCEL, actor="resident", at=now)
        if held and order.assignee_id is not None:
            handler = session.get_one(Handler, order.assignee_id)
            outbox.to_handler(session, cfg, order, handler, seq=event.seq, now=now,
                              topic=outbox.TOPIC_WITHDRAWN,
                              text=messages.withdrawn_cancelled(order.number))
        outbox.to_resident(session, cfg, order, seq=event.seq, now=now, event="cancelled")
        release_children(uow, order, now=now)  # orders merged into it are handled on their own
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    if held:
        after_capacity_freed(uow, now)
    return view


def attach_report_to(
    uow: UnitOfWork, number: str, reporter_ref: str, description: str, now: datetime
) -> OrderView:
    """Add a further report of the same matter to an order being handled (an event).

    The description goes into the order's history (actor ``resident`` if it
    is the reporter, ``co-reporter`` otherwise; the other person's channel id
    is not recorded); the assignee is told to look. ``Conflict`` once the
    order is resolved, closed or cancelled: report anew then.
    """
    require_aware(now)
    text = clean_text(description, "description", limit=MAX_DESCRIPTION, required=True)
    with uow:
        session, cfg = uow.session, uow.config
        order = lock_order(session, number)
        if order.status not in BEING_HANDLED:
            raise Conflict(
                f"order {order.number} is {order.status}: no further reports",
                "该工单已办结或已撤销，请重新反映。",
            )
        actor = "resident" if order.reporter_ref == reporter_ref else "co-reporter"
        event = record(session, order, action=REPORT, actor=actor, at=now,
                       from_status=order.status, to_status=order.status, note=text)
        if order.assignee_id is not None and order.status in {s.value for s in OPEN_STATUSES}:
            handler = session.get_one(Handler, order.assignee_id)
            outbox.to_handler(session, cfg, order, handler, seq=event.seq, now=now,
                              topic=outbox.TOPIC_REPORT_ADDED,
                              text=messages.report_added(order.number))
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    return view

