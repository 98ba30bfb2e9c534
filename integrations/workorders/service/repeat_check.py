"""重复诉求 at creation: is a new order the same matter as one resolved or closed lately?

``open_order`` calls ``find_repeat_of`` before it dispatches the new order:
the earlier orders of the same grid and category (index
``ix_work_orders_area_category_created``) that were resolved, closed or
archived within the kind's window (``RepeatRules``), compared by place
(``domain.places.repeat_place_key``) in ``domain.repeats.find_repeat``.
Cancelled orders never count. A repeat starts one tier up (a repeat is not
handed back to the same grid alone; ``repeat_tier``: at the grid only when
nobody above it handles the category), gets a ``repeat`` event naming the
earlier numbers, and, once the order has its id, a ``repeat`` warning
(``raise_repeat_warning``) that names who resolved the earlier order.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import Area, AreaAlias, Handler, OrderEvent, WorkOrder
from ..domain.lifecycle import Action, Status
from ..domain.places import repeat_place_key
from ..domain.repeats import PastOrder, RepeatFinding, explain_repeat, find_repeat
from ..domain.warnings import WarningKind
from .common import category_label
from .config import ServiceConfig
from .handlers import NAME_CONTEXT
from .warnings import raise_warning

#: The order event of a repeat (no status change); its note lists the earlier numbers.
REPEAT = "repeat"
#: Statuses of an earlier order that was dealt with (cancelled ones are not).
DONE = (Status.RESOLVED.value, Status.CLOSED.value, Status.ARCHIVED.value)


@dataclass(frozen=True)
class Repeat:
    """A repeat found for a new order: the finding, the earlier orders' ids and who resolved
    the newest of them (a name, or None)."""

    finding: RepeatFinding
    resolver_name: str | None
    place_key: str


def find_repeat_of(
    session: Session, cfg: ServiceConfig, *, kind: str, category: str, area_code: str,
    location_text: str, area_by_tier: Mapping[str, str], now: datetime,
) -> Repeat | None:
    """The repeat the new order is, or None (it is not one)."""
    rules = cfg.warning_rules.repeat
    since = now - timedelta(days=rules.window_days(kind))
    done_at = func.coalesce(WorkOrder.resolved_at, WorkOrder.closed_at)
    rows = session.execute(
        select(WorkOrder.id, WorkOrder.number, WorkOrder.kind, WorkOrder.category,
               WorkOrder.location_text, WorkOrder.status, WorkOrder.created_at,
               WorkOrder.resolved_at, WorkOrder.closed_at)
        .where(WorkOrder.area_code == area_code, WorkOrder.category == category,
               WorkOrder.status.in_(DONE), done_at >= since)
        .order_by(WorkOrder.id.desc())
        .limit(200)
    ).all()
    if not rows:
        return None
    names = tuple(_area_names(session, area_by_tier))
    key = place_key_of(location_text, names)
    resolvers = _resolvers(session, [r.id for r in rows])
    past = [
        PastOrder(order_id=r.id, number=r.number, kind=r.kind, category=r.category,
                  place_key=place_key_of(r.location_text, names), status=r.status,
                  created_at=r.created_at, resolved_at=r.resolved_at, closed_at=r.closed_at,
                  resolved_by=resolvers.get(r.id))
        for r in rows
    ]
    finding = find_repeat(kind, category, key, now, past, rules)
    if finding is None:
        return None
    actor = finding.earlier[0].resolved_by
    return Repeat(finding=finding, resolver_name=_person(session, cfg, actor), place_key=key)


def repeat_tier(session: Session, cfg: ServiceConfig, *, kind: str, category: str,
                area_by_tier: Mapping[str, str]) -> str:
    """The tier a repeat starts at: the one above the grid, if anyone on duty there (or
    higher) handles the category; else the grid (the repeat warning tells the township,
    so the grid does not handle it alone, and the resident does not wait for nobody)."""
    taxonomy = cfg.taxonomy
    grid = taxonomy.tiers[0]
    upper = taxonomy.next_tier(grid)
    if upper is None:
        return grid
    above = taxonomy.tiers[taxonomy.tiers.index(upper):]
    found = store.candidate_handlers(session, role=taxonomy.handler_role(kind),
                                     category=category, area_by_tier=area_by_tier, tiers=above)
    return upper if found else grid


@functools.lru_cache(maxsize=65536)
def place_key_of(text: str, area_names: tuple[str, ...]) -> str:
    """``repeat_place_key``, remembered (places repeat; the key is pure)."""
    return repeat_place_key(text, area_names)


def repeat_note(repeat: Repeat) -> str:
    """The ``repeat`` event's note: ``earlier:<number>,<number>`` (and ``sham`` if so)."""
    note = "earlier:" + ",".join(p.number for p in repeat.finding.earlier)
    return note + (" sham" if repeat.finding.sham else "")


def raise_repeat_warning(
    session: Session, cfg: ServiceConfig, order: WorkOrder, repeat: Repeat, now: datetime
) -> None:
    """The ``repeat`` warning of the new ``order`` (inserted, with its id)."""
    finding = repeat.finding
    area_name = session.scalar(select(Area.name).where(Area.code == order.area_code)) or ""
    explanation = explain_repeat(
        finding, place=order.location_text, area_name=area_name,
        category_name=category_label(cfg.taxonomy, order.category),
        resolver_name=repeat.resolver_name)
    details = {
        "place": order.location_text,
        "place_key": repeat.place_key,
        "sham": finding.sham,
        "resolver": repeat.resolver_name,
        "earlier": [
            {"number": p.number, "status": p.status,
             "resolved_at": p.resolved_at.isoformat() if p.resolved_at else None,
             "closed_at": p.closed_at.isoformat() if p.closed_at else None}
            for p in finding.earlier
        ],
    }
    orders = [(order.id, "trigger"), *((p.order_id, "earlier") for p in finding.earlier)]
    raise_warning(
        session, cfg, kind=WarningKind.REPEAT.value, dedupe_key=f"repeat:{order.id}",
        level=finding.level.value, area_code=order.area_code, category=order.category,
        explanation=explanation, details=details, order_id=order.id, orders=orders, now=now)


def _area_names(session: Session, area_by_tier: Mapping[str, str]) -> list[str]:
    """The names of the order's grid, township and county, and the grid's aliases."""
    codes = sorted(set(area_by_tier.values()))
    names = list(session.scalars(select(Area.name).where(Area.code.in_(codes))))
    names += list(session.scalars(select(AreaAlias.alias).where(AreaAlias.area_code.in_(codes))))
    return names


def _resolvers(session: Session, order_ids: list[int]) -> dict[int, str]:
    """Who last resolved each order (the event's actor, e.g. ``handler:3``)."""
    found: dict[int, str] = {}
    stmt = (select(OrderEvent.order_id, OrderEvent.actor)
            .where(OrderEvent.action == Action.RESOLVE.value, OrderEvent.order_id.in_(order_ids))
            .order_by(OrderEvent.order_id, OrderEvent.seq))
    for order_id, actor in session.execute(stmt):
        found[order_id] = actor
    return found


def _person(session: Session, cfg: ServiceConfig, actor: str | None) -> str | None:
    """A resolver's name: the handler's (decrypted), a staff member's username."""
    if not actor:
        return None
    kind, _, rest = actor.partition(":")
    if kind == "handler" and rest.isdigit():
        name_enc = session.scalar(select(Handler.name_enc).where(Handler.id == int(rest)))
        return cfg.vault.decrypt(name_enc, context=NAME_CONTEXT) if name_enc else None
    if kind == "staff" and rest:
        return rest
    return None
