"""``/console/admin/areas`` (区域): the area tree, grids' aliases and the fallback grid (admins).

Calls ``add_area``, ``add_alias`` and ``set_fallback_area``. Those use cases
take no actor, so each change is written to the API's audit log line
(``integrations.workorders.api.audit``) naming the admin.
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ....service import AreaDetailView, add_alias, add_area, list_area_details, set_fallback_area
from ..web import PREFIX, Admin, UowDep, render, run_action

router = APIRouter()
audit_log = logging.getLogger("integrations.workorders.api.audit")

PAGE = f"{PREFIX}/admin/areas"


def area_tree(areas: list[AreaDetailView]) -> list[dict[str, object]]:
    """Areas in tree order (each parent before its children), with their depth."""
    children: dict[str | None, list[AreaDetailView]] = {}
    for area in areas:
        children.setdefault(area.parent_code, []).append(area)
    known = {a.code for a in areas}
    out: list[dict[str, object]] = []

    def walk(parent: str | None, depth: int) -> None:
        for area in children.get(parent, []):
            out.append({"area": area, "depth": depth})
            walk(area.code, depth + 1)

    walk(None, 0)
    for parent in sorted(p for p in children if p is not None and p not in known):
        walk(parent, 0)
    return out


@router.get(PAGE, include_in_schema=False)
def areas_page(request: Request, user: Admin, uow: UowDep) -> Response:
    areas = list_area_details(uow)
    tiers = uow.config.taxonomy.tiers
    return render(request, "admin/areas.html", user, tree=area_tree(areas), tiers=tiers,
                  grid=tiers[0], parents=[a for a in areas if a.tier != tiers[0]],
                  fallback=next((a for a in areas if a.fallback), None))


@router.post(PAGE, include_in_schema=False)
def create_area(
    request: Request, user: Admin, uow: UowDep,
    code: Annotated[str, Form(max_length=64)] = "",
    name: Annotated[str, Form(max_length=100)] = "",
    tier: Annotated[str, Form(max_length=32)] = "",
    parent_code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    def act() -> None:
        view = add_area(uow, code, name, tier, parent_code or None)
        audit_log.info("area added: actor=%s area=%s", user.actor, view.code)

    return run_action(request, act, f"已添加区域“{name.strip()}”。", PAGE)


@router.post(f"{PAGE}/alias", include_in_schema=False)
def create_alias(
    request: Request, user: Admin, uow: UowDep,
    code: Annotated[str, Form(max_length=64)] = "",
    alias: Annotated[str, Form(max_length=200)] = "",
) -> Response:
    def act() -> None:
        add_alias(uow, code, alias)
        audit_log.info("area alias added: actor=%s area=%s", user.actor, code)

    return run_action(request, act, f"已添加别名“{alias.strip()}”。", f"{PAGE}#area-{code}")


@router.post(f"{PAGE}/fallback", include_in_schema=False)
def choose_fallback(
    request: Request, user: Admin, uow: UowDep,
    code: Annotated[str, Form(max_length=64)] = "",
) -> Response:
    def act() -> None:
        view = set_fallback_area(uow, code)
        audit_log.info("fallback grid set: actor=%s area=%s", user.actor, view.code)

    return run_action(request, act, "兜底网格已更改。", PAGE)
