"""``/console/my`` (我的工单): a handler's own orders, on a phone first.

- ``GET /console/my``: the orders assigned to the signed-in handler, the open
  ones first (urgent, then the nearest deadline), then the recently finished
  ones; each with its status, and a countdown to its deadline.
- ``GET /console/my/{number}``: the order (description, place, photos, the
  timeline of its audit events) and the actions its status allows: 签收
  (accept), 退回 (decline, with a reason), 反馈进展 (progress note), 办结
  (resolve, with a note the resident receives). Each is a form:
  POST -> use case -> redirect with a flash (PRG).
- ``GET /console/my/{number}/photos/{id}``: a photo's bytes, for the order's
  assignee only.

The rules are the API's: ``api.access.acting_handler`` (a handler acts for
themself, on their own order; 404 otherwise, like a number that does not
exist) and the use cases ``service.accept/decline/progress/resolve``, which
audit the act as ``handler:<id>`` and tell the resident, exactly as the API
and the Telegram buttons do.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ....domain.lifecycle import OPEN_STATUSES, Action, allowed_actions
from ....service import (
    NotFound,
    OrderFilters,
    OrderView,
    UnitOfWork,
    accept,
    decline,
    get_attachment_file,
    history,
    list_attachments,
    list_orders,
    progress,
    resolve,
)
from ....service.handling import ANSWERED_KINDS
from ...access import acting_handler, staff_order
from ..web import (
    PREFIX,
    ConsoleUser,
    HandlerUser,
    NowDep,
    UowDep,
    flash_response,
    render,
    run_action,
)
from .order_labels import handlers_by_id, note_text

router = APIRouter()
audit_log = logging.getLogger("integrations.workorders.api.audit")

MY = f"{PREFIX}/my"
#: Finished orders shown under the open ones: this many, of this many days.
RECENT_DONE = 20
RECENT_DAYS = 30
DONE_STATUSES = ("resolved", "closed", "archived")
NoteField = Annotated[str, Form(max_length=4000)]
#: Audit actions whose note is for machines ("handler:3 tier:grid"), not shown to people.
MACHINE_NOTES = frozenset({"dispatch", "queue"})


@dataclass(frozen=True)
class Deadline:
    """What the list shows about an order's next deadline: ``text`` and whether it is late."""

    text: str
    late: bool
    soon: bool


def _span(delta: timedelta) -> str:
    seconds = abs(int(delta.total_seconds()))
    if seconds < 3600:
        return f"{max(1, seconds // 60)}分钟"
    if seconds < 86400 * 2:
        return f"{seconds // 3600}小时"
    return f"{seconds // 86400}天"


def deadline_of(order: OrderView, now: datetime) -> Deadline | None:
    """``还剩2小时签收`` / ``签收已超时30分钟`` for an assigned order, the same for 办结 once
    accepted; None when the order is not open."""
    if order.status == "assigned" and order.accept_by is not None:
        due, verb = order.accept_by, "签收"
    elif order.status in ("accepted", "in_progress"):
        due, verb = order.resolve_by, "办结"
    else:
        return None
    left = due - now
    if left.total_seconds() < 0:
        return Deadline(f"{verb}已超时{_span(left)}", late=True, soon=False)
    return Deadline(f"还剩{_span(left)}{verb}", late=False,
                    soon=left <= timedelta(hours=2 if verb == "签收" else 24))


def _handler_id(user: ConsoleUser) -> int:
    if user.principal.handler_id is None:  # an account linked to no handler has no orders
        raise NotFound("order", "-", "您的账号未关联处理人员，暂无工单。")
    return user.principal.handler_id


def my_orders(uow: UnitOfWork, handler_id: int, now: datetime) -> tuple[list[OrderView],
                                                                          list[OrderView]]:
    """The handler's open orders (urgent first, then the nearest deadline) and their
    finished ones of the last ``RECENT_DAYS`` days (newest first)."""
    open_page = list_orders(uow, OrderFilters(
        statuses=sorted(s.value for s in OPEN_STATUSES), assignee_id=handler_id), limit=200)

    def urgency(order: OrderView) -> tuple[int, datetime]:
        due = order.accept_by if order.status == "assigned" and order.accept_by else \
            order.resolve_by
        return (0 if order.priority == "urgent" else 1, due)

    done_page = list_orders(uow, OrderFilters(
        statuses=DONE_STATUSES, assignee_id=handler_id,
        created_from=now - timedelta(days=RECENT_DAYS)), limit=RECENT_DONE)
    return sorted(open_page.items, key=urgency), done_page.items


@router.get(MY, include_in_schema=False)
def my_list(request: Request, user: HandlerUser, uow: UowDep, now: NowDep) -> Response:
    open_orders, done = my_orders(uow, _handler_id(user), now)
    return render(request, "my/list.html", user, now=now, open_orders=open_orders, done=done,
                  deadlines={o.number: deadline_of(o, now) for o in open_orders})


def actor_label(actor: str, my_id: int, names: dict[int, str]) -> str:
    """Who did it, as the timeline shows it (never a resident's id)."""
    kind, _, rest = actor.partition(":")
    if kind == "handler" and rest.isdigit():
        return "我" if int(rest) == my_id else names.get(int(rest), "处理人员")
    if kind == "staff":
        return f"工作人员 {rest}"
    return {"resident": "居民", "system": "系统"}.get(actor, actor)


@router.get(MY + "/{number}", include_in_schema=False)
def my_order(request: Request, number: str, user: HandlerUser, uow: UowDep,
             now: NowDep) -> Response:
    my_id = _handler_id(user)
    order = staff_order(uow, user.principal, number)  # another's order: a 404 page
    events = history(uow, order.number)
    handlers = handlers_by_id(uow)
    names = {handler_id: h.name for handler_id, h in handlers.items()}
    allowed = allowed_actions(order.status)
    return render(
        request, "my/order.html", user, now=now, order=order,
        deadline=deadline_of(order, now),
        photos=list_attachments(uow, order.number),
        events=[(e, actor_label(e.actor, my_id, names),
                 None if e.action in MACHINE_NOTES
                 else note_text(e.note, handlers, uow.config.taxonomy) or None)
                for e in reversed(events)],
        can={"accept": Action.ACCEPT in allowed, "decline": Action.DECLINE in allowed,
             "progress": Action.PROGRESS in allowed, "resolve": Action.RESOLVE in allowed},
        answer_required=order.kind in ANSWERED_KINDS,
    )


@router.get(MY + "/{number}/photos/{attachment_id}", include_in_schema=False)
def my_photo(number: str, attachment_id: str, user: HandlerUser, uow: UowDep) -> Response:
    order = staff_order(uow, user.principal, number)
    photo = get_attachment_file(uow, attachment_id)
    if photo.order_number != order.number:
        raise NotFound("attachment", attachment_id)
    audit_log.info("attachment viewed: id=%s order=%s actor=%s",
                   photo.id, order.number, user.actor)
    return Response(content=photo.data, media_type=photo.content_type,
                    headers={"Cache-Control": "private, no-store",
                             "X-Content-Type-Options": "nosniff"})


def _act(
    request: Request, user: ConsoleUser, uow: UnitOfWork, number: str,
    use_case: Callable[[str, int], object], ok: str, *, back: str | None = None,
) -> Response:
    """Check the handler may act on ``number`` (404 page otherwise), then PRG."""
    handler_id = acting_handler(uow, user.principal, number, None)
    order = staff_order(uow, user.principal, number)
    return run_action(request, lambda: use_case(order.number, handler_id), ok,
                      back or f"{MY}/{order.number}")


@router.post(MY + "/{number}/accept", include_in_schema=False)
def my_accept(request: Request, number: str, user: HandlerUser, uow: UowDep,
              now: NowDep) -> Response:
    return _act(request, user, uow, number, lambda n, h: accept(uow, n, h, now),
                "已签收，请及时处理。")


@router.post(MY + "/{number}/decline", include_in_schema=False)
def my_decline(request: Request, number: str, user: HandlerUser, uow: UowDep, now: NowDep,
               reason: NoteField = "") -> Response:
    if not reason.strip():
        order = staff_order(uow, user.principal, number)
        return flash_response(f"{MY}/{order.number}", "请填写退回原因。", error=True)
    return _act(request, user, uow, number,
                lambda n, h: decline(uow, n, h, reason, now),
                "已退回，工单将改派给其他处理人员。", back=MY)


@router.post(MY + "/{number}/progress", include_in_schema=False)
def my_progress(request: Request, number: str, user: HandlerUser, uow: UowDep, now: NowDep,
                note: NoteField = "") -> Response:
    return _act(request, user, uow, number,
                lambda n, h: progress(uow, n, h, note or None, now), "进展已记录。")


@router.post(MY + "/{number}/resolve", include_in_schema=False)
def my_resolve(request: Request, number: str, user: HandlerUser, uow: UowDep, now: NowDep,
               note: NoteField = "") -> Response:
    return _act(request, user, uow, number,
                lambda n, h: resolve(uow, n, h, note or None, now),
                "已办结，居民会收到通知并进行评价。")
