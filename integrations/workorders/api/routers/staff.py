"""``/api/v1/staff``: staff accounts (admins only).

Create, list, change role, areas and handler, set a password, enable or
disable. Tokens and password hashes are never returned; an account created
here gets a random API token nobody sees (it signs in with its password; the
CLI issues tokens for machines). Every change is written to the staff access
log naming the admin. An admin may not disable their own account or change
their own role (409).
"""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Depends, Response

from ...service import (
    create_staff_user,
    list_staff,
    set_password,
    set_staff_active,
    update_staff,
)
from ..deps import ADMIN, NowDep, Principal, UowDep, require
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.staff import ActiveUpdate, PasswordUpdate, StaffCreate, StaffPublic, StaffUpdate
from . import API_V1

router = APIRouter(
    prefix=f"{API_V1}/staff", tags=["staff"],
    responses={**AUTH_ERRORS, 404: {"model": ErrorBody, "description": "No such account"},
               409: {"model": ErrorBody}, 422: {"model": ErrorBody}},
)

ADMINS = require(ADMIN)
Admin = Annotated[Principal, Depends(ADMINS)]


@router.get("", response_model=list[StaffPublic], summary="Every staff account")
def search(uow: UowDep, principal: Admin) -> list[StaffPublic]:
    return [StaffPublic.from_view(v) for v in list_staff(uow)]


@router.post("", status_code=201, response_model=StaffPublic, summary="Create an account")
def create(
    body: StaffCreate, response: Response, uow: UowDep, now: NowDep, principal: Admin
) -> StaffPublic:
    view = create_staff_user(uow, body.username, body.role, secrets.token_urlsafe(32), now,
                             areas=body.areas, handler_id=body.handler_id,
                             actor=principal.actor)
    if body.password is not None:
        view = set_password(uow, view.username, body.password, actor=principal.actor, now=now)
    response.headers["Location"] = f"{router.prefix}/{view.username}"
    return StaffPublic.from_view(view)


@router.patch("/{username}", response_model=StaffPublic,
              summary="Change the role, areas or handler (fields left out stay)")
def update(
    username: str, body: StaffUpdate, uow: UowDep, now: NowDep, principal: Admin
) -> StaffPublic:
    return StaffPublic.from_view(update_staff(
        uow, username, role=body.role, areas=body.areas, handler_id=body.handler_id,
        actor=principal.actor, now=now))


@router.post("/{username}/password", response_model=StaffPublic,
             summary="Set the sign-in password (stored as an argon2id hash)")
def password(
    username: str, body: PasswordUpdate, uow: UowDep, now: NowDep, principal: Admin
) -> StaffPublic:
    return StaffPublic.from_view(
        set_password(uow, username, body.password, actor=principal.actor, now=now))


@router.post("/{username}/active", response_model=StaffPublic,
             summary="Enable or disable the account (not one's own)")
def active(
    username: str, body: ActiveUpdate, uow: UowDep, now: NowDep, principal: Admin
) -> StaffPublic:
    return StaffPublic.from_view(
        set_staff_active(uow, username, body.active, actor=principal.actor, now=now))
