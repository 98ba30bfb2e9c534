"""Opening work orders: validation, idempotency, numbering, first dispatch."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import make_transient_to_detached

from ..adapters import store
from ..adapters.orm import WorkOrder
from ..domain.audit import GENESIS
from ..domain.lifecycle import Status
from ..domain.numbers import new_number
from ..domain.taxonomy import Priority, Taxonomy
from ..privacy import Vault, normalize_phone
from .audit_trail import CREATE, record
from .common import MAX_DESCRIPTION, clean_text, order_view, require_aware
from .dispatching import dispatch
from .errors import Conflict, InvalidInput
from .uow import UnitOfWork
from .views import REPORTER_CHANNELS, OrderCreate, OrderView

#: Draws of a fresh number before giving up (9 000 000 numbers exist).
NUMBER_ATTEMPTS = 20

CONTACT_CONTEXT = "work_orders.reporter_contact_enc"


@dataclass(frozen=True)
class _Clean:
    kind: str
    category: str
    priority: Priority
    description: str
    location_text: str
    reporter_ref: str
    contact: str | None
    client_ref: str | None


def create_order(
    uow: UnitOfWork,
    data: OrderCreate,
    now: datetime,
    *,
    numbers: Callable[[], str] = new_number,
) -> OrderView:
    """Open a work order and dispatch it at once, in one transaction.

    Raises ``UnknownCategory`` / ``UnknownPriority`` (domain), ``InvalidInput``
    (empty or over-long text, a grid area that does not exist, a contact that
    is not a phone number, a kind that contradicts the category...) and
    ``Conflict`` (``client_ref`` already used by another reporter). With a
    ``client_ref`` seen before, returns that order and writes nothing.
    ``numbers`` draws candidate numbers (tests inject collisions).
    """
    require_aware(now)
    cfg = uow.config
    clean = _validate(cfg.taxonomy, data)
    grid = cfg.taxonomy.tiers[0]
    with uow:
        session = uow.session
        area_by_tier = store.area_chain_cached(session, data.area_code)
        if area_by_tier.get(grid) != data.area_code:
            if clean.client_ref is not None:  # a replay answers as the first call did
                existing = _by_client_ref(uow, clean.client_ref)
                if existing is not None:
                    return _idempotent(uow, existing, clean)
            raise InvalidInput(
                "area_code", f"{data.area_code!r} is not a known {grid} area",
                "所选区域不存在，请重新选择所在网格。",
            )
        deadlines = cfg.taxonomy.deadlines(clean.category, clean.priority, now)
        # Every column is set, so the row inserted below is complete in memory
        # and nothing about it is read back.
        order = WorkOrder(
            kind=clean.kind,
            category=clean.category,
            priority=clean.priority.value,
            description=clean.description,
            location_text=clean.location_text,
            area_code=data.area_code,
            latitude=data.latitude,
            longitude=data.longitude,
            reporter_channel=data.reporter_channel,
            reporter_ref=clean.reporter_ref,
            reporter_contact_enc=None,
            reporter_contact_hash=None,
            anonymous=data.anonymous,
            client_ref=clean.client_ref,
            assignee_id=None,
            tier=grid,
            status=Status.NEW.value,
            accept_by=None,
            resolve_by=deadlines.resolve_by,
            breached=False,
            overdue_notified_at=None,
            created_at=now,
            updated_at=now,
            first_assigned_at=None,
            accepted_at=None,
            resolved_at=None,
            closed_at=None,
            head_hash=GENESIS,
            event_seq=0,
            satisfaction=None,
            parent_id=None,
        )
        _set_contact(cfg.vault, order, clean.contact)
        existing = _insert_with_fresh_number(uow, order, numbers)
        if existing is not None:
            return _idempotent(uow, existing, clean)
        # Nothing below changes what dispatch's queries read (the order has no
        # assignee yet, its event is not a dispatch), so it all goes out in the
        # one flush at commit instead of a flush before each query.
        with session.no_autoflush:
            record(session, order, action=CREATE, actor="resident", at=now, from_status=None,
                   to_status=Status.NEW.value)
            dispatch(uow, order, now, area_by_tier=area_by_tier, new_order=True)
            view = order_view(order, cfg.taxonomy)
        uow.commit()
    return view


def _validate(taxonomy: Taxonomy, data: OrderCreate) -> _Clean:
    category = taxonomy.category(data.category)  # UnknownCategory
    if data.kind is not None and data.kind != category.kind:
        raise InvalidInput(
            "kind", f"category {category.code!r} is of kind {category.kind!r}, not {data.kind!r}",
            "事项类型与类别不一致。",
        )
    priority = Priority.parse(data.priority)  # UnknownPriority
    description = clean_text(data.description, "description", limit=MAX_DESCRIPTION, required=True)
    location = clean_text(data.location_text, "location_text", limit=200, required=True)
    if data.reporter_channel not in REPORTER_CHANNELS:
        raise InvalidInput(
            "reporter_channel", f"must be one of {', '.join(REPORTER_CHANNELS)}",
            "不支持的反映渠道。",
        )
    ref = (data.reporter_ref or "").strip()
    if not ref.startswith(f"{data.reporter_channel}:") or len(ref) > 128 or len(ref) <= len(
        data.reporter_channel
    ) + 1:
        raise InvalidInput(
            "reporter_ref", f"must look like '{data.reporter_channel}:<id>' (at most 128 chars)",
            "反映人渠道标识有误。",
        )
    contact = None
    if data.reporter_contact is not None and data.reporter_contact.strip():
        if data.anonymous:
            raise InvalidInput(
                "reporter_contact", "an anonymous report takes no contact",
                "匿名反映无需留下联系电话。",
            )
        contact = normalize_phone(data.reporter_contact)
        if contact is None:
            raise InvalidInput(
                "reporter_contact", "not a mainland phone number", "联系电话格式不正确。"
            )
    for name, value, bound in (("latitude", data.latitude, 90), ("longitude", data.longitude, 180)):
        if value is not None and not (math.isfinite(value) and -bound <= value <= bound):
            raise InvalidInput(name, f"must be within ±{bound}", "位置坐标有误。")
    client_ref = (data.client_ref or "").strip() or None
    if client_ref is not None and len(client_ref) > 128:
        raise InvalidInput("client_ref", "longer than 128 characters", "请求标识过长。")
    assert description is not None and location is not None
    return _Clean(
        kind=category.kind, category=category.code, priority=priority, description=description,
        location_text=location, reporter_ref=ref, contact=contact, client_ref=client_ref,
    )


def _set_contact(vault: Vault, order: WorkOrder, phone: str | None) -> None:
    if phone is None:
        return
    order.reporter_contact_enc = vault.encrypt(phone, context=CONTACT_CONTEXT)
    order.reporter_contact_hash = vault.lookup_hash(phone)


def _by_client_ref(uow: UnitOfWork, client_ref: str) -> WorkOrder | None:
    return uow.session.scalar(select(WorkOrder).where(WorkOrder.client_ref == client_ref))


def _idempotent(uow: UnitOfWork, existing: WorkOrder, clean: _Clean) -> OrderView:
    if existing.reporter_ref != clean.reporter_ref:
        raise Conflict(
            "client_ref already used by another reporter", "请求标识已被使用，请重新提交。"
        )
    return order_view(existing, uow.config.taxonomy)


def _insert_with_fresh_number(
    uow: UnitOfWork, order: WorkOrder, numbers: Callable[[], str]
) -> WorkOrder | None:
    """Insert ``order`` under a number nobody has; the existing order if its client_ref won.

    One ``INSERT ... ON CONFLICT DO NOTHING RETURNING id`` per attempt
    (PostgreSQL, SQLite): a row taken by a unique number or client_ref (e.g. a
    concurrent retry of the same request, which PostgreSQL waits for) inserts
    nothing and returns no id. The inserted order joins the session as if
    loaded, so later changes are one UPDATE. Other engines: a savepoint per
    attempt.
    """
    session = uow.session
    dialect = session.get_bind().dialect.name
    if dialect not in _INSERTS:
        return _insert_in_savepoints(uow, order, numbers)
    table = WorkOrder.__table__
    columns = [c.key for c in table.columns if c.key != "id"]
    order.version = 1  # what the ORM's version counter starts at
    for _ in range(NUMBER_ATTEMPTS):
        order.number = numbers()
        stmt = (
            _INSERTS[dialect](table)
            .values({key: getattr(order, key) for key in columns})
            .on_conflict_do_nothing()
            .returning(table.c.id)
        )
        order_id = session.execute(stmt).scalar()
        if order_id is not None:
            order.id = order_id
            make_transient_to_detached(order)
            session.add(order)
            return None
        if order.client_ref is not None:
            existing = _by_client_ref(uow, order.client_ref)
            if existing is not None:
                return existing
    raise _no_free_number()


_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}


def _insert_in_savepoints(
    uow: UnitOfWork, order: WorkOrder, numbers: Callable[[], str]
) -> WorkOrder | None:
    """``_insert_with_fresh_number`` where ``ON CONFLICT`` is not known: a savepoint per try."""
    session = uow.session
    for _ in range(NUMBER_ATTEMPTS):
        order.number = numbers()
        try:
            with session.begin_nested():
                session.add(order)
                session.flush()
            return None
        except IntegrityError:
            if order.client_ref is not None:
                existing = _by_client_ref(uow, order.client_ref)
                if existing is not None:
                    return existing
    raise _no_free_number()


def _no_free_number() -> Conflict:
    return Conflict(
        f"no free order number after {NUMBER_ATTEMPTS} attempts", "系统繁忙，请稍后重试。"
    )
