"""The area hierarchy (county > township > grid) orders and handlers refer to."""

from __future__ import annotations

from sqlalchemy import select

from ..adapters import store
from ..adapters.orm import Area
from .errors import Conflict, InvalidInput, NotFound
from .uow import UnitOfWork
from .views import AreaView


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
        area = Area(code=code, name=name, tier=tier, parent_code=parent_code)
        session.add(area)
        view = _view(area)
        uow.commit()
        store.forget_area_chains(session)  # dispatch's cached chains (see store)
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


def _view(area: Area) -> AreaView:
    return AreaView(code=area.code, name=area.name, tier=area.tier, parent_code=area.parent_code)
