"""``/console/``: each role's start page."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import Response

from ..web import HOME_BY_ROLE, PREFIX, CurrentUser, redirect

router = APIRouter()


@router.get(f"{PREFIX}/", include_in_schema=False)
def home(user: CurrentUser) -> Response:
    return redirect(HOME_BY_ROLE.get(user.role, f"{PREFIX}/login"))


@router.get(PREFIX, include_in_schema=False)
def bare() -> Response:
    return redirect(f"{PREFIX}/")
