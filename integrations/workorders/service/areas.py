"""The area hierarchy (county > township > grid) orders and handlers refer to, and
which grid a place a resident names lies in.

Place resolution (``resolve_area``) matches a grid's own name or one of its
aliases (``add_alias``) as a substring of the resident's words, compared
loosely (``domain.places``); the longest match wins, ties by area code. When
nothing matches, the fallback grid (``set_fallback_area``; e.g. the township
seat's community, which triages unplaced reports) is returned with
``matched=False``. Names and aliases are cached per process (``store.place_index_cached``);
every change here empties the cache.
"""

from __future__ import annotations

from collections import defaultdict

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from ..adapters import store
from ..adapters.orm import Area, AreaAlias
from ..domain.places import best_match, location_key
from .errors import Conflict, InvalidInput, NotFound
from .uow import UnitOfWork
from .views import AreaDetailView, AreaMatchView, AreaView

MAX_ALIAS = 100
MAX_PLACE_TEXT = 200


def add_area(
    uow: UnitOfWork, code: str, name: str, tier: str, parent_code: str | None = None
) -> AreaView:
    """Add an area; its parent must exist and sit exactly one tier up (None for the top tier)."""
    tiers = uow.config.taxonomy.tiers
    if tier not in tiers:
        raise InvalidInput("tier", f"must be one of {', '.join(tiers)}", "层级不正确。")
    code, name = (code or "").strip(), (name or "").strip()
    if not code or len(code) > 64 or not name or len(name) > 100:
        raise InvalidInput("code", "code 1-64 and name 1-100 characters", "区域编码或名称不正确。")
    with uow:
        session = uow.session
        if session.get(Area, code) is not None:
            raise Conflict(f"area {code!r} exists", "区域编码已存在。")
        expected_parent_tier = tiers[tiers.index(tier) + 1] if tier != tiers[-1] else None
        if (parent_code is None) != (expected_parent_tier is None):
            raise InvalidInput("parent_code", f"a {tier} area needs a parent at the next tier",
                               "上级区域不正确。")
        if parent_code is not None:
            parent = session.get(Area, parent_code)
            if parent is None or parent.tier != expected_parent_tier:
                raise InvalidInput(
                    "parent_code", f"{parent_code!r} is not a {expected_parent_tier}",
                    "上级区域不正确。",
                )
        area = Area(code=code, name=name, tier=tier, parent_code=parent_code, fallback=False)
        session.add(area)
        view = _view(area)
        uow.commit()
        store.forget_area_chains(session)  # dispatch's cached chains (see store)
        store.forget_place_index(session)  # a new grid is known by its name at once
    return view


def get_area(uow: UnitOfWork, code: str) -> AreaView:
    with uow.read_only():
        area = uow.session.get(Area, code)
        if area is None:
            raise NotFound("area", code)
        return _view(area)


def list_areas(uow: UnitOfWork, *, tier: str | None = None) -> list[AreaView]:
    stmt = select(Area).order_by(Area.code)
    if tier is not None:
        stmt = stmt.where(Area.tier == tier)
    with uow.read_only():
        return [_view(a) for a in uow.session.scalars(stmt)]


def list_area_details(uow: UnitOfWork) -> list[AreaDetailView]:
    """Every area by code, with its aliases."""
    with uow.read_only():
        session = uow.session
        aliases = _aliases_by_area(session.execute(select(AreaAlias.area_code, AreaAlias.alias)))
        return [_detail(a, aliases.get(a.code, ()))
                for a in session.scalars(select(Area).order_by(Area.code))]


def get_area_details(uow: UnitOfWork, code: str) -> AreaDetailView:
    with uow.read_only():
        session = uow.session
        area = session.get(Area, code)
        if area is None:
            raise NotFound("area", code)
        rows = session.execute(
            select(AreaAlias.area_code, AreaAlias.alias).where(AreaAlias.area_code == code)
        )
        return _detail(area, _aliases_by_area(rows).get(code, ()))


def add_alias(uow: UnitOfWork, code: str, alias: str) -> AreaDetailView:
    """Another name for grid ``code`` (a street, a landmark, what residents call it).

    ``InvalidInput`` for an empty or over-long alias, one without letters or
    digits, or an area that is not a grid; ``NotFound`` for an unknown area;
    ``Conflict`` if the alias (compared loosely) is already an alias of any
    grid, or is a grid's own name (which matches anyway).
    """
    text = (alias or "").strip()
    if not text or len(text) > MAX_ALIAS:
        raise InvalidInput("alias", f"must be 1 to {MAX_ALIAS} characters",
                           f"别名不能为空且不超过{MAX_ALIAS}字。")
    key = location_key(text)
    if not key:
        raise InvalidInput("alias", "must contain letters or digits", "别名须包含文字或数字。")
    grid = uow.config.taxonomy.tiers[0]
    with uow:
        session = uow.session
        _grid_area(session, code, grid, "只能为网格添加别名。")
        taken = session.execute(
            select(AreaAlias.area_code, Area.name)
            .join(Area, Area.code == AreaAlias.area_code)
            .where(AreaAlias.alias_key == key)
        ).first()
        if taken is not None:
            where = "该区域" if taken.area_code == code else f"“{taken.name}”"
            raise Conflict(f"alias {text!r} already names {taken.area_code}",
                           f"别名“{text}”已用于{where}。")
        for other in session.scalars(select(Area).where(Area.tier == grid)):
            if location_key(other.name) == key:
                raise Conflict(f"alias {text!r} is the name of {other.code}",
                               f"“{text}”是“{other.name}”的名称，无需添加为别名。")
        session.add(AreaAlias(area_code=code, alias=text, alias_key=key))
        try:
            session.flush()
        except IntegrityError as exc:  # the same alias added at the same moment
            raise Conflict(f"alias {text!r} was just added", f"别名“{text}”已存在。") from exc
        uow.commit()
        store.forget_place_index(session)
    return get_area_details(uow, code)


def set_fallback_area(uow: UnitOfWork, code: str) -> AreaView:
    """Make grid ``code`` the one that receives reports whose place matches no grid.

    At most one area is the fallback: the previous one stops being it, in the
    same transaction. ``NotFound`` for an unknown area, ``InvalidInput`` for
    one that is not a grid (orders are placed in grids).
    """
    grid = uow.config.taxonomy.tiers[0]
    with uow:
        session = uow.session
        area = _grid_area(session, code, grid, "兜底区域必须是网格。")
        if store.has_row_locks(session):
            # two changes take turns: the second then sees (and clears) the first's choice
            session.execute(
                select(Area.code).where(Area.tier == grid).order_by(Area.code).with_for_update()
            )
        # two statements: a unique index is checked row by row, so clear before setting
        session.execute(
            update(Area).where(Area.fallback.is_(True), Area.code != code).values(fallback=False)
        )
        session.execute(update(Area).where(Area.code == code).values(fallback=True))
        session.expire(area)
        view = _view(area)
        uow.commit()
        store.forget_place_index(session)
    return view


def resolve_area(uow: UnitOfWork, text: str) -> AreaMatchView:
    """The grid the place in ``text`` lies in (see the module docstring).

    ``InvalidInput`` for empty text or text over 200 characters; ``NotFound``
    when nothing matches and no fallback grid is set.
    """
    place = (text or "").strip()
    if not place or len(place) > MAX_PLACE_TEXT:
        raise InvalidInput("text", f"must be 1 to {MAX_PLACE_TEXT} characters",
                           f"地点描述不能为空且不超过{MAX_PLACE_TEXT}字。")
    with uow.read_only():
        index = store.place_index_cached(uow.session, uow.config.taxonomy.tiers[0])
    match = best_match(place, index.names)
    if match is not None:
        return AreaMatchView(code=match.area_code, name=match.area_name, matched=True,
                             alias=match.text)
    if index.fallback is not None:
        code, name = index.fallback
        return AreaMatchView(code=code, name=name, matched=False, alias=None)
    raise NotFound("area", None, "未能确定所在社区。",
                   reason="no grid matches the place and no fallback grid is set")


def _aliases_by_area(rows) -> dict[str, tuple[str, ...]]:
    found: dict[str, list[str]] = defaultdict(list)
    for code, alias in rows:
        found[code].append(alias)
    return {code: tuple(sorted(names)) for code, names in found.items()}


def _view(area: Area) -> AreaView:
    return AreaView(code=area.code, name=area.name, tier=area.tier,
                    parent_code=area.parent_code, fallback=bool(area.fallback))


def _detail(area: Area, aliases: tuple[str, ...]) -> AreaDetailView:
    return AreaDetailView(code=area.code, name=area.name, tier=area.tier,
                          parent_code=area.parent_code, fallback=bool(area.fallback),
                          aliases=aliases)


def _grid_area(session, code: str, grid: str, not_a_grid_zh: str) -> Area:
    """The area ``code``; NotFound if unknown, InvalidInput if it is not a grid."""
    area = session.get(Area, code)
    if area is None:
        raise NotFound("area", code)
    if area.tier != grid:
        raise InvalidInput("area_code", f"{code!r} is a {area.tier}, not a {grid}", not_a_grid_zh)
    return area
