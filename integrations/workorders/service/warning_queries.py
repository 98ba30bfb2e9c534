"""Reading 研判预警 warnings: the listing, one warning with its orders and history, the
open count.

``scope``: the areas a caller covers (a dispatcher's): a warning is visible when its
area is one of them or lies below one of them; None: every warning (supervisors,
admins). A warning outside the scope is ``NotFound``, exactly like an id that does
not exist.

A page costs a bounded number of statements whatever its size and the table's: the
areas below the scope (one per tier), the counts by state and level, and the rows
of each of the (at most nine) state × level groups the page reaches, newest first
along ``ix_warnings_state_created_at``, their area names and order numbers joined
in; usually one or two groups. Orders and history are read for ``get_warning`` only.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import Area, RiskWarning, WarningEvent, WarningOrder, WorkOrder
from ..adapters.warnings_tables import WARNING_KINDS, WARNING_LEVELS, WARNING_STATES
from ..domain.taxonomy import Taxonomy
from .common import category_label
from .errors import InvalidInput, NotFound
from .queries import MAX_PAGE
from .uow import UnitOfWork

#: How the orders behind a warning are listed: the one it is about first.
ROLE_ORDER = ("trigger", "parent", "earlier", "member")


@dataclass(frozen=True)
class WarningOrderView:
    """An order behind a warning (``role``: trigger, earlier, member, parent)."""

    number: str
    role: str
    status: str
    category: str
    location_text: str
    created_at: datetime
    #: the category's Chinese name (beyond the contract; None if not looked up)
    category_name: str | None = None


@dataclass(frozen=True)
class WarningEventView:
    """One entry of a warning's history (raise, update, acknowledge, close, link...)."""

    action: str
    actor: str
    at: datetime
    level: str
    note: str | None


@dataclass(frozen=True)
class WarningView:
    """A warning; ``orders`` and ``events`` are filled by ``get_warning`` only."""

    id: int
    kind: str
    level: str
    state: str
    area_code: str
    area_name: str
    category: str | None
    category_name: str | None
    explanation: str
    details: dict[str, Any]
    order_number: str | None
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    closed_at: datetime | None
    closed_by: str | None
    close_note: str | None
    orders: tuple[WarningOrderView, ...] = ()
    events: tuple[WarningEventView, ...] = ()


@dataclass(frozen=True)
class WarningPage:
    """One page of warnings and how many match in all."""

    items: list[WarningView]
    total: int
    limit: int = 50
    offset: int = 0


# --------------------------------------------------------------------- filters

_FILTER_ZH = {"kind": "预警类型", "level": "预警等级", "state": "处理状态"}


def _choices(values: Iterable[str] | None, allowed: tuple[str, ...], name: str) -> list[str]:
    """The distinct values asked for, in ``allowed``'s order; ``InvalidInput`` for others."""
    if values is None:
        return []
    if isinstance(values, str):
        values = [values]
    chosen = {str(v).strip() for v in values if str(v).strip()}
    unknown = sorted(chosen - set(allowed))
    if unknown:
        raise InvalidInput(
            name, f"unknown value(s) {', '.join(unknown)}; one of {', '.join(allowed)}",
            f"{_FILTER_ZH[name]}的取值不正确，可选：{'、'.join(allowed)}。",
        )
    return [v for v in allowed if v in chosen]


def _visible_areas(session: Session, scope: Collection[str] | None,
                   area_code: str | None) -> set[str] | None:
    """The area codes the listing may show (None: all); ``InvalidInput`` for an unknown
    ``area_code``. An area outside the scope simply shows nothing."""
    visible = None if scope is None else store.areas_within(session, scope)
    if area_code is None:
        return visible
    if session.get(Area, area_code) is None:
        raise InvalidInput("area", f"no area {area_code!r}", "没有这个区域，请检查区域代码。")
    below = store.areas_within(session, [area_code])
    return below if visible is None else below & visible


def in_scope(session: Session, area_code: str, scope: Collection[str] | None) -> bool:
    """Whether a warning placed in ``area_code`` is visible to a caller of ``scope``."""
    return scope is None or area_code in store.areas_within(session, scope)


def _bucket_rank(state: str, level: str) -> tuple[int, int]:
    """Open, acknowledged, closed; within each urgent > warning > attention (values the
    tables do not know last)."""
    state_rank = WARNING_STATES.index(state) if state in WARNING_STATES else len(WARNING_STATES)
    level_rank = WARNING_LEVELS.index(level) if level in WARNING_LEVELS else -1
    return state_rank, -level_rank


def _page_slices(counts: Iterable[tuple[str, str, int]], limit: int,
                 offset: int) -> list[tuple[str, str, int, int]]:
    """Which (state, level) groups a page takes rows from: ``(state, level, limit, offset)``
    within each group (where rows are newest first), in the listing's order."""
    slices: list[tuple[str, str, int, int]] = []
    skip, need = offset, limit
    for state, level, size in sorted(counts, key=lambda c: _bucket_rank(c[0], c[1])):
        if need <= 0:
            break
        if skip >= size:
            skip -= size
            continue
        take = min(need, size - skip)
        slices.append((state, level, take, skip))
        skip, need = 0, need - take
    return slices


def _rows(stmt: Select[Any]) -> Select[Any]:
    """``stmt`` (over warnings) with each warning's area name and order number joined in."""
    return (
        stmt.add_columns(Area.name, WorkOrder.number)
        .join(Area, Area.code == RiskWarning.area_code)
        .outerjoin(WorkOrder, WorkOrder.id == RiskWarning.order_id)
    )


# --------------------------------------------------------------------- queries


def list_warnings(
    uow: UnitOfWork,
    *,
    kinds: Iterable[str] | None = None,
    levels: Iterable[str] | None = None,
    states: Iterable[str] | None = None,
    area_code: str | None = None,
    scope: Collection[str] | None,
    limit: int = 50,
    offset: int = 0,
) -> WarningPage:
    """Warnings, open first, then acknowledged, then closed; within each the most severe
    and then the newest first. ``kinds``/``levels``/``states``: any of these (empty or
    None: all); ``area_code``: that area and the areas below it. ``InvalidInput`` for
    an unknown kind, level, state or area."""
    chosen_kinds = _choices(kinds, WARNING_KINDS, "kind")
    chosen_levels = _choices(levels, WARNING_LEVELS, "level")
    chosen_states = _choices(states, WARNING_STATES, "state")
    area = (area_code or "").strip() or None
    limit = max(1, min(limit, MAX_PAGE))
    offset = max(0, offset)
    with uow.read_only():
        session = uow.session
        visible = _visible_areas(session, scope, area)
        conditions: list[ColumnElement[bool]] = []
        if chosen_kinds:
            conditions.append(RiskWarning.kind.in_(chosen_kinds))
        if chosen_levels:
            conditions.append(RiskWarning.level.in_(chosen_levels))
        if chosen_states:
            conditions.append(RiskWarning.state.in_(chosen_states))
        if visible is not None:
            conditions.append(RiskWarning.area_code.in_(sorted(visible)))
        # How many of each state and level, then each group the page reaches read newest
        # first along ix_warnings_state_created_at: no sort of the whole table by rank.
        counts = [(state, level, int(n)) for state, level, n in session.execute(
            select(RiskWarning.state, RiskWarning.level, func.count())
            .where(*conditions).group_by(RiskWarning.state, RiskWarning.level))]
        total = sum(n for _, _, n in counts)
        taxonomy = uow.config.taxonomy
        items: list[WarningView] = []
        for state, level, take, skip in _page_slices(counts, limit, offset):
            stmt = (_rows(select(RiskWarning))
                    .where(*conditions, RiskWarning.state == state, RiskWarning.level == level)
                    .order_by(RiskWarning.created_at.desc(), RiskWarning.id.desc())
                    .limit(take).offset(skip))
            items.extend(_view(w, name, number, taxonomy)
                         for w, name, number in session.execute(stmt))
    return WarningPage(items=items, total=total, limit=limit, offset=offset)


def get_warning(uow: UnitOfWork, warning_id: int, *, scope: Collection[str] | None) -> WarningView:
    """One warning with the orders behind it and its history (oldest first);
    ``NotFound`` for no such warning or one outside ``scope``."""
    with uow.read_only():
        return warning_view(uow.session, warning_id, scope=scope, taxonomy=uow.config.taxonomy)


def open_warning_count(uow: UnitOfWork, *, scope: Collection[str] | None) -> int:
    """How many open warnings the caller may see (the console's nav badge)."""
    with uow.read_only():
        session = uow.session
        stmt = select(func.count()).select_from(RiskWarning).where(RiskWarning.state == "open")
        if scope is not None:
            stmt = stmt.where(RiskWarning.area_code.in_(sorted(store.areas_within(session, scope))))
        return int(session.scalar(stmt) or 0)


# --------------------------------------------------------------------- views


def warning_view(session: Session, warning_id: int, *, scope: Collection[str] | None,
                 taxonomy: Taxonomy) -> WarningView:
    """The full view of one warning as it is in ``session`` (orders, history); ``NotFound``
    for none or one outside ``scope``. Shared with ``warning_actions``."""
    row = session.execute(
        _rows(select(RiskWarning)).where(RiskWarning.id == warning_id)
    ).one_or_none()
    if row is None or not in_scope(session, row[0].area_code, scope):
        raise NotFound("warning", warning_id)
    warning, area_name, number = row
    orders = session.execute(
        select(WarningOrder.role, WorkOrder.number, WorkOrder.status, WorkOrder.category,
               WorkOrder.location_text, WorkOrder.created_at)
        .join(WorkOrder, WorkOrder.id == WarningOrder.order_id)
        .where(WarningOrder.warning_id == warning_id)
    ).all()
    events = session.scalars(
        select(WarningEvent).where(WarningEvent.warning_id == warning_id)
        .order_by(WarningEvent.id)
    ).all()
    return _view(warning, area_name, number, taxonomy,
                 orders=_order_views(orders, taxonomy),
                 events=tuple(WarningEventView(action=e.action, actor=e.actor, at=e.at,
                                               level=e.level, note=e.note) for e in events))


def _order_views(rows: Iterable[Any], taxonomy: Taxonomy) -> tuple[WarningOrderView, ...]:
    """The orders behind a warning: by role (``ROLE_ORDER``); earlier ones newest first,
    the others in the order they came."""
    views = [WarningOrderView(number=r.number, role=r.role, status=r.status,
                              category=r.category, location_text=r.location_text,
                              created_at=r.created_at,
                              category_name=category_label(taxonomy, r.category))
             for r in rows]

    def key(view: WarningOrderView) -> tuple[int, float]:
        rank = ROLE_ORDER.index(view.role) if view.role in ROLE_ORDER else len(ROLE_ORDER)
        stamp = view.created_at.timestamp()
        return rank, -stamp if view.role == "earlier" else stamp

    return tuple(sorted(views, key=key))


def _view(
    warning: RiskWarning, area_name: str, order_number: str | None, taxonomy: Taxonomy, *,
    orders: tuple[WarningOrderView, ...] = (), events: tuple[WarningEventView, ...] = (),
) -> WarningView:
    return WarningView(
        id=warning.id,
        kind=warning.kind,
        level=warning.level,
        state=warning.state,
        area_code=warning.area_code,
        area_name=area_name,
        category=warning.category,
        category_name=None if warning.category is None else category_label(
            taxonomy, warning.category),
        explanation=warning.explanation,
        details=dict(warning.details or {}),
        order_number=order_number,
        created_at=warning.created_at,
        updated_at=warning.updated_at,
        acknowledged_at=warning.acknowledged_at,
        acknowledged_by=warning.acknowledged_by,
        ack_note=warning.ack_note,
        closed_at=warning.closed_at,
        closed_by=warning.closed_by,
        close_note=warning.close_note,
        orders=orders,
        events=events,
    )
