"""``/console/callbacks`` (转人工): residents waiting for a call, and what became of them.

Dispatchers see the requests in their areas and those without an area, admins
all (``list_callbacks(scope=dispatcher_scope(...))``, as the API). The list
shows no personal data but a masked phone number; the transcript and the
phone number are revealed on click by a POST that writes the reveal to the
staff access log (``reveal_callback_transcript``, subject ``callback:<id>``),
answered as an htmx fragment (or a page without JavaScript). A request is
marked done with a note (``mark_callback_done``) or turned into a work order
(``callback_to_order``: the form's description starts from the resident's
lines, so opening the form is a logged reveal too); then the new order's page.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import Response

from integrations.shared.privacy import mask_phone

from ....domain.errors import DomainError
from ....service import (
    CallbackView,
    TranscriptLine,
    callback_to_order,
    get_callback,
    list_areas,
    list_callbacks,
    mark_callback_done,
    reveal_callback_transcript,
)
from ....service.uow import UnitOfWork
from ...access import areas_below, dispatcher_scope
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

LIST = f"{PREFIX}/callbacks"
PAGE_SIZE = 30
RECENT_DONE = 20

#: Why the resident waits for a person, as the list shows it.
REASON_NAMES = {"asked": "居民要求人工", "not_understood": "智能助手未听懂",
                "service_error": "系统故障"}
SPEAKER_NAMES = {"resident": "居民", "bot": "智能助手"}


def _row(view: CallbackView, area_names: dict[str, str]) -> dict[str, object]:
    return {
        "view": view,
        "reason": REASON_NAMES.get(view.reason, view.reason),
        "area": area_names.get(view.area_code or "", view.area_code or ""),
        "phone": mask_phone(view.contact) if view.contact else None,
    }


def _resident_words(lines: list[TranscriptLine]) -> str:
    """The resident's lines, one per line: where a new order's description starts."""
    return "\n".join(line.text for line in lines if line.speaker == "resident").strip()


@router.get(LIST, include_in_schema=False)
def callbacks_page(
    request: Request, user: Dispatcher, uow: UowDep, now: NowDep,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> Response:
    scope = dispatcher_scope(user.principal)
    area_names = {a.code: a.name for a in list_areas(uow)}
    waiting = list_callbacks(uow, status="open", scope=scope, limit=PAGE_SIZE, offset=offset)
    done = list_callbacks(uow, status="done", scope=scope, limit=RECENT_DONE)
    return render(request, "callbacks/list.html", user, page=waiting,
                  open_rows=[_row(v, area_names) for v in waiting.items],
                  done_rows=[_row(v, area_names) for v in done.items],
                  speakers=SPEAKER_NAMES, now=now)


@router.post(LIST + "/{request_id}/reveal", include_in_schema=False)
def reveal(
    request: Request, request_id: int, user: Dispatcher, uow: UowDep, now: NowDep
) -> Response:
    """The transcript and the phone number, the reveal logged (who, when, which request)."""
    scope = dispatcher_scope(user.principal)
    lines = reveal_callback_transcript(uow, request_id, user.actor, now, scope=scope)
    view = get_callback(uow, request_id, scope=scope)
    context: dict[str, Any] = {"cb": view, "lines": lines, "speakers": SPEAKER_NAMES,
                               "now": now}
    if request.headers.get("HX-Request"):
        return render(request, "callbacks/_transcript.html", user, **context)
    return render(request, "callbacks/transcript.html", user, **context)


@router.post(LIST + "/{request_id}/done", include_in_schema=False)
def done(
    request: Request, request_id: int, user: Dispatcher, uow: UowDep, now: NowDep,
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    return run_action(
        request,
        lambda: mark_callback_done(uow, request_id, user.actor, note.strip() or None, now,
                                   scope=dispatcher_scope(user.principal)),
        f"回拨请求 #{request_id} 已处理完毕。", LIST)


def _grid_options(uow: UnitOfWork, user: ConsoleUser) -> list[dict[str, str]]:
    """Grids an order may be placed in: within the dispatcher's areas (all for an admin)."""
    grid = uow.config.taxonomy.tiers[0]
    scope = dispatcher_scope(user.principal)
    allowed = None if scope is None else areas_below(uow, scope)
    return [{"code": a.code, "name": a.name} for a in list_areas(uow, tier=grid)
            if allowed is None or a.code in allowed]


def _categories(uow: UnitOfWork) -> list[dict[str, object]]:
    taxonomy = uow.config.taxonomy
    groups: dict[str, list[dict[str, str]]] = {}
    for code, category in taxonomy.categories.items():
        groups.setdefault(category.kind, []).append({"code": code, "name": category.name})
    return [{"kind": kind, "name": taxonomy.kind_names.get(kind, kind), "items": items}
            for kind, items in groups.items()]


def _order_form(
    request: Request, user: ConsoleUser, uow: UnitOfWork, view: CallbackView,
    form: dict[str, str], now: datetime, *, error: str | None = None,
) -> Response:
    return render(request, "callbacks/order.html", user, status_code=422 if error else 200,
                  now=now,
                  cb=view, form=form, error=error, grids=_grid_options(uow, user),
                  categories=_categories(uow),
                  reason=REASON_NAMES.get(view.reason, view.reason))


@router.get(LIST + "/{request_id}/order", include_in_schema=False)
def order_form(
    request: Request, request_id: int, user: Dispatcher, uow: UowDep, now: NowDep
) -> Response:
    """The form that turns a request into an order; its description starts from the
    transcript, so opening it is a logged reveal."""
    scope = dispatcher_scope(user.principal)
    view = get_callback(uow, request_id, scope=scope)
    if view.status == "done":
        return flash_response(LIST, "该回拨请求已处理完毕。", error=True)
    lines = reveal_callback_transcript(uow, request_id, user.actor, now, scope=scope)
    form = {"category": "", "description": _resident_words(lines), "location_text": "",
            "area_code": view.area_code or "", "priority": "normal", "note": ""}
    return _order_form(request, user, uow, view, form, now)


@router.post(LIST + "/{request_id}/order", include_in_schema=False)
def to_order(
    request: Request, request_id: int, user: Dispatcher, uow: UowDep, now: NowDep,
    category: Annotated[str, Form(max_length=64)] = "",
    description: Annotated[str, Form(max_length=4000)] = "",
    location_text: Annotated[str, Form(max_length=500)] = "",
    area_code: Annotated[str, Form(max_length=64)] = "",
    priority: Annotated[str, Form(max_length=16)] = "normal",
    note: Annotated[str, Form(max_length=2000)] = "",
) -> Response:
    scope = dispatcher_scope(user.principal)
    try:
        made = callback_to_order(uow, request_id, category, description, location_text,
                                 user.actor, now, area_code=area_code, priority=priority,
                                 note=note.strip() or None, scope=scope)
    except DomainError as exc:
        view = get_callback(uow, request_id, scope=scope)  # NotFound: a 404 page
        form = {"category": category, "description": description,
                "location_text": location_text, "area_code": area_code,
                "priority": priority, "note": note}
        return _order_form(request, user, uow, view, form, now, error=exc.reason_zh)
    number = made.order.number
    return flash_response(f"{PREFIX}/orders/{number}",
                          f"已由回拨请求 #{request_id} 转为工单 {number}。")
