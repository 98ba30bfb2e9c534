"""``/console/admin/staff`` (账号): staff accounts, for admins only.

The staff use cases of the API's ``/api/v1/staff`` (``list_staff``,
``create_staff_user``, ``update_staff``, ``set_password``,
``set_staff_active``), each naming the admin as the actor (the staff access
log). An account created here gets a random API token that is never shown:
people sign in to the console with their password, and a machine's token is
issued by the CLI (``create-staff``), where it is printed once to the
operator's terminal rather than into a browser page. Setting a password or
disabling an account ends that account's console sessions (the use cases do).
"""

from __future__ import annotations

import secrets
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from ....domain.errors import DomainError
from ....service import (
    create_staff_user,
    get_staff,
    list_areas,
    list_handlers,
    list_staff,
    set_password,
    set_staff_active,
    update_staff,
)
from ....service.staff import MAX_PASSWORD_LENGTH, MIN_PASSWORD_LENGTH, STAFF_ROLES
from ....service.uow import UnitOfWork
from ..web import PREFIX, Admin, NowDep, UowDep, flash_response, render, run_action

router = APIRouter()

LIST = f"{PREFIX}/admin/staff"


def _account_url(username: str) -> str:
    return f"{LIST}/{quote(username, safe='')}"


def _choices(uow: UnitOfWork) -> dict[str, Any]:
    areas = list_areas(uow)
    grid = uow.config.taxonomy.tiers[0]
    return {
        "roles": STAFF_ROLES,
        # accounts cover townships or counties (and everything under them); grids too
        "areas": sorted(areas, key=lambda a: (a.tier == grid, a.code)),
        "area_names": {a.code: a.name for a in areas},
        "handlers": list_handlers(uow),
        "min_password": MIN_PASSWORD_LENGTH,
        "max_password": MAX_PASSWORD_LENGTH,
    }


@router.get(LIST, include_in_schema=False)
def staff_page(request: Request, user: Admin, uow: UowDep) -> Response:
    choices = _choices(uow)
    handler_names = {h.id: h.name for h in choices["handlers"]}
    return render(request, "admin/staff.html", user, accounts=list_staff(uow),
                  handler_names=handler_names, form=None, **choices)


@router.get(LIST + "/{username}", include_in_schema=False)
def account_page(request: Request, username: str, user: Admin, uow: UowDep) -> Response:
    return render(request, "admin/account.html", user, account=get_staff(uow, username),
                  **_choices(uow))


@router.post(LIST, include_in_schema=False)
def create(
    request: Request, user: Admin, uow: UowDep, now: NowDep,
    username: Annotated[str, Form(max_length=64)] = "",
    role: Annotated[str, Form(max_length=16)] = "",
    areas: Annotated[list[str] | None, Form()] = None,
    handler_id: Annotated[str, Form(max_length=12)] = "",
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH + 1)] = "",
) -> Response:
    handler = int(handler_id) if handler_id.strip().isdigit() else None
    try:
        view = create_staff_user(uow, username, role, secrets.token_urlsafe(32), now,
                                 areas=list(areas or []), handler_id=handler,
                                 actor=user.actor)
    except DomainError as exc:
        choices = _choices(uow)
        handler_names = {h.id: h.name for h in choices["handlers"]}
        form = {"username": username, "role": role, "areas": list(areas or []),
                "handler_id": handler}
        return render(request, "admin/staff.html", user, status_code=422, error=exc.reason_zh,
                      accounts=list_staff(uow), handler_names=handler_names, form=form,
                      **choices)
    if password:
        try:
            set_password(uow, view.username, password, actor=user.actor, now=now)
        except DomainError as exc:
            return flash_response(_account_url(view.username),
                                  f"账号已创建，但密码未设置：{exc.reason_zh}", error=True)
        return flash_response(_account_url(view.username),
                              f"已创建账号“{view.username}”并设置密码。")
    return flash_response(_account_url(view.username),
                          f"已创建账号“{view.username}”。请为其设置登录密码。")


@router.post(LIST + "/{username}", include_in_schema=False)
def update(
    request: Request, username: str, user: Admin, uow: UowDep, now: NowDep,
    role: Annotated[str, Form(max_length=16)] = "",
    areas: Annotated[list[str] | None, Form()] = None,
    handler_id: Annotated[str, Form(max_length=12)] = "",
) -> Response:
    handler = int(handler_id) if handler_id.strip().isdigit() else None
    return run_action(
        request,
        lambda: update_staff(uow, username, role=role or None, areas=list(areas or []),
                             handler_id=handler, actor=user.actor, now=now),
        "账号已保存。", _account_url(username))


@router.post(LIST + "/{username}/password", include_in_schema=False)
def password(
    request: Request, username: str, user: Admin, uow: UowDep, now: NowDep,
    password: Annotated[str, Form(max_length=MAX_PASSWORD_LENGTH + 1)] = "",
) -> Response:
    return run_action(
        request, lambda: set_password(uow, username, password, actor=user.actor, now=now),
        "新密码已生效，该账号需用新密码重新登录。", _account_url(username))


@router.post(LIST + "/{username}/active", include_in_schema=False)
def active(
    request: Request, username: str, user: Admin, uow: UowDep, now: NowDep,
    active: Annotated[str, Form(max_length=5)] = "",
) -> Response:
    enable = active == "true"
    return run_action(
        request, lambda: set_staff_active(uow, username, enable, actor=user.actor, now=now),
        "账号已启用。" if enable else "账号已停用，其登录已失效。", _account_url(username))
