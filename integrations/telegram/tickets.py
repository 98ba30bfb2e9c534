"""What handlers and residents see of an order in Telegram: texts and keyboards.

Pure functions of the data (an outbox ``Delivery`` or an order as the API
returns it to staff): no bot, no network, no clock. A ticket shows the order's
essentials (number, category, place, priority, deadline, status) and never
anything about the reporter.

Ticket buttons carry ``t:<action>:<number>`` as callback data, ``action`` one
of ``acc`` (接单), ``dec`` (拒单), ``prg`` (处理中), ``res`` (已办结), ``rcl``
(转类: show the categories) and ``bck`` (返回: the ticket's own buttons again);
a category picked after 转类 carries ``t:to:<number>:<category code>``. Anything
else is refused by ``parse_callback``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from aiogram.types import (
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    ReplyKeyboardMarkup,
)

from integrations.shared.delivery import Delivery

from .categories import Category

__all__ = [
    "ACCEPT",
    "ACTIONS",
    "BACK",
    "DECLINE",
    "PROGRESS",
    "RECLASSIFY",
    "RESOLVE",
    "TO",
    "TicketAction",
    "category_keyboard",
    "format_callback",
    "keyboard_for",
    "order_summary",
    "parse_callback",
    "render_delivery",
    "ticket_text",
]

ACCEPT, DECLINE, PROGRESS, RESOLVE = "acc", "dec", "prg", "res"
RECLASSIFY, BACK = "rcl", "bck"
ACTIONS = (ACCEPT, DECLINE, PROGRESS, RESOLVE, RECLASSIFY, BACK)
#: A category picked after 转类 (``t:to:<number>:<code>``).
TO = "to"
BUTTON_LABELS = {ACCEPT: "接单", DECLINE: "拒单", PROGRESS: "处理中", RESOLVE: "已办结",
                 RECLASSIFY: "转类", BACK: "返回"}
CALLBACK_PREFIX = "t"
_CALLBACK = re.compile(r"t:(acc|dec|prg|res|rcl|bck):([0-9]{8})")
_CHOICE = re.compile(r"t:to:([0-9]{8}):([a-z][a-z0-9_]*\.[a-z][a-z0-9_]*)")

#: Times in messages are China time, like the service's own texts.
CHINA_TZ = timezone(timedelta(hours=8), "CST")

#: How a handler reads an order's status (the assignee's view of "assigned" is "to accept").
STATUS_NAMES = {
    "new": "新建",
    "pending": "待派单",
    "assigned": "待签收",
    "accepted": "已签收",
    "in_progress": "处理中",
    "resolved": "已办结",
    "closed": "已结案",
    "archived": "已归档",
    "reopened": "重新办理",
    "cancelled": "已撤销",
}

#: The follow-up answers a resident picks from (the service's SATISFACTION_LABELS).
SATISFACTION_CHOICES = ("满意", "基本满意", "不满意")

# Outbox topics (integrations/workorders/service/outbox.py).
TOPIC_ASSIGNED = "order.assigned"
TOPIC_STATUS = "order.status"
TOPIC_REMINDER = "order.reminder"

Markup = InlineKeyboardMarkup | ReplyKeyboardMarkup


# ----------------------------------------------------------------- callbacks


@dataclass(frozen=True)
class TicketAction:
    """A pressed ticket button: what to do to which order (``category``: for ``TO``)."""

    action: str
    number: str
    category: str | None = None


def format_callback(action: str, number: str) -> str:
    """``t:<action>:<number>``; ``ValueError`` for an unknown action or a malformed number."""
    data = f"{CALLBACK_PREFIX}:{action}:{number}"
    if not _CALLBACK.fullmatch(data):
        raise ValueError(f"not a ticket action: {action!r} on {number!r}")
    return data


def format_choice(number: str, category: str) -> str:
    """``t:to:<number>:<category>``; ``ValueError`` for a malformed number or code."""
    data = f"{CALLBACK_PREFIX}:{TO}:{number}:{category}"
    if not _CHOICE.fullmatch(data) or len(data.encode()) > 64:  # Telegram's limit
        raise ValueError(f"not a category choice: {category!r} on {number!r}")
    return data


def parse_callback(data: str | None) -> TicketAction:
    """The action of a ticket button's callback data; ``ValueError`` for anything else."""
    match = _CALLBACK.fullmatch(data or "")
    if match is not None:
        return TicketAction(action=match.group(1), number=match.group(2))
    choice = _CHOICE.fullmatch(data or "")
    if choice is not None:
        return TicketAction(action=TO, number=choice.group(1), category=choice.group(2))
    raise ValueError("not a ticket button")


def is_ticket_callback(data: str | None) -> bool:
    return data is not None and (
        _CALLBACK.fullmatch(data) is not None or _CHOICE.fullmatch(data) is not None)


# ----------------------------------------------------------------- keyboards


def _button(action: str, number: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(text=BUTTON_LABELS[action],
                                callback_data=format_callback(action, number))


def _inline(number: str, actions: Sequence[str], *rows: Sequence[str]) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(inline_keyboard=[
        [_button(a, number) for a in row] for row in (actions, *rows)
    ])


#: The buttons of a ticket in each status. Progress notes may be repeated
#: (in_progress -> in_progress), so 处理中 stays on an order being handled.
_ACTIONS_BY_STATUS: Mapping[str, tuple[str, ...]] = {
    "assigned": (ACCEPT, DECLINE),
    "accepted": (PROGRESS, RESOLVE),
    "in_progress": (PROGRESS, RESOLVE),
}


def keyboard_for(status: str, number: str) -> InlineKeyboardMarkup | None:
    """The ticket's buttons for an order in ``status`` (None when there is nothing to do):
    its actions, and below them 转类 (the order is really another kind or category)."""
    actions = _ACTIONS_BY_STATUS.get(status)
    return _inline(number, actions, (RECLASSIFY,)) if actions else None


def category_keyboard(categories: Sequence[Category], number: str, current: str | None
                      ) -> InlineKeyboardMarkup:
    """转类: every category but ``current``, two a row, in the given order (kind by kind);
    then 返回."""
    choices = [
        InlineKeyboardButton(text=c.name, callback_data=format_choice(number, c.code))
        for c in categories
        if c.code != current
    ]
    rows = [choices[i:i + 2] for i in range(0, len(choices), 2)]
    return InlineKeyboardMarkup(inline_keyboard=[*rows, [_button(BACK, number)]])


def satisfaction_keyboard(labels: Sequence[str] = SATISFACTION_CHOICES) -> ReplyKeyboardMarkup:
    return ReplyKeyboardMarkup(
        keyboard=[[KeyboardButton(text=label) for label in labels]],
        one_time_keyboard=True, resize_keyboard=True,
    )


# --------------------------------------------------------------------- texts


def _when(value: Any) -> str | None:
    """``3月3日09:30`` (China time) of an ISO timestamp or a datetime; None if absent."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(CHINA_TZ)
    return f"{local.month}月{local.day}日{local.strftime('%H:%M')}"


def _urgent(priority: Any) -> str:
    return "【紧急】" if priority == "urgent" else ""


def _lines(*lines: str | None) -> str:
    return "\n".join(line for line in lines if line)


def status_name(status: str) -> str:
    return STATUS_NAMES.get(status, status)


def ticket_text(order: Mapping[str, Any], *, headline: str = "工单") -> str:
    """A ticket from an order as the API returns it to staff (``OrderPublic``).

    Number, category, place, priority, the deadline that matters now, status.
    The description is left out (it may name people); handlers read it in the
    system or hear it from the dispatcher.
    """
    status = str(order.get("status") or "")
    accept_by = _when(order.get("accept_by")) if status == "assigned" else None
    resolve_by = _when(order.get("resolve_by")) if status in ("accepted", "in_progress") else None
    return _lines(
        f"{_urgent(order.get('priority'))}{headline} {order.get('number')}",
        f"类别：{order.get('category_name') or order.get('category') or '—'}",
        f"地点：{order.get('location_text') or order.get('location') or '—'}",
        accept_by and f"签收时限：{accept_by}",
        resolve_by and f"办结时限：{resolve_by}",
        status and f"状态：{status_name(status)}",
    )


def order_summary(order: Mapping[str, Any]) -> tuple[str, InlineKeyboardMarkup | None]:
    """One order of a ``/orders`` or ``/queue`` list: its ticket and buttons."""
    status = str(order.get("status") or "")
    return ticket_text(order), keyboard_for(status, str(order.get("number")))


def _assigned_ticket(payload: Mapping[str, Any], number: str) -> str:
    accept_by = _when(payload.get("accept_by"))
    return _lines(
        f"{_urgent(payload.get('priority'))}新工单 {number}",
        f"类别：{payload.get('category_name') or payload.get('category') or '—'}",
        f"地点：{payload.get('location') or '—'}",
        accept_by and f"请在{accept_by}前签收。",
        "请点“接单”签收；不能处理请点“拒单”。",
    )


def _reminder(payload: Mapping[str, Any], number: str) -> tuple[str, InlineKeyboardMarkup | None]:
    deadline = payload.get("deadline")
    text = payload.get("text")
    if deadline == "accept":
        return (text or f"工单 {number} 即将超过签收时限，请尽快签收或拒单。"), _inline(
            number, (ACCEPT, DECLINE))
    if deadline == "resolve":
        return (text or f"工单 {number} 即将超过办结时限，请尽快办结。"), _inline(
            number, (PROGRESS, RESOLVE))
    return (text or f"工单 {number} 请尽快处理。"), None


def render_delivery(delivery: Delivery) -> tuple[str, Markup | None]:
    """The Telegram message of an outbox message: ``(text, reply_markup or None)``.

    ``ValueError`` if there is nothing to say (no text and an unknown topic).
    """
    payload = delivery.payload
    number = str(payload.get("number") or delivery.order_number or "")
    given = payload.get("text")
    text = given if isinstance(given, str) else ""
    if delivery.topic == TOPIC_ASSIGNED and number:
        return _assigned_ticket(payload, number), keyboard_for("assigned", number)
    if delivery.topic == TOPIC_REMINDER and number:
        return _reminder(payload, number)
    if delivery.topic == TOPIC_STATUS and payload.get("ask_satisfaction"):
        options = payload.get("options") or ()
        labels = [str(o["label"]) for o in options if isinstance(o, Mapping) and o.get("label")]
        return text, satisfaction_keyboard(labels or SATISFACTION_CHOICES)
    # order.withdrawn, order.report_added, order.status, order.queued,
    # order.escalated, order.overdue, callback.requested: the service's own text.
    if not text:
        raise ValueError(f"nothing to send for topic {delivery.topic!r}")
    return text, None
