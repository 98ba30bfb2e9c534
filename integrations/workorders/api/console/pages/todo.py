"""``/console/todo`` (待办): the dispatcher's inbox, the home page of dispatchers.

The sections are ``service.worklist``'s (pending, urgent, triage, escalated,
overdue, callbacks, dissatisfied), for the dispatcher's areas (an admin: all).
The list lives in a fragment that htmx polls every 5 seconds
(``/console/todo/items?v=<tag>``): while the tag is still current the answer is
an empty 204 after one cheap query (``service.worklist_version``), so htmx keeps
the page as it is; otherwise the new fragment (carrying the new tag) replaces
the old one. The tag also changes once a minute, so that the ages stay true.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ....service import SECTION_LABELS, SECTIONS, list_areas, worklist, worklist_version
from ...access import dispatcher_scope
from ..web import PREFIX, ConsoleUser, Dispatcher, NowDep, UowDep, render

router = APIRouter()

TODO_PATH = f"{PREFIX}/todo"
ITEMS_PATH = f"{TODO_PATH}/items"
POLL_SECONDS = 5
PER_SECTION = 50


def poll_tag(version: str, user: ConsoleUser, now: datetime) -> str:
    """What the fragment shows depends on: the inbox's version, whose areas, the minute."""
    seen = "|".join((version, user.role, ",".join(sorted(user.principal.areas)),
                     now.strftime("%Y%m%d%H%M")))
    return hashlib.sha256(seen.encode()).hexdigest()[:24]


def _context(uow: UowDep, user: ConsoleUser, now: datetime) -> dict[str, Any]:
    found = worklist(uow, dispatcher_scope(user.principal), now, limit_per_section=PER_SECTION)
    sections = [
        {"key": key, "label": SECTION_LABELS[key], "count": found.counts[key],
         "truncated": key in found.truncated, "items": found.section(key)}
        for key in SECTIONS
    ]
    return {
        "sections": sections,
        "total": found.total,
        "tag": poll_tag(found.version, user, now),
        "area_names": {a.code: a.name for a in list_areas(uow)},
        "poll_seconds": POLL_SECONDS,
        "now": now,
    }


@router.get(TODO_PATH, include_in_schema=False)
def todo_page(request: Request, user: Dispatcher, uow: UowDep, now: NowDep) -> Response:
    return render(request, "todo/page.html", user, **_context(uow, user, now))


@router.get(ITEMS_PATH, include_in_schema=False)
def todo_items(
    request: Request, user: Dispatcher, uow: UowDep, now: NowDep,
    v: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The polled fragment; 204 (nothing to swap) while ``v`` is still the current tag."""
    current = poll_tag(worklist_version(uow), user, now)
    if v is not None and v == current:
        return Response(status_code=204, headers={"Cache-Control": "no-store"})
    return render(request, "todo/items.html", user, **_context(uow, user, now))
