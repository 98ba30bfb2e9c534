"""Reading work orders: by number, by reporter, duplicates, history, listings."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from sqlalchemy import ColumnElement, and_, func, or_, select

from integrations.shared.privacy import mask_phone

from ..adapters import store
from ..adapters.orm import OrderEvent, WorkOrder
from ..domain.lifecycle import Action, Status
from ..domain.numbers import normalize
from ..domain.places import place_key
from . import messages
from .common import event_view, load_order, order_view, require_aware
from .errors import InvalidInput
from .orders import CONTACT_CONTEXT
from .uow import UnitOfWork
from .views import (
    DISSATISFIED,
    SATISFACTION_FILTERS,
    EventView,
    OrderFilters,
    OrderView,
    Page,
    ResidentOrderView,
)

#: Statuses in which a resident's report is still "open" for them (resolved
#: awaits their satisfaction answer).
REPORTER_OPEN = tuple(
    s.value for s in Status if s not in (Status.CLOSED, Status.ARCHIVED, Status.CANCELLED)
)

#: Statuses in which a new report of the same thing is a duplicate.
BEING_HANDLED = tuple(
    s.value
    for s in (Status.NEW, Status.PENDING, Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS,
              Status.REOPENED)
)

MAX_PAGE = 200
#: The longest search text ``OrderFilters.q`` takes (a place is at most 200 characters).
MAX_QUERY = 200


def overdue_condition(now: datetime) -> ColumnElement[bool]:
    """Orders past a deadline and still open (逾期), as SQL.

    Not yet resolved (new, pending, assigned, accepted, in progress, reopened)
    and past ``resolve_by``; or assigned, not accepted, and past ``accept_by``.
    Resolved orders (awaiting the resident's answer) and finished ones never are.
    ``order_is_overdue`` is the same rule for a view.
    """
    return or_(
        and_(WorkOrder.status.in_(BEING_HANDLED), WorkOrder.resolve_by <= now),
        # IS NOT NULL: so that NOT (overdue=False) is never NULL
        and_(WorkOrder.status == Status.ASSIGNED.value, WorkOrder.accept_by.is_not(None),
             WorkOrder.accept_by <= now),
    )


def order_is_overdue(order: OrderView, now: datetime) -> bool:
    """``overdue_condition`` for one order already read."""
    if order.status in BEING_HANDLED and order.resolve_by <= now:
        return True
    return (order.status == Status.ASSIGNED.value and order.accept_by is not None
            and order.accept_by <= now)


def overdue_since(order: OrderView) -> datetime:
    """When an overdue order became overdue: the earlier deadline that passed."""
    if order.status == Status.ASSIGNED.value and order.accept_by is not None:
        return min(order.accept_by, order.resolve_by)
    return order.resolve_by


def get_order(uow: UnitOfWork, number: str) -> OrderView:
    """The order (staff view); ``NotFound`` if there is none. Accepts spoken forms of the number."""
    with uow.read_only():
        return order_view(load_order(uow.session, number), uow.config.taxonomy)


def get_order_for_reporter(uow: UnitOfWork, number: str, reporter_ref: str) -> OrderView | None:
    """The order if ``reporter_ref`` reported it, else None (whether or not it exists)."""
    canonical = normalize(number)
    if canonical is None:
        return None
    with uow.read_only():
        order = store.order_by_number(uow.session, canonical)
        if order is None or order.reporter_ref != reporter_ref:
            return None
        return order_view(order, uow.config.taxonomy)


def latest_open_order_for_reporter(
    uow: UnitOfWork, reporter_ref: str, *, awaiting_satisfaction: bool = False
) -> OrderView | None:
    """The reporter's newest order not yet closed, archived or cancelled, if any.

    ``awaiting_satisfaction``: only a resolved order waiting for the follow-up
    answer (回访), whatever newer orders the reporter has open.
    """
    statuses = (Status.RESOLVED.value,) if awaiting_satisfaction else REPORTER_OPEN
    stmt = (
        select(WorkOrder)
        .where(WorkOrder.reporter_ref == reporter_ref, WorkOrder.status.in_(statuses))
        .order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
        .limit(1)
    )
    with uow.read_only():
        order = uow.session.scalar(stmt)
        return None if order is None else order_view(order, uow.config.taxonomy)


def resident_view(uow: UnitOfWork, order: OrderView, *, new: bool = False) -> ResidentOrderView:
    """What the reporter may see of ``order``, with who handles it and the newest handler note.

    ``handler_role`` is the role (grid tier) or the office (above it) of the
    assignee, never a name, and None while nobody is assigned. ``latest_note``
    is the text of the newest progress or resolve note (the handler writes
    those knowing the reporter reads them), None if there is none. ``new``:
    the order was just created, so it has no notes (nothing is read).
    """
    if order.parent_number is not None and order.status == Status.PENDING.value:
        # linked under a parent (合并办理): the reporter follows the parent's progress
        parent = resident_view(uow, get_order(uow, order.parent_number), new=new)
        own = order.for_resident()
        return replace(own, label=parent.label, tier=parent.tier,
                       handler_role=parent.handler_role, accept_by=parent.accept_by,
                       resolve_by=parent.resolve_by, latest_note=parent.latest_note)
    taxonomy = uow.config.taxonomy
    role = None
    if order.assignee_id is not None:
        role = messages.handler_role_name(
            taxonomy.handler_role(order.kind), order.tier, taxonomy.tiers[0]
        )
    note = None
    if not new:
        with uow.read_only():
            note = store.latest_handler_note(uow.session, order.number)
    return order.for_resident(handler_role=role, latest_note=note)


def find_open_duplicate(
    uow: UnitOfWork,
    category: str,
    area_code: str,
    location_text: str,
    *,
    since: datetime | None = None,
) -> OrderView | None:
    """The oldest order being handled with the same category, grid and place, if any.

    Places match after ``place_key`` (so "3号楼 ", "3号楼" and "3号楼门口" are one).
    ``since`` limits the search to orders created from then on.
    """
    key = place_key(location_text)
    if not key:
        return None
    stmt = (
        select(WorkOrder)
        .where(
            WorkOrder.category == category,
            WorkOrder.area_code == area_code,
            WorkOrder.status.in_(BEING_HANDLED),
        )
        .order_by(WorkOrder.created_at, WorkOrder.id)
    )
    if since is not None:
        stmt = stmt.where(WorkOrder.created_at >= since)
    with uow.read_only():
        for order in uow.session.scalars(stmt):
            if place_key(order.location_text) == key:
                return order_view(order, uow.config.taxonomy)
    return None


def history(uow: UnitOfWork, number: str) -> list[EventView]:
    """The order's audit events, oldest first; ``NotFound`` if there is no such order."""
    with uow.read_only():
        order = load_order(uow.session, number)
        return [event_view(e) for e in store.events_of(uow.session, order.id)]


def list_orders(
    uow: UnitOfWork,
    filters: OrderFilters | None = None,
    *,
    limit: int = 50,
    offset: int = 0,
    now: datetime | None = None,
) -> Page[OrderView]:
    """Orders matching ``filters`` (see ``OrderFilters``), newest first; ``limit`` is capped
    at 200. ``now`` is needed for ``overdue`` (``InvalidInput`` for an unknown
    ``satisfaction`` or a search over 200 characters)."""
    filters = filters or OrderFilters()
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    with uow.read_only():
        session = uow.session
        conditions = _conditions(session, filters, now)
        total = session.scalar(select(func.count()).select_from(WorkOrder).where(*conditions))
        rows = session.scalars(
            select(WorkOrder)
            .where(*conditions)
            .order_by(WorkOrder.created_at.desc(), WorkOrder.id.desc())
            .limit(limit)
            .offset(offset)
        )
        items = [order_view(o, uow.config.taxonomy) for o in rows]
    return Page(items=items, total=int(total or 0), limit=limit, offset=offset)


def _conditions(session, filters: OrderFilters, now: datetime | None) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if filters.statuses:
        conditions.append(WorkOrder.status.in_(list(filters.statuses)))
    if filters.kind is not None:
        conditions.append(WorkOrder.kind == filters.kind)
    if filters.category is not None:
        conditions.append(WorkOrder.category == filters.category)
    if filters.area_codes is not None:
        within = store.areas_within(session, filters.area_codes)
        conditions.append(WorkOrder.area_code.in_(sorted(within)))
    if filters.assignee_id is not None:
        conditions.append(WorkOrder.assignee_id == filters.assignee_id)
    if filters.tier is not None:
        conditions.append(WorkOrder.tier == filters.tier)
    if filters.priority is not None:
        conditions.append(WorkOrder.priority == filters.priority)
    if filters.breached is not None:
        conditions.append(WorkOrder.breached.is_(filters.breached))
    if filters.reporter_ref is not None:
        conditions.append(WorkOrder.reporter_ref == filters.reporter_ref)
    if filters.created_from is not None:
        conditions.append(WorkOrder.created_at >= filters.created_from)
    if filters.created_to is not None:
        conditions.append(WorkOrder.created_at < filters.created_to)
    if filters.overdue is not None:
        if now is None:
            raise ValueError("the overdue filter needs now")
        require_aware(now)
        late = overdue_condition(now)
        conditions.append(late if filters.overdue else ~late)
    if filters.satisfaction is not None:
        conditions.append(_satisfaction_condition(filters.satisfaction))
    if filters.q is not None and filters.q.strip():
        conditions.append(_search_condition(filters.q.strip()))
    return conditions


def _satisfaction_condition(answer: str) -> ColumnElement[bool]:
    if answer not in SATISFACTION_FILTERS:
        raise InvalidInput("satisfaction", f"must be one of {', '.join(SATISFACTION_FILTERS)}",
                           "满意度筛选条件不正确。")
    if answer == DISSATISFIED:  # 不满意 at least once: one event per such answer
        unsatisfied = select(OrderEvent.order_id).where(OrderEvent.action == Action.UNSATISFIED)
        return WorkOrder.id.in_(unsatisfied)
    return WorkOrder.satisfaction == answer


def _search_condition(text: str) -> ColumnElement[bool]:
    if len(text) > MAX_QUERY:
        raise InvalidInput("q", f"at most {MAX_QUERY} characters",
                           f"搜索内容不能超过{MAX_QUERY}字。")
    number = normalize(text)
    if number is not None:
        return WorkOrder.number == number
    return or_(WorkOrder.location_text.contains(text, autoescape=True),
               WorkOrder.description.contains(text, autoescape=True))


def reporter_contact(uow: UnitOfWork, number: str, *, reveal: bool = False) -> str | None:
    """The reporter's phone number, masked (``138****5678``) unless ``reveal``; None if none.

    Callers decide who may reveal it (e.g. the assignee calling back). Never log the result.
    """
    with uow.read_only():
        order = load_order(uow.session, number)
        token = order.reporter_contact_enc
    if token is None:
        return None
    phone = uow.config.vault.decrypt(token, context=CONTACT_CONTEXT)
    if phone is None:
        return None
    return phone if reveal else mask_phone(phone)

