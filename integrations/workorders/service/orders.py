"""Opening work orders: validation, idempotency, numbering, first dispatch."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, make_transient_to_detached

from integrations.shared.privacy import Vault, normalize_phone

from ..adapters import store
from ..adapters.inserts import insert_unless_taken
from ..adapters.orm import WorkOrder
from ..domain.audit import GENESIS
from ..domain.lifecycle import Status
from ..domain.numbers import new_number
from ..domain.taxonomy import Priority, Taxonomy
from .attachments import (
    attach_staged,
    attachment_note,
    clean_attachment_ids,
    staged_ready,
    stale_photos,
)
from .audit_trail import ATTACHMENT, CREATE, give_order_id, record
from .callers import with_caller_contact
from .common import MAX_DESCRIPTION, clean_text, order_view, require_aware
from .config import ServiceConfig
from .dispatching import dispatch
from .errors import Conflict, InvalidInput
from .repeat_check import (
    REPEAT,
    find_repeat_of,
    raise_repeat_warning,
    repeat_note,
    repeat_tier,
)
from .uow import UnitOfWork
from .views import REPORTER_CHANNELS, OrderCreate, OrderView

#: Draws of a fresh number before giving up (9 000 000 numbers exist).
NUMBER_ATTEMPTS = 20

CONTACT_CONTEXT = "work_orders.reporter_contact_enc"


@dataclass(frozen=True)
class OpenedOrder:
    """What ``open_order`` did: the order, and whether this call made it (False: a replay
    of a ``client_ref`` seen before, including one a concurrent retry inserted first)."""

    order: OrderView
    created: bool


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
    """The order ``open_order`` opened or replayed (for callers that need not know which)."""
    return open_order(uow, data, now, numbers=numbers).order


def open_order(
    uow: UnitOfWork,
    data: OrderCreate,
    now: datetime,
    *,
    numbers: Callable[[], str] = new_number,
) -> OpenedOrder:
    """Open a work order and dispatch it at once, in one transaction; whether it is new.

    Raises ``UnknownCategory`` / ``UnknownPriority`` (domain), ``InvalidInput``
    (empty or over-long text, a grid area that does not exist, a contact that
    is not a phone number, a kind that contradicts the category...) and
    ``Conflict`` (``client_ref`` already used by another reporter). With a
    ``client_ref`` seen before, returns that order and writes nothing.
    ``data.attachment_ids``: staged photos of the same reporter, attached in
    the same transaction (an ``attachment`` event each, after ``create``);
    one that is not (gone, someone else's, attached elsewhere) is
    ``InvalidInput`` on ``attachment_ids``.
    ``numbers`` draws candidate numbers (tests inject collisions).

    The order is dispatched before its row is written, and the row is
    inserted as it ends up (assigned or pending), with ``INSERT ... ON
    CONFLICT DO NOTHING``: a number or ``client_ref`` already taken (e.g. by a
    concurrent retry of the same request, which PostgreSQL waits for) inserts
    nothing. Then either that ``client_ref``'s order is returned, or the
    transaction is rolled back and tried again under a fresh number.
    """
    require_aware(now)
    cfg = uow.config
    data = with_caller_contact(cfg.vault, data, "reporter_contact")
    clean = _validate(cfg.taxonomy, data)
    photos = clean_attachment_ids(cfg, data.attachment_ids)
    grid = cfg.taxonomy.tiers[0]
    for _ in range(NUMBER_ATTEMPTS):
        with uow:
            session = uow.session
            area_by_tier = store.area_chain_cached(session, data.area_code)
            if area_by_tier.get(grid) != data.area_code:
                if clean.client_ref is not None:  # a replay answers as the first call did
                    existing = _by_client_ref(uow, clean.client_ref)
                    if existing is not None:
                        return OpenedOrder(_idempotent(uow, existing, clean), created=False)
                raise InvalidInput(
                    "area_code", f"{data.area_code!r} is not a known {grid} area",
                    "所选区域不存在，请重新选择所在网格。",
                )
            if photos and not staged_ready(session, clean.reporter_ref, photos):
                if clean.client_ref is not None:  # a replay: the first call attached them
                    existing = _by_client_ref(uow, clean.client_ref)
                    if existing is not None:
                        return OpenedOrder(_idempotent(uow, existing, clean), created=False)
                raise stale_photos()
            # 重复诉求: checked before dispatch, so that a repeat starts one tier up
            repeat = find_repeat_of(
                session, cfg, kind=clean.kind, category=clean.category,
                area_code=data.area_code, location_text=clean.location_text,
                area_by_tier=area_by_tier, now=now)
            order = _new_order(cfg, data, clean, grid, numbers(), now)
            if repeat is not None:
                order.tier = repeat_tier(session, cfg, kind=clean.kind, category=clean.category,
                                         area_by_tier=area_by_tier)
            # Nothing is flushed before the insert (the events wait for the
            # order's id); dispatch's queries do not depend on this order.
            with session.no_autoflush:
                record(session, order, action=CREATE, actor="resident", at=now,
                       from_status=None, to_status=Status.NEW.value)
                for photo in photos:
                    record(session, order, action=ATTACHMENT, actor="resident", at=now,
                           from_status=Status.NEW.value, to_status=Status.NEW.value,
                           note=attachment_note(photo))
                if repeat is not None:
                    record(session, order, action=REPEAT, actor="system", at=now,
                           from_status=Status.NEW.value, to_status=Status.NEW.value,
                           note=repeat_note(repeat))
                dispatch(uow, order, now, area_by_tier=area_by_tier, new_order=True)
                order_id = _insert_ignoring_conflicts(session, order)
                if order_id is None:
                    if clean.client_ref is not None:
                        existing = _by_client_ref(uow, clean.client_ref)
                        if existing is not None:
                            return OpenedOrder(_idempotent(uow, existing, clean), created=False)
                    continue  # the number is taken: roll back, draw another
                _as_inserted(session, order, order_id)
                if photos and attach_staged(
                    session, order_id, clean.reporter_ref, photos, now
                ) != len(photos):
                    raise stale_photos()  # attached elsewhere meanwhile: nothing is kept
                if repeat is not None:
                    raise_repeat_warning(session, cfg, order, repeat, now)
                view = order_view(order, cfg.taxonomy)
            uow.commit()
            return OpenedOrder(view, created=True)
    raise Conflict(
        f"no free order number after {NUMBER_ATTEMPTS} attempts", "系统繁忙，请稍后重试。"
    )


def _new_order(
    cfg: ServiceConfig, data: OrderCreate, clean: _Clean, grid: str, number: str, now: datetime
) -> WorkOrder:
    """The new order, not yet in the session; every column is set (see ``_as_inserted``)."""
    deadlines = cfg.taxonomy.deadlines(clean.category, clean.priority, now)
    order = WorkOrder(
        number=number,
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
        version=1,  # where the ORM's version counter starts
    )
    _set_contact(cfg.vault, order, clean.contact)
    return order


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


def _insert_ignoring_conflicts(session: Session, order: WorkOrder) -> int | None:
    """Insert ``order`` as it is; its new id, or None if its number or client_ref is taken."""
    row = {key: getattr(order, key) for key in _INSERT_COLUMNS}
    return insert_unless_taken(session, WorkOrder.__table__, row)


def _as_inserted(session: Session, order: WorkOrder, order_id: int) -> None:
    """Make the inserted ``order`` persistent as if loaded (no UPDATE follows), and give
    its id to the events recorded before it had one."""
    order.id = order_id
    make_transient_to_detached(order)
    session.add(order)
    give_order_id(session, order)


#: Every column of an order but its id, in table order.
_INSERT_COLUMNS = tuple(c.key for c in WorkOrder.__table__.columns if c.key != "id")
