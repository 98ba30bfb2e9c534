"""Reading work orders: by number, by reporter, duplicates, history, listings."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, func, select

from integrations.shared.privacy import mask_phone

from ..adapters import store
from ..adapters.orm import WorkOrder
from ..domain.lifecycle import Status
from ..domain.numbers import normalize
from ..domain.places import place_key
from . import messages
from .common import event_view, load_order, order_view
from .orders import CONTACT_CONTEXT
from .uow import UnitOfWork
from .views import EventView, OrderFilters, OrderView, Page, ResidentOrderView

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
) -> Page[OrderView]:
    """Orders matching ``filters``, newest first; ``limit`` is capped at 200."""
    filters = filters or OrderFilters()
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    with uow.read_only():
        session = uow.session
        conditions: list[ColumnElement[bool]] = []
        if filters.statuses:
            conditions.append(WorkOrder.status.in_(list(filters.statuses)))
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

