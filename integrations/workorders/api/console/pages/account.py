"""``/console/account`` (我的账号): who is signed in, their role and areas, and sign-out."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from ....service import list_areas
from ..web import PREFIX, CurrentUser, UowDep, render

router = APIRouter()


@router.get(f"{PREFIX}/account", include_in_schema=False)
def account(request: Request, user: CurrentUser, uow: UowDep) -> Response:
    names = {a.code: a.name for a in list_areas(uow)}
    areas = [names.get(code, code) for code in user.principal.areas]
    return render(request, "account.html", user, areas=areas)
