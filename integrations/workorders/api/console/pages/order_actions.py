"""The dispatcher's actions on ``/console/orders/{number}``: one small form each.

Each POST checks the order like the API's routers (``api.access.staff_order``:
outside the user's areas is a 404 page), calls the same use case with the
signed-in staff member as the actor (``staff:<username>``), and redirects back
to the order with a Chinese message (POST-redirect-GET):

    assign      service.reassign (a handler within the user's areas, or the policy)
    reclassify  service.reclassify (重新分类)
    priority    service.set_priority
    note        service.add_staff_note (internal, or sent to the resident)
    withdraw    service.cancel_by_staff (with a reason)
    reopen      service.reopen (a resolved order)
    contact     service.reveal_contact: an audit event; the phone is shown on the
                page this once (never in a cookie or a redirect)
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ....service import (
    InvalidInput,
    add_staff_note,
    cancel_by_staff,
    get_handler,
    reassign,
    reclassify,
    reopen,
    reveal_contact,
    set_priority,
)
from ...access import require_handler_in_scope, staff_order
from ...deps import StateDep
from ..web import Dispatcher, NowDep, UowDep, flash_response, render, run_action, templates
from .order import order_context
from .order_labels import ORDERS_PATH, order_url

router = APIRouter()
audit_log = logging.getLogger("integrations.workorders.api.audit")

ACTION = f"{ORDERS_PATH}/{{number}}"
Note = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=64)]


def act(request: Request, action: Callable[[], str], back: str) -> Response:
    """``run_action`` whose success message is what ``action`` returns (it names the outcome)."""
    said: list[str] = []
    response = run_action(request, lambda: said.append(action()), "", back)
    return flash_response(back, said[0]) if said else response


def _handler_id(raw: str) -> int | None:
    raw = raw.strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput("handler_id", "not a handler id", "请选择处理人员。")
    return int(raw)


@router.post(f"{ACTION}/assign", include_in_schema=False)
def assign_order(request: Request, number: str, user: Dispatcher, uow: UowDep, now: NowDep,
                 handler_id: Short = "", reason: Note = "") -> Response:
    order = staff_order(uow, user.principal, number)

    def run() -> str:
        target = _handler_id(handler_id)
        if target is not None:
            require_handler_in_scope(uow, user.principal, target,
                                     reason_zh="只能把工单改派给您管辖区域内的处理人员。")
        view = reassign(uow, order.number, target, user.actor, now, reason=reason or None)
        if view.assignee_id is None:
            return "暂时没有可以接单的处理人员，工单已转入待派单。"
        return f"已派给{get_handler(uow, view.assignee_id).name}。"

    return act(request, run, order_url(order.number))


@router.post(f"{ACTION}/reclassify", include_in_schema=False)
def reclassify_order(request: Request, number: str, user: Dispatcher, uow: UowDep,
                     now: NowDep, category: Short = "", note: Note = "") -> Response:
    order = staff_order(uow, user.principal, number)

    def run() -> str:
        done = reclassify(uow, order.number, category, user.actor, now, note=note or None)
        audit_log.info("%s reclassified order %s from %s to %s", user.actor, order.number,
                       done.from_category, done.order.category)
        return f"已重新分类为「{done.order.category_name}」，并重新派单。"

    return act(request, run, order_url(order.number))


@router.post(f"{ACTION}/priority", include_in_schema=False)
def priority_order(request: Request, number: str, user: Dispatcher, uow: UowDep, now: NowDep,
                   priority: Short = "", reason: Note = "") -> Response:
    order = staff_order(uow, user.principal, number)
    message = "已设为紧急，时限已相应缩短。" if priority == "urgent" else "已恢复为一般。"
    return run_action(
        request,
        lambda: set_priority(uow, order.number, priority, user.actor, now, reason=reason or None),
        message, order_url(order.number))


@router.post(f"{ACTION}/note", include_in_schema=False)
def note_order(request: Request, number: str, user: Dispatcher, uow: UowDep, now: NowDep,
               note: Note = "", to_resident: Short = "") -> Response:
    order = staff_order(uow, user.principal, number)
    public = to_resident in ("1", "true", "on", "yes")
    return run_action(
        request,
        lambda: add_staff_note(uow, order.number, user.actor, note, now, to_resident=public),
        "已发送给反映人。" if public else "内部备注已保存。", order_url(order.number))


@router.post(f"{ACTION}/withdraw", include_in_schema=False)
def withdraw_order(request: Request, number: str, user: Dispatcher, uow: UowDep, now: NowDep,
                   reason: Note = "") -> Response:
    order = staff_order(uow, user.principal, number)
    return run_action(
        request, lambda: cancel_by_staff(uow, order.number, user.actor, reason, now),
        "工单已撤销，已告知反映人。", order_url(order.number))


@router.post(f"{ACTION}/reopen", include_in_schema=False)
def reopen_order(request: Request, number: str, user: Dispatcher, uow: UowDep, now: NowDep,
                 reason: Note = "") -> Response:
    order = staff_order(uow, user.principal, number)
    return run_action(
        request, lambda: reopen(uow, order.number, user.actor, reason or None, now),
        "工单已重新办理，并重新派单。", order_url(order.number))


@router.post(f"{ACTION}/contact", include_in_schema=False)
def reveal_order_contact(request: Request, number: str, user: Dispatcher, uow: UowDep,
                         now: NowDep, state: StateDep) -> Response:
    """Reveal the reporter's phone (an audit event) and show it on this answer only."""
    order = staff_order(uow, user.principal, number)
    phone = reveal_contact(uow, order.number, user.actor, now)
    state.telemetry.contact_reveals.inc()
    audit_log.info("contact revealed: order=%s actor=%s had_contact=%s (console)",
                   order.number, user.actor, phone is not None)
    if request.headers.get("HX-Request"):
        response = templates.TemplateResponse(
            request, "orders/contact.html", {"contact": phone, "revealed": True, "order": order})
        response.headers["Cache-Control"] = "no-store"
        return response
    context = order_context(uow, user, order, now, contact=phone, revealed=True)
    return render(request, "orders/detail.html", user, **context)
