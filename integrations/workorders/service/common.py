"""Helpers shared by the use-case modules: argument checks, order lookups, views."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import OrderEvent, WorkOrder
from ..domain.lifecycle import ACTION_LABELS, RESIDENT_LABELS, STATUS_LABELS, Action, Status
from ..domain.numbers import normalize
from ..domain.taxonomy import Taxonomy
from .errors import InvalidInput, NotFound
from .views import EventView, OrderView

MAX_DESCRIPTION = 2000
MAX_NOTE = 2000


def require_aware(now: datetime) -> datetime:
    """``now`` itself; a naive datetime is a programming error."""
    if not isinstance(now, datetime) or now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return now


def canonical_number(number: str) -> str:
    """The 8-digit number in what was typed or said; ``NotFound`` if it is not one."""
    canonical = normalize(number)
    if canonical is None:
        raise NotFound("order", number)
    return canonical


def clean_text(value: str | None, field: str, *, limit: int, required: bool) -> str | None:
    """Stripped text, ``InvalidInput`` if missing (when required) or over ``limit`` characters."""
    text = (value or "").strip()
    if not text:
        if required:
            raise InvalidInput(field, "must not be empty", f"{_FIELD_ZH.get(field, field)}不能为空。")
        return None
    if len(text) > limit:
        raise InvalidInput(
            field, f"longer than {limit} characters",
            f"{_FIELD_ZH.get(field, field)}不能超过{limit}字。",
        )
    return text


_FIELD_ZH = {
    "description": "事项描述",
    "location_text": "地点",
    "note": "说明",
    "reason": "原因",
    "actor": "操作人",
}


def load_order(session: Session, number: str) -> WorkOrder:
    order = store.order_by_number(session, canonical_number(number))
    if order is None:
        raise NotFound("order", number)
    return order


def lock_order(session: Session, number: str) -> WorkOrder:
    order = store.lock_order(session, canonical_number(number))
    if order is None:
        raise NotFound("order", number)
    return order


def category_label(taxonomy: Taxonomy, code: str) -> str:
    """The category's Chinese name; its code if taxonomy.yml no longer has it."""
    category = taxonomy.categories.get(code)
    return category.name if category is not None else code


def order_view(order: WorkOrder, taxonomy: Taxonomy) -> OrderView:
    status = Status(order.status)
    category_name = category_label(taxonomy, order.category)
    return OrderView(
        number=order.number,
        kind=order.kind,
        category=order.category,
        category_name=category_name,
        priority=order.priority,
        description=order.description,
        location_text=order.location_text,
        area_code=order.area_code,
        latitude=order.latitude,
        longitude=order.longitude,
        status=status.value,
        status_label=STATUS_LABELS[status],
        resident_label=RESIDENT_LABELS[status],
        tier=order.tier,
        assignee_id=order.assignee_id,
        accept_by=order.accept_by,
        resolve_by=order.resolve_by,
        breached=order.breached,
        anonymous=order.anonymous,
        reporter_channel=order.reporter_channel,
        reporter_ref=None if order.anonymous else order.reporter_ref,
        has_contact=order.reporter_contact_enc is not None,
        satisfaction=order.satisfaction,
        created_at=order.created_at,
        updated_at=order.updated_at,
        accepted_at=order.accepted_at,
        resolved_at=order.resolved_at,
        closed_at=order.closed_at,
    )


_EXTRA_ACTION_LABELS = {"create": "受理", "report": "补充反映", "overdue": "超期督办",
                        "attachment": "补充照片", "location": "补充位置",
                        "priority": "调整紧急程度", "staff_note": "内部备注",
                        "resident_note": "告知居民", "contact_revealed": "查看联系电话",
                        "repeat": "疑似重复诉求", "risk": "矛盾激化风险"}


def event_view(event: OrderEvent) -> EventView:
    try:
        label = ACTION_LABELS[Action(event.action)]
    except ValueError:
        label = _EXTRA_ACTION_LABELS.get(event.action, event.action)
    return EventView(
        seq=event.seq,
        action=event.action,
        action_label=label,
        actor=event.actor,
        at=event.at,
        from_status=event.from_status,
        to_status=event.to_status,
        note=event.note,
    )
