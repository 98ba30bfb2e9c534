"""``/console/handlers`` (处理人员): handlers with their load, duty, capacity, skills and areas.

Dispatchers see and change the handlers working within their areas (sub-areas
included), admins everyone, with the API's use cases and access rules
(``api.access.require_handler_in_scope`` / ``require_areas_in_scope``, and
``scope=dispatcher_scope(...)`` for the use cases, which check again under
their locks). A Telegram link code is shown once, in the answer to the POST
that issued it (never stored in a cookie or a later page).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ....domain.errors import DomainError
from ....service import (
    HandlerCreate,
    HandlerUpdate,
    HandlerView,
    create_handler,
    issue_link_code,
    list_areas,
    list_handlers,
    set_capacity,
    set_duty,
    update_handler,
)
from ....service.uow import UnitOfWork
from ...access import (
    areas_below,
    dispatcher_scope,
    require_areas_in_scope,
    require_handler_in_scope,
)
from ..web import (
    PREFIX,
    ConsoleUser,
    Dispatcher,
    NowDep,
    UowDep,
    flash_response,
    render,
    run_action,
)

router = APIRouter()
audit_log = logging.getLogger("integrations.workorders.api.audit")

LIST = f"{PREFIX}/handlers"


# ----------------------------------------------------------------- what a page shows


def reachable_areas(uow: UnitOfWork, user: ConsoleUser) -> set[str] | None:
    """The area codes the user may place handlers in (None: all, an admin)."""
    scope = dispatcher_scope(user.principal)
    return None if scope is None else areas_below(uow, scope)


def area_options(uow: UnitOfWork, user: ConsoleUser) -> list[dict[str, object]]:
    """Areas the user may choose, as a tree (parents before children, ``depth`` for indent)."""
    areas = list_areas(uow)
    allowed = reachable_areas(uow, user)
    children: dict[str | None, list] = {}
    for area in areas:
        children.setdefault(area.parent_code, []).append(area)
    known = {a.code for a in areas}
    out: list[dict[str, object]] = []

    def walk(parent: str | None, depth: int) -> None:
        for area in sorted(children.get(parent, []), key=lambda a: a.code):
            if allowed is None or area.code in allowed:
                out.append({"code": area.code, "name": area.name, "tier": area.tier,
                            "depth": depth})
            walk(area.code, depth + 1)

    walk(None, 0)
    for parent in children:  # orphans (a parent code that is not an area): still listed
        if parent is not None and parent not in known:
            walk(parent, 0)
    return out


def role_categories(uow: UnitOfWork) -> dict[str, list[dict[str, str]]]:
    """Each handler role's categories (the taxonomy: kind -> role)."""
    taxonomy = uow.config.taxonomy
    by_role: dict[str, list[dict[str, str]]] = {}
    for code, category in taxonomy.categories.items():
        role = taxonomy.kinds.get(category.kind)
        if role is not None:
            by_role.setdefault(role, []).append({"code": code, "name": category.name})
    return by_role


def handler_row(view: HandlerView, area_names: dict[str, str],
                category_names: dict[str, str]) -> dict[str, object]:
    percent = 100 if view.capacity <= 0 and view.load > 0 else (
        0 if view.capacity <= 0 else min(100, round(view.load * 100 / view.capacity)))
    return {
        "view": view,
        "percent": percent,
        "full": view.load >= view.capacity,
        "skills": [category_names.get(s, s) for s in view.skills],
        "areas": [area_names.get(a, a) for a in view.areas],
    }


def visible_handlers(uow: UnitOfWork, user: ConsoleUser) -> list[HandlerView]:
    """Every handler for an admin; for a dispatcher those whose areas all lie within theirs
    (the handlers ``require_handler_in_scope`` lets them change)."""
    handlers = list_handlers(uow)
    allowed = reachable_areas(uow, user)
    if allowed is None:
        return handlers
    return [h for h in handlers if h.areas and set(h.areas) <= allowed]


def _names(uow: UnitOfWork) -> tuple[dict[str, str], dict[str, str]]:
    areas = {a.code: a.name for a in list_areas(uow)}
    categories = {code: c.name for code, c in uow.config.taxonomy.categories.items()}
    return areas, categories


def _detail_url(handler_id: int) -> str:
    return f"{LIST}/{handler_id}"


# ----------------------------------------------------------------------- pages


@router.get(LIST, include_in_schema=False)
def handlers_page(request: Request, user: Dispatcher, uow: UowDep) -> Response:
    area_names, category_names = _names(uow)
    handlers = visible_handlers(uow, user)
    rows = [handler_row(h, area_names, category_names) for h in handlers]
    return render(request, "handlers/list.html", user, rows=rows,
                  on_duty=sum(1 for h in handlers if h.on_duty))


@router.get(f"{LIST}/new", include_in_schema=False)
def new_handler_page(request: Request, user: Dispatcher, uow: UowDep) -> Response:
    return render(request, "handlers/new.html", user, areas=area_options(uow, user),
                  by_role=role_categories(uow), tiers=uow.config.taxonomy.tiers)


@router.get(LIST + "/{handler_id}", include_in_schema=False)
def handler_page(request: Request, handler_id: int, user: Dispatcher, uow: UowDep) -> Response:
    view = require_handler_in_scope(uow, user.principal, handler_id)
    area_names, category_names = _names(uow)
    own = role_categories(uow).get(view.role, [])
    listed = {c["code"] for c in own}
    # skills outside the role's categories stay listed (checked) so saving keeps them
    extra = [{"code": s, "name": category_names.get(s, s)} for s in view.skills
             if s not in listed]
    return render(request, "handlers/detail.html", user,
                  row=handler_row(view, area_names, category_names),
                  categories=own + extra, areas=area_options(uow, user))


# ----------------------------------------------------------------------- actions


@router.post(LIST + "/{handler_id}/duty", include_in_schema=False)
def duty(
    request: Request, handler_id: int, user: Dispatcher, uow: UowDep, now: NowDep,
    on_duty: Annotated[str, Form(max_length=5)] = "",
    back: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    going = on_duty == "true"

    def act() -> None:
        require_handler_in_scope(uow, user.principal, handler_id)
        set_duty(uow, handler_id, going, now, scope=dispatcher_scope(user.principal))

    return run_action(request, act, "已设为在岗。" if going else "已设为不在岗（手上的工单保留）。",
                      _detail_url(handler_id) if back == "detail" else LIST)


@router.post(LIST + "/{handler_id}/capacity", include_in_schema=False)
def capacity(
    request: Request, handler_id: int, user: Dispatcher, uow: UowDep, now: NowDep,
    capacity: Annotated[int, Form(ge=0, le=1000)],
    back: Annotated[str, Form(max_length=10)] = "",
) -> Response:
    def act() -> None:
        require_handler_in_scope(uow, user.principal, handler_id)
        set_capacity(uow, handler_id, capacity, now, scope=dispatcher_scope(user.principal))

    return run_action(request, act, f"承办上限已改为 {capacity}。",
                      _detail_url(handler_id) if back == "detail" else LIST)


@router.post(LIST + "/{handler_id}/assignments", include_in_schema=False)
def skills_and_areas(
    request: Request, handler_id: int, user: Dispatcher, uow: UowDep, now: NowDep,
    skills: Annotated[list[str] | None, Form()] = None,
    areas: Annotated[list[str] | None, Form()] = None,
) -> Response:
    new_skills, new_areas = list(skills or []), list(areas or [])

    def act() -> None:
        require_handler_in_scope(uow, user.principal, handler_id)
        require_areas_in_scope(uow, user.principal, new_areas)
        update_handler(uow, handler_id, HandlerUpdate(skills=new_skills, areas=new_areas), now,
                       scope=dispatcher_scope(user.principal))

    return run_action(request, act, "擅长类别和负责区域已保存。", _detail_url(handler_id))


@router.post(LIST, include_in_schema=False)
def register(
    request: Request, user: Dispatcher, uow: UowDep, now: NowDep,
    name: Annotated[str, Form(max_length=100)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    role: Annotated[str, Form(max_length=32)] = "",
    tier: Annotated[str, Form(max_length=32)] = "",
    capacity: Annotated[int, Form(ge=0, le=1000)] = 5,
    skills: Annotated[list[str] | None, Form()] = None,
    areas: Annotated[list[str] | None, Form()] = None,
) -> Response:
    data = HandlerCreate(name=name, phone=phone or None, role=role, tier=tier,
                         skills=list(skills or []), areas=list(areas or []), capacity=capacity)
    try:
        require_areas_in_scope(uow, user.principal, data.areas)
        view = create_handler(uow, data, now, scope=dispatcher_scope(user.principal))
    except DomainError as exc:
        return render(request, "handlers/new.html", user, status_code=422, error=exc.reason_zh,
                      form=data, areas=area_options(uow, user), by_role=role_categories(uow),
                      tiers=uow.config.taxonomy.tiers)
    audit_log.info("handler registered: actor=%s handler=%d", user.actor, view.id)
    return flash_response(_detail_url(view.id), f"已登记处理人员“{view.name}”。")


@router.post(LIST + "/{handler_id}/link-code", include_in_schema=False)
def link_code(
    request: Request, handler_id: int, user: Dispatcher, uow: UowDep, now: NowDep
) -> Response:
    """A new Telegram link code, shown on this answer only (the page is not cached)."""
    try:
        view = require_handler_in_scope(uow, user.principal, handler_id)
        code = issue_link_code(uow, now, handler_id=handler_id, created_by=user.actor,
                               scope=dispatcher_scope(user.principal))
    except DomainError as exc:
        return flash_response(_detail_url(handler_id), exc.reason_zh, error=True)
    audit_log.info("telegram link code issued: actor=%s for=handler:%d", user.actor, handler_id)
    return render(request, "handlers/link_code.html", user, handler=view, code=code)
