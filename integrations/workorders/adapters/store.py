"""Queries and row locks the use cases share; functions of a ``Session``.

They never commit or open sessions: the unit of work owns the transaction.
Locking: on PostgreSQL ``lock_*`` functions issue ``SELECT ... FOR NO KEY
UPDATE`` (handlers ordered by id, so two transactions never wait on each other
in a cycle). ``NO KEY`` matters: inserting an event, a decline or an order
that references a handler takes a ``KEY SHARE`` lock on the handler row (the
foreign-key check), which plain ``FOR UPDATE`` would conflict with, so two
declines of orders of one handler would deadlock. We never change keys, so
``FOR NO KEY UPDATE`` serializes exactly the writers that must take turns.
On SQLite, where row locks do not exist, the write transaction (``BEGIN
IMMEDIATE``) already excludes every other writer and a plain read sees the
latest committed state.

Loads are counted in a statement of their own after the handlers are locked:
on PostgreSQL each statement of a READ COMMITTED transaction reads a fresh
snapshot, so the count includes every order committed by a transaction that
held a lock we waited for (a count in the locking statement itself would be
as old as the statement).
"""

from __future__ import annotations

import functools
import threading
import time
import weakref
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    case,
    cast,
    exists,
    false,
    func,
    or_,
    select,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import Connection
from sqlalchemy.orm import Session

from ..domain.dispatch import WEIGHTS
from ..domain.lifecycle import OPEN_STATUSES, Action
from ..domain.places import PlaceName, location_key, rank
from .orm import Area, AreaAlias, Handler, OrderDecline, OrderEvent, WorkOrder

OPEN_STATUS_VALUES = tuple(sorted(s.value for s in OPEN_STATUSES))


def has_row_locks(session: Session) -> bool:
    """True on engines with ``SELECT ... FOR UPDATE`` (PostgreSQL)."""
    return session.get_bind().dialect.name != "sqlite"


# ----------------------------------------------------------------- work orders


def order_by_number(session: Session, number: str) -> WorkOrder | None:
    return session.scalar(select(WorkOrder).where(WorkOrder.number == number))


def lock_order(session: Session, number: str) -> WorkOrder | None:
    """The order, locked against concurrent transitions until the transaction ends."""
    stmt = (
        select(WorkOrder)
        .where(WorkOrder.number == number)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )
    return session.scalar(stmt)


def claim_order(
    session: Session, order_id: int, *conditions: ColumnElement[bool]
) -> WorkOrder | None:
    """Lock order ``order_id`` if it still meets ``conditions``, skipping it if locked.

    For jobs that several processes run at once (the sweeper, the queue): a
    row another transaction holds is skipped (``SKIP LOCKED``), and the
    conditions are evaluated on the latest committed row, so an order that
    someone else already handled is not returned.
    """
    stmt = (
        select(WorkOrder)
        .where(WorkOrder.id == order_id, *conditions)
        .with_for_update(skip_locked=True, key_share=True)
        .execution_options(populate_existing=True)
    )
    return session.scalar(stmt)


def declined_by(session: Session, order_id: int) -> frozenset[int]:
    rows = session.scalars(select(OrderDecline.handler_id).where(OrderDecline.order_id == order_id))
    return frozenset(rows)


def add_decline(session: Session, order_id: int, handler_id: int, at: datetime) -> None:
    if session.get(OrderDecline, (order_id, handler_id)) is None:
        session.add(OrderDecline(order_id=order_id, handler_id=handler_id, declined_at=at))


def events_of(session: Session, order_id: int) -> list[OrderEvent]:
    stmt = select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.seq)
    return list(session.scalars(stmt))


#: Events whose note the handler writes about the work itself (处置, 办结).
HANDLER_NOTE_ACTIONS = (Action.PROGRESS.value, Action.RESOLVE.value)


def latest_handler_note(session: Session, order_number: str) -> str | None:
    """The note of the order's newest progress or resolve event that has one, or None."""
    stmt = (
        select(OrderEvent.note)
        .join(WorkOrder, WorkOrder.id == OrderEvent.order_id)
        .where(
            WorkOrder.number == order_number,
            OrderEvent.action.in_(HANDLER_NOTE_ACTIONS),
            OrderEvent.note.is_not(None),
        )
        .order_by(OrderEvent.seq.desc())
        .limit(1)
    )
    return session.scalar(stmt)


# ----------------------------------------------------------------------- areas


def area_chain(session: Session, code: str) -> dict[str, str]:
    """``{tier: area code}`` from ``code`` up to the root, e.g. grid, township, county."""
    chain: dict[str, str] = {}
    current: str | None = code
    while current is not None and len(chain) < 16:
        area = session.get(Area, current)
        if area is None:
            break
        chain.setdefault(area.tier, area.code)
        current = area.parent_code
    return chain


#: How long a process trusts an area chain it read (areas are only ever added,
#: never changed or removed, by the service; the limit covers edits by hand).
AREA_CHAIN_TTL_S = 60.0

_chains: weakref.WeakKeyDictionary[object, dict[str, tuple[float, dict[str, str]]]] = (
    weakref.WeakKeyDictionary()
)
_chains_lock = threading.Lock()


def _cache_key(session: Session) -> object:
    """What a cached chain belongs to: the database (engine) the session talks to."""
    bind = session.get_bind()
    return bind.engine if isinstance(bind, Connection) else bind


def area_chain_cached(session: Session, code: str) -> dict[str, str]:
    """``area_chain``, remembered per database and process for ``AREA_CHAIN_TTL_S``.

    Only found chains are kept (an unknown code is looked up every time, so
    an area added by another process is seen at once); ``forget_area_chains``
    empties the cache (``add_area`` calls it). Returns a copy.
    """
    key = _cache_key(session)
    now = time.monotonic()
    cached = _chains.get(key, {}).get(code)
    if cached is not None and cached[0] > now:
        return dict(cached[1])
    chain = area_chain(session, code)
    if chain:
        with _chains_lock:
            _chains.setdefault(key, {})[code] = (now + AREA_CHAIN_TTL_S, chain)
    return dict(chain)


def forget_area_chains(session: Session | None = None) -> None:
    """Empty the area-chain cache of ``session``'s database (of every database if None)."""
    with _chains_lock:
        if session is None:
            _chains.clear()
        else:
            _chains.pop(_cache_key(session), None)


@dataclass(frozen=True)
class PlaceIndex:
    """What place resolution needs: every grid's name and aliases, and the fallback grid.

    ``names`` are in ``domain.places.rank`` order; ``fallback`` is ``(code, name)``.
    """

    names: tuple[PlaceName, ...]
    fallback: tuple[str, str] | None


def place_index(session: Session, grid_tier: str) -> PlaceIndex:
    """The grids of tier ``grid_tier`` by name and alias, and the fallback grid (two queries)."""
    grids = {a.code: a for a in session.scalars(select(Area).where(Area.tier == grid_tier))}
    names = [PlaceName(location_key(a.name), a.name, a.code, a.name) for a in grids.values()]
    aliases = session.execute(select(AreaAlias.alias_key, AreaAlias.alias, AreaAlias.area_code))
    names += [
        PlaceName(key, alias, code, grids[code].name)
        for key, alias, code in aliases
        if code in grids
    ]
    fallback = next(((a.code, a.name) for a in grids.values() if a.fallback), None)
    return PlaceIndex(names=rank(names), fallback=fallback)


#: How long a process trusts the place index it read: changes made through the
#: service in this process are seen at once (``forget_place_index``), changes
#: by another process within this many seconds.
PLACE_INDEX_TTL_S = 60.0

_places: weakref.WeakKeyDictionary[object, dict[str, tuple[float, PlaceIndex]]] = (
    weakref.WeakKeyDictionary()
)
_places_lock = threading.Lock()
#: Bumped by every ``forget_place_index``: an index read before a change is not kept.
_places_generation = 0


def place_index_cached(session: Session, grid_tier: str) -> PlaceIndex:
    """``place_index``, remembered per database and process for ``PLACE_INDEX_TTL_S``.

    Resolution runs for every report, so the aliases are not read each time;
    ``forget_place_index`` empties the cache (``add_area``, ``add_alias`` and
    ``set_fallback_area`` call it after they commit). An index read while the
    cache was being emptied is used once but not kept.
    """
    key = _cache_key(session)
    now = time.monotonic()
    cached = _places.get(key, {}).get(grid_tier)
    if cached is not None and cached[0] > now:
        return cached[1]
    generation = _places_generation
    index = place_index(session, grid_tier)
    with _places_lock:
        if generation == _places_generation:
            _places.setdefault(key, {})[grid_tier] = (now + PLACE_INDEX_TTL_S, index)
    return index


def forget_place_index(session: Session | None = None) -> None:
    """Empty the place-index cache of ``session``'s database (of every database if None)."""
    global _places_generation
    with _places_lock:
        _places_generation += 1
        if session is None:
            _places.clear()
        else:
            _places.pop(_cache_key(session), None)


def areas_within(session: Session, codes: Iterable[str]) -> set[str]:
    """``codes`` and every area below them (breadth-first over ``parent_code``)."""
    found = set(codes)
    frontier = set(found)
    while frontier:
        children = set(session.scalars(select(Area.code).where(Area.parent_code.in_(frontier))))
        frontier = children - found
        found |= frontier
    return found


# -------------------------------------------------------------------- handlers


def weight_expr() -> ColumnElement[int]:
    """SQL for an order's load weight (urgent 3, normal 1), from ``domain.dispatch``."""
    whens = {priority.value: weight for priority, weight in WEIGHTS.items()}
    return case(whens, value=WorkOrder.priority, else_=max(WEIGHTS.values()))


def handler_loads(session: Session, handler_ids: Collection[int]) -> dict[int, int]:
    """Sum of the weights of each handler's open orders (0 for none)."""
    if not handler_ids:
        return {}
    stmt = (
        select(WorkOrder.assignee_id, func.sum(weight_expr()))
        .where(WorkOrder.assignee_id.in_(handler_ids), WorkOrder.status.in_(OPEN_STATUS_VALUES))
        .group_by(WorkOrder.assignee_id)
    )
    loads = {hid: 0 for hid in handler_ids}
    for handler_id, load in session.execute(stmt):
        assert handler_id is not None  # the statement selects assignees in handler_ids
        loads[handler_id] = int(load or 0)
    return loads


@dataclass(frozen=True)
class HandlerStats:
    """What dispatch counts per handler: load, recent assignments, a decline of the order."""

    load: int
    assigned_since: int
    declined: bool


def handler_stats(
    session: Session, handler_ids: Collection[int], since: datetime, order_id: int | None = None
) -> dict[int, HandlerStats]:
    """``handler_loads``, the dispatches since ``since`` and ``declined_by``, in one statement.

    ``declined``: the handler declined order ``order_id`` (always False when
    ``order_id`` is None, e.g. for an order being created). Run it after
    locking the handlers (see the module docstring).
    """
    if not handler_ids:
        return {}
    params: dict[str, object] = {"ids": list(handler_ids), "since": since}
    if order_id is not None:
        params["order_id"] = order_id
    stats = {hid: HandlerStats(0, 0, False) for hid in handler_ids}
    for handler_id, load, recent, declined in session.execute(
        _stats_statement(order_id is not None), params
    ):
        stats[handler_id] = HandlerStats(int(load or 0), int(recent or 0), bool(declined))
    return stats


@functools.cache
def _stats_statement(with_declines: bool) -> Select[int, int, int, bool]:
    """The statement of ``handler_stats``, built once (binds: ids, since, order_id)."""
    load = (
        select(func.coalesce(func.sum(weight_expr()), 0))
        .where(WorkOrder.assignee_id == Handler.id, WorkOrder.status.in_(OPEN_STATUS_VALUES))
        .scalar_subquery()
    )
    recent = (
        select(func.count())
        .select_from(OrderEvent)
        .where(
            OrderEvent.handler_id == Handler.id,
            OrderEvent.action == Action.DISPATCH.value,
            OrderEvent.at >= bindparam("since"),
        )
        .scalar_subquery()
    )
    declined: ColumnElement[bool] = (
        exists().where(OrderDecline.order_id == bindparam("order_id"),
                       OrderDecline.handler_id == Handler.id)
        if with_declines
        else false()
    )
    return select(Handler.id, load, recent, declined).where(
        Handler.id.in_(bindparam("ids", expanding=True))
    )


def candidate_handlers(
    session: Session,
    *,
    role: str,
    category: str,
    area_by_tier: Mapping[str, str],
    tiers: Collection[str],
) -> list[Handler]:
    """On-duty handlers of ``role`` who have the skill and cover the order's area at their tier.

    The same conditions as ``domain.dispatch.is_eligible`` except load and
    declines, which the caller adds; in id order. On PostgreSQL the rows are
    found and locked by one ``SELECT ... FOR NO KEY UPDATE`` (skills and areas
    matched as JSONB), re-read, so what ``plan`` sees stays true until commit.
    """
    places = {t: area_by_tier[t] for t in tiers if area_by_tier.get(t) is not None}
    if not places:
        return []
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        params: dict[str, object] = {"role": role, "skill": [category]}
        params.update({f"area_{i}": [code] for i, code in enumerate(places.values())})
        return list(session.scalars(_locking_candidates_statement(tuple(places)), params))
    stmt = (
        select(Handler)
        .where(Handler.role == role, Handler.on_duty.is_(True), Handler.tier.in_(list(places)))
        .order_by(Handler.id)
    )
    found = [
        h
        for h in session.scalars(stmt)
        if category in (h.skills or []) and places.get(h.tier) in (h.areas or [])
    ]
    if dialect == "sqlite":
        return found  # the immediate transaction already excludes other writers
    return lock_handlers(session, [h.id for h in found])


@functools.cache
def _locking_candidates_statement(tiers: tuple[str, ...]) -> Select[Handler]:
    """PostgreSQL: candidates at ``tiers``, locked in id order (binds: role, skill, area_<i>)."""
    areas = cast(Handler.areas, JSONB)
    return (
        select(Handler)
        .where(
            Handler.role == bindparam("role"),
            Handler.on_duty.is_(True),
            Handler.tier.in_(tiers),
            cast(Handler.skills, JSONB).contains(bindparam("skill", type_=JSONB)),
            or_(*(
                and_(Handler.tier == tier, areas.contains(bindparam(f"area_{i}", type_=JSONB)))
                for i, tier in enumerate(tiers)
            )),
        )
        .order_by(Handler.id)
        .with_for_update(key_share=True)
        .execution_options(populate_existing=True)
    )


def lock_handlers(session: Session, handler_ids: Collection[int]) -> list[Handler]:
    """The handlers, locked in id order (PostgreSQL) and refreshed from the database."""
    if not handler_ids:
        return []
    stmt = (
        select(Handler)
        .where(Handler.id.in_(sorted(handler_ids)))
        .order_by(Handler.id)
        .execution_options(populate_existing=True)
    )
    if has_row_locks(session):
        stmt = stmt.with_for_update(key_share=True)
    return list(session.scalars(stmt))


def supervisors_for(session: Session, tier: str, area_code: str) -> list[Handler]:
    """Supervisors (``is_supervisor``) at ``tier`` who cover ``area_code``."""
    stmt = (
        select(Handler)
        .where(Handler.is_supervisor.is_(True), Handler.tier == tier)
        .order_by(Handler.id)
    )
    return [h for h in session.scalars(stmt) if area_code in (h.areas or [])]
