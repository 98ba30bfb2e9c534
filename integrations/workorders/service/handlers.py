"""Managing handlers (mediators, grid workers, community staff): who they are, where, how many
orders.

Names and phone numbers are stored encrypted (``handlers.name_enc`` /
``handlers.phone_enc``) and phones found by their keyed hash. Any change that
can make room (on duty again, more capacity, new skills or areas) dispatches
queued orders afterwards.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select

from integrations.shared.privacy import mask_phone, normalize_phone

from ..adapters import store
from ..adapters.orm import Area, Handler
from .common import require_aware
from .dispatching import after_capacity_freed
from .errors import Forbidden, InvalidInput, NotFound
from .uow import UnitOfWork
from .views import HandlerCreate, HandlerUpdate, HandlerView

NAME_CONTEXT = "handlers.name_enc"
PHONE_CONTEXT = "handlers.phone_enc"


def create_handler(
    uow: UnitOfWork, data: HandlerCreate, now: datetime, *, scope: Sequence[str] | None = None
) -> HandlerView:
    """Register a handler; ``InvalidInput`` for an unknown role, tier, skill or area.

    ``scope``: the caller's areas (a dispatcher): the handler's areas must lie
    within them (sub-areas included), else ``Forbidden``.
    """
    require_aware(now)
    with uow:
        session, cfg = uow.session, uow.config
        if scope is not None:
            _require_areas_in_scope(uow, data.areas, scope)
        name = _name(data.name)
        _check_role(uow, data.role)
        _check_tier(uow, data.tier)
        handler = Handler(
            name_enc=cfg.vault.encrypt(name, context=NAME_CONTEXT),
            role=data.role,
            skills=_skills(uow, data.skills),
            areas=_areas(uow, data.areas),
            tier=data.tier,
            capacity=_capacity(data.capacity),
            on_duty=data.on_duty,
            is_supervisor=data.is_supervisor,
            telegram_chat_id=_chat(data.telegram_chat_id),
            created_at=now,
        )
        _set_phone(uow, handler, data.phone)
        session.add(handler)
        session.flush()
        view = _view(uow, handler)
        uow.commit()
    after_capacity_freed(uow, now)
    return view


def update_handler(
    uow: UnitOfWork, handler_id: int, changes: HandlerUpdate, now: datetime,
    *, scope: Sequence[str] | None = None,
) -> HandlerView:
    """Change some of a handler's fields (None leaves one as it is).

    ``scope``: the caller's areas (a dispatcher): the handler's areas, and the
    new ones if they change, must lie within them (sub-areas included), else
    ``Forbidden``; a handler without areas is nobody's to change but an admin's.
    """
    require_aware(now)
    with uow:
        session, cfg = uow.session, uow.config
        handler = _lock(uow, handler_id)
        if scope is not None:
            if not _within(uow, handler.areas or [], scope):
                raise Forbidden(f"handler {handler_id} works outside your areas",
                                "该处理人员不在您的管辖范围内。")
            if changes.areas is not None:
                _require_areas_in_scope(uow, changes.areas, scope)
        if changes.name is not None:
            handler.name_enc = cfg.vault.encrypt(_name(changes.name), context=NAME_CONTEXT)
        if changes.clear_phone:
            handler.phone_enc = handler.phone_hash = None
        elif changes.phone is not None:
            _set_phone(uow, handler, changes.phone)
        if changes.skills is not None:
            handler.skills = _skills(uow, changes.skills)
        if changes.areas is not None:
            handler.areas = _areas(uow, changes.areas)
        if changes.tier is not None:
            _check_tier(uow, changes.tier)
            handler.tier = changes.tier
        if changes.capacity is not None:
            handler.capacity = _capacity(changes.capacity)
        if changes.on_duty is not None:
            handler.on_duty = changes.on_duty
        if changes.is_supervisor is not None:
            handler.is_supervisor = changes.is_supervisor
        if changes.clear_telegram:
            handler.telegram_chat_id = None
        elif changes.telegram_chat_id is not None:
            handler.telegram_chat_id = _chat(changes.telegram_chat_id)
        session.flush()
        view = _view(uow, handler)
        uow.commit()
    after_capacity_freed(uow, now)
    return view


def set_duty(
    uow: UnitOfWork, handler_id: int, on_duty: bool, now: datetime,
    *, scope: Sequence[str] | None = None,
) -> HandlerView:
    """On duty or on leave. Going on leave keeps the orders they hold (reassign them)."""
    return update_handler(uow, handler_id, HandlerUpdate(on_duty=on_duty), now, scope=scope)


def set_capacity(
    uow: UnitOfWork, handler_id: int, capacity: int, now: datetime,
    *, scope: Sequence[str] | None = None,
) -> HandlerView:
    """How much load they can carry (normal order 1, urgent 3)."""
    return update_handler(uow, handler_id, HandlerUpdate(capacity=capacity), now, scope=scope)


def handler_load(uow: UnitOfWork, handler_id: int) -> int:
    """Sum of the weights of the handler's open orders."""
    with uow.read_only():
        if uow.session.get(Handler, handler_id) is None:
            raise NotFound("handler", handler_id)
        return store.handler_loads(uow.session, [handler_id])[handler_id]


def get_handler(uow: UnitOfWork, handler_id: int) -> HandlerView:
    with uow.read_only():
        handler = uow.session.get(Handler, handler_id)
        if handler is None:
            raise NotFound("handler", handler_id)
        return _view(uow, handler)


def list_handlers(
    uow: UnitOfWork, *, role: str | None = None, area_code: str | None = None
) -> list[HandlerView]:
    """Handlers by id, optionally of one role and/or covering one area code."""
    stmt = select(Handler).order_by(Handler.id)
    if role is not None:
        stmt = stmt.where(Handler.role == role)
    with uow.read_only():
        handlers = [
            h for h in uow.session.scalars(stmt)
            if area_code is None or area_code in (h.areas or [])
        ]
        loads = store.handler_loads(uow.session, [h.id for h in handlers])
        return [_view(uow, h, loads[h.id]) for h in handlers]


def find_handler_by_phone(uow: UnitOfWork, phone: str) -> HandlerView | None:
    """The handler with this phone number (any spelling), found by its keyed hash."""
    if normalize_phone(phone) is None:
        return None
    hashes = uow.config.vault.lookup_hashes(phone)
    with uow.read_only():
        handler = uow.session.scalar(
            select(Handler).where(Handler.phone_hash.in_(hashes)).order_by(Handler.id).limit(1)
        )
        return None if handler is None else _view(uow, handler)


# --------------------------------------------------------------------- helpers


def _within(uow: UnitOfWork, areas: Sequence[str], scope: Sequence[str]) -> bool:
    """``areas`` is not empty and lies within ``scope`` (and the areas below it)."""
    return bool(areas) and set(areas) <= store.areas_within(uow.session, scope)


def _require_areas_in_scope(uow: UnitOfWork, areas: Sequence[str], scope: Sequence[str]) -> None:
    if isinstance(areas, str) or not _within(uow, areas, scope):
        raise Forbidden("the areas lie outside your areas",
                        "只能把处理人员安排在您管辖的区域内。")


def _lock(uow: UnitOfWork, handler_id: int) -> Handler:
    locked = store.lock_handlers(uow.session, [handler_id])
    if not locked:
        raise NotFound("handler", handler_id)
    return locked[0]


def _view(uow: UnitOfWork, handler: Handler, load: int | None = None) -> HandlerView:
    vault = uow.config.vault
    phone = vault.decrypt(handler.phone_enc, context=PHONE_CONTEXT)
    if load is None:
        load = store.handler_loads(uow.session, [handler.id])[handler.id]
    return HandlerView(
        id=handler.id,
        name=vault.decrypt(handler.name_enc, context=NAME_CONTEXT) or "",
        phone_masked=None if phone is None else mask_phone(phone),
        role=handler.role,
        tier=handler.tier,
        skills=list(handler.skills or []),
        areas=list(handler.areas or []),
        capacity=handler.capacity,
        load=load,
        on_duty=handler.on_duty,
        is_supervisor=handler.is_supervisor,
        telegram_chat_id=handler.telegram_chat_id,
        last_assigned_at=handler.last_assigned_at,
    )


def _name(name: str) -> str:
    cleaned = (name or "").strip()
    if not cleaned or len(cleaned) > 100:
        raise InvalidInput("name", "must be 1 to 100 characters", "姓名不能为空且不超过100字。")
    return cleaned


def _set_phone(uow: UnitOfWork, handler: Handler, phone: str | None) -> None:
    if phone is None or not phone.strip():
        return
    normalized = normalize_phone(phone)
    if normalized is None:
        raise InvalidInput("phone", "not a mainland phone number", "联系电话格式不正确。")
    vault = uow.config.vault
    handler.phone_enc = vault.encrypt(normalized, context=PHONE_CONTEXT)
    handler.phone_hash = vault.lookup_hash(normalized)


def _check_role(uow: UnitOfWork, role: str) -> None:
    roles = set(uow.config.taxonomy.kinds.values())
    if role not in roles:
        raise InvalidInput("role", f"must be one of {', '.join(sorted(roles))}", "岗位不正确。")


def _check_tier(uow: UnitOfWork, tier: str) -> None:
    tiers = uow.config.taxonomy.tiers
    if tier not in tiers:
        raise InvalidInput("tier", f"must be one of {', '.join(tiers)}", "层级不正确。")


def _skills(uow: UnitOfWork, skills: Sequence[str]) -> list[str]:
    unknown = [s for s in skills if s not in uow.config.taxonomy.categories]
    if unknown or isinstance(skills, str):
        raise InvalidInput("skills", f"unknown categories: {unknown or skills}", "擅长类别不正确。")
    return sorted(set(skills))


def _areas(uow: UnitOfWork, areas: Sequence[str]) -> list[str]:
    if isinstance(areas, str):
        raise InvalidInput("areas", "must be a list of area codes", "负责区域不正确。")
    codes = sorted(set(areas))
    known = set(uow.session.scalars(select(Area.code).where(Area.code.in_(codes))))
    missing = [c for c in codes if c not in known]
    if missing:
        raise InvalidInput("areas", f"unknown areas: {missing}", "负责区域不存在。")
    return codes


def _capacity(capacity: int) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or not 0 <= capacity <= 1000:
        raise InvalidInput("capacity", "must be an integer from 0 to 1000", "承办上限不正确。")
    return capacity


def _chat(chat_id: str | int | None) -> str | None:
    if chat_id is None:
        return None
    text = str(chat_id).strip()
    if not text or len(text) > 64:
        raise InvalidInput("telegram_chat_id", "1 to 64 characters", "Telegram 会话标识不正确。")
    return text
