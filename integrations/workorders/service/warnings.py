"""Raising a 研判预警 warning: insert or update by its dedupe key, audit it, notify once per level.

``raise_warning`` is what every detector calls (the repeat check in
``open_order``, the scan in ``warning_scan``, the weekly hotspots). The same
finding has one row (``warnings.dedupe_key`` is unique): the row is inserted
with ``INSERT ... ON CONFLICT DO NOTHING`` and, when another transaction got
there first, re-read (locked on PostgreSQL, where the insert waited for the
other transaction to commit; SQLite write transactions take turns anyway), so
two sweepers finding the same thing at once make one warning and one notice.

A later call for the same key updates the row: the explanation and details
are the newest, its orders are added, the level only goes up. A ``raise`` or
``update`` event is written when the warning is new, its level went up or it
gained orders. The area's dispatchers (with a Telegram chat) and supervisors
are told when it is new or its level went up (``TOPIC_WARNING``), keyed on
the warning and level, so the same level is told once.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.inserts import insert_unless_taken
from ..adapters.orm import (
    Handler,
    OutboxMessage,
    RiskWarning,
    StaffUser,
    WarningEvent,
    WarningOrder,
    WorkOrder,
)
from ..domain.warnings import KIND_LABELS, LEVEL_LABELS, Level
from . import outbox
from .config import ServiceConfig

TOPIC_WARNING = outbox.TOPIC_WARNING
#: Who raises warnings in their audit.
SYSTEM = "system"
#: Where a warning is read in the console.
CONSOLE_PATH = "/console/warnings/{id}"


def level_rank(level: str) -> int:
    return Level(level).rank


def raise_warning(
    session: Session,
    cfg: ServiceConfig,
    *,
    kind: str,
    dedupe_key: str,
    level: str,
    area_code: str,
    category: str | None,
    explanation: str,
    details: Mapping[str, Any],
    order_id: int | None,
    orders: Sequence[tuple[int, str]],
    now: datetime,
) -> tuple[RiskWarning, bool]:
    """Insert the warning or update the one with ``dedupe_key``; whether people were told
    (True: it is new, or its level went up). ``orders``: ``(order id, role)`` behind it."""
    level = Level(level).value
    new_id = insert_unless_taken(session, RiskWarning.__table__, {
        "kind": kind, "level": level, "state": "open", "area_code": area_code,
        "category": category, "dedupe_key": dedupe_key, "explanation": explanation,
        "details": dict(details), "order_id": order_id, "created_at": now, "updated_at": now,
        "version": 1,
    })
    warning = _locked(session, dedupe_key)
    added = _add_orders(session, warning.id, orders, now)
    if new_id is not None:
        _event(session, warning, "raise", now, note=_orders_note(added))
        _notify(session, cfg, warning, now)
        return warning, True
    went_up = level_rank(level) > level_rank(warning.level)
    changed = went_up or bool(added)
    if went_up:
        warning.level = level
    if changed or dict(details) != warning.details:
        warning.explanation = explanation
        warning.details = dict(details)
        warning.updated_at = now
        if order_id is not None and warning.order_id is None:
            warning.order_id = order_id
    if went_up and warning.state == "closed":
        # worse than when it was closed: open again, so someone looks
        warning.state = "open"
        _event(session, warning, "reopen", now, note=f"level:{level}")
    elif changed:
        note = " ".join(p for p in (f"level:{level}" if went_up else "",
                                    _orders_note(added) or "") if p)
        _event(session, warning, "update", now, note=note or None)
    session.flush()
    if went_up:
        _notify(session, cfg, warning, now)
    return warning, went_up


# ------------------------------------------------------------------------ rows


def _locked(session: Session, dedupe_key: str) -> RiskWarning:
    stmt = (select(RiskWarning).where(RiskWarning.dedupe_key == dedupe_key)
            .execution_options(populate_existing=True))
    if store.has_row_locks(session):
        stmt = stmt.with_for_update()
    return session.scalars(stmt).one()


def _add_orders(
    session: Session, warning_id: int, orders: Sequence[tuple[int, str]], now: datetime
) -> list[tuple[int, str]]:
    """Link the orders not linked yet; those added."""
    if not orders:
        return []
    known = set(session.scalars(
        select(WarningOrder.order_id).where(WarningOrder.warning_id == warning_id)))
    added: list[tuple[int, str]] = []
    for order_id, role in orders:
        if order_id in known:
            continue
        known.add(order_id)
        session.add(WarningOrder(warning_id=warning_id, order_id=order_id, role=role,
                                 added_at=now))
        added.append((order_id, role))
    return added


def _orders_note(added: Sequence[tuple[int, str]]) -> str | None:
    if not added:
        return None
    return "orders:" + ",".join(f"{oid}/{role}" for oid, role in added)


def _event(session: Session, warning: RiskWarning, action: str, now: datetime, *,
           note: str | None) -> None:
    session.add(WarningEvent(warning_id=warning.id, action=action, actor=SYSTEM, at=now,
                             level=warning.level, note=note))


# --------------------------------------------------------------------- notices


def _notify(session: Session, cfg: ServiceConfig, warning: RiskWarning, now: datetime) -> None:
    """One ``warning.raised`` row per dispatcher (with a chat) and supervisor of the area;
    a ``log`` row addressed to the area if there is nobody."""
    chain = store.area_chain_cached(session, warning.area_code)
    places = set(chain.values()) | {warning.area_code}
    number = None
    if warning.order_id is not None:
        number = session.scalar(select(WorkOrder.number).where(WorkOrder.id == warning.order_id))
    text = f"【{LEVEL_LABELS.get(warning.level, warning.level)}】{warning.explanation}"
    payload: dict[str, Any] = {
        "text": text, "warning_id": warning.id, "kind": warning.kind,
        "kind_label": KIND_LABELS.get(warning.kind, warning.kind), "level": warning.level,
        "area_code": warning.area_code, "category": warning.category,
        "order_number": number, "path": CONSOLE_PATH.format(id=warning.id),
    }
    targets: list[tuple[str, str, str, dict[str, Any]]] = []
    for user in outbox.dispatcher_chats(session, places):
        targets.append(("dispatcher", f"staff:{user.username}", "telegram",
                        {"chat_id": user.telegram_chat_id}))
    for user in _supervisor_accounts(session, places):
        targets.append(("supervisor", f"staff:{user.username}", "telegram",
                        {"chat_id": user.telegram_chat_id}))
    for handler in _supervising_handlers(session, cfg, chain, warning.area_code):
        chat = handler.telegram_chat_id
        targets.append(("supervisor", str(handler.id), "telegram" if chat else "log",
                        {"chat_id": chat} if chat else {}))
    if not targets:
        targets.append(("supervisor", warning.area_code, "log", {}))
    for kind, ref, channel, extra in targets:
        _queue_once(session, dedupe=f"warning:{warning.id}:{warning.level}:{kind}:{ref}",
                    order_number=number, recipient_kind=kind, recipient_ref=ref,
                    channel=channel, payload={**payload, **extra}, now=now)


def _queue_once(session: Session, *, dedupe: str, order_number: str | None,
                recipient_kind: str, recipient_ref: str, channel: str,
                payload: dict[str, Any], now: datetime) -> None:
    """Queue the notice unless this key was queued before (a level reached twice)."""
    if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe)):
        return
    outbox._queue(session, dedupe=dedupe, order_number=order_number,
                  recipient_kind=recipient_kind, recipient_ref=recipient_ref, channel=channel,
                  topic=TOPIC_WARNING, payload=payload, now=now)


def _supervisor_accounts(session: Session, places: set[str]) -> list[StaffUser]:
    """Active supervisor accounts with a Telegram chat who cover any of ``places``."""
    stmt = (select(StaffUser)
            .where(StaffUser.role == "supervisor", StaffUser.active.is_(True))
            .order_by(StaffUser.id))
    return [u for u in session.scalars(stmt)
            if u.telegram_chat_id and places & set(u.areas or [])]


def _supervising_handlers(session: Session, cfg: ServiceConfig, chain: Mapping[str, str],
                          area_code: str) -> list[Handler]:
    """``Handler.is_supervisor`` of the tier above the grid (the township) for the area;
    for a warning about a township or the county, that area's own tier."""
    tiers = cfg.taxonomy.tiers
    tier = next((t for t, code in chain.items() if code == area_code), tiers[0])
    upper = cfg.taxonomy.next_tier(tier) if tier == tiers[0] else tier
    if upper is None:
        upper = tier
    area = chain.get(upper, area_code)
    return store.supervisors_for(session, upper, area)


__all__ = ["TOPIC_WARNING", "level_rank", "raise_warning"]
