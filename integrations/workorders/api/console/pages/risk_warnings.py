"""``/console/warnings`` (研判预警): the warnings of the user's areas, one warning's page,
and the actions on it.

- list: open first, then acknowledged, then closed; within, the most severe and
  the newest first (``service.warning_queries.list_warnings``); filters kind,
  level, state and area as a GET form (a filtered list is a link), paginated.
- ``/console/warnings/{id}``: the explanation, what the detector measured
  (``details``: the score and its reasons, or the counts against the usual),
  the orders behind it (links to their pages), the history, and the forms:
  知悉 and 关闭, each with a required note (dispatchers, supervisors, admins),
  合并为主工单 for a surge (``service.linking.link_surge``; dispatchers, admins).
- ``/console/warnings/badge``: the open count of the nav item, a small fragment
  htmx loads after the page (and refreshes every minute, as a passive poll).

Dispatchers see their areas (and those below them), supervisors and admins all
(``api.access.dispatcher_scope``, as in ``GET /api/v1/warnings``); a warning
outside them is a 404 page, like one that does not exist. Handlers: 403.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import HTMLResponse, Response

from ....domain.taxonomy import Taxonomy
from ....domain.warnings import KIND_LABELS, LEVEL_LABELS, STATE_LABELS
from ....service import Forbidden
from ....service.linking import link_surge
from ....service.warning_actions import acknowledge, close
from ....service.warning_queries import WarningView, get_warning, list_warnings, open_warning_count
from ...access import PERSONAL_KINDS, dispatcher_scope
from ..labels import local_time
from ..web import PREFIX, ConsoleUser, NowDep, UowDep, render, require_roles, run_action
from .order_labels import actor_label, area_names, handlers_by_id
from .orders import area_choices

router = APIRouter()

WARNINGS_PATH = f"{PREFIX}/warnings"
BADGE_PATH = f"{WARNINGS_PATH}/badge"
PAGE_SIZE = 20
#: who may read warnings and acknowledge or close them (supervisors: nothing else)
READERS = ("dispatcher", "supervisor", "admin")
#: who may link a surge's orders under one parent order
LINKERS = frozenset({"dispatcher", "admin"})
Reader = Annotated[ConsoleUser, Depends(require_roles(*READERS))]
Text = Annotated[str, Query(max_length=64)]
Note = Annotated[str, Form(max_length=2000)]
Short = Annotated[str, Form(max_length=64)]

LEVEL_TONES = {"urgent": "urgent", "warning": "warn", "attention": "open"}
STATE_TONES = {"open": "warn", "acknowledged": "open", "closed": "done"}
ROLE_LABELS = {"trigger": "本次工单", "earlier": "此前工单", "member": "相关工单", "parent": "主工单"}
EVENT_LABELS = {"raise": "发出预警", "update": "预警更新", "acknowledge": "知悉",
                "close": "关闭", "link": "合并为主工单", "reopen": "重新打开"}
#: what the detectors put in ``details`` that a person can read: key -> label
DETAIL_LABELS = {
    # dispute_risk
    "score": "风险评分", "same_place_disputes": "同一地点此前纠纷（件）",
    "reopened": "不满意后重新办理（次）", "co_reporters": "共同反映人数", "waited_hours": "已等待（小时）",
    # surge
    "observed": "本时段反映数", "window_hours": "统计时段（小时）", "window_start": "时段开始",
    "window_end": "时段结束", "expected": "平时同时段约", "usual_per_day": "平时每天约",
    "p_value": "偶然出现的概率", "history_weeks": "参考历史（周）",
    # repeat
    "place": "地点", "sham": "疑似假性整改", "resolver": "此前办结人",
    # hotspot
    "week": "所在周", "count": "本周工单数", "change": "较前几周平均（件）",
    "median_resolve_hours": "办结用时中位数（小时）",
}


def may_link(user: ConsoleUser) -> bool:
    return user.role in LINKERS


@dataclass
class ListForm:
    """The filter form as sent (empty: any) and the labels of what was not understood."""

    kind: str = ""
    level: str = ""
    state: str = ""
    area: str = ""
    ignored: list[str] = field(default_factory=list)

    def query(self) -> str:
        kept = {k: v for k, v in (("kind", self.kind), ("level", self.level),
                                  ("state", self.state), ("area", self.area)) if v}
        return f"{WARNINGS_PATH}?{urlencode(kept)}" if kept else WARNINGS_PATH

    @property
    def active(self) -> bool:
        return any((self.kind, self.level, self.state, self.area))

    def pick(self, name: str, allowed: object, label: str) -> list[str] | None:
        value = getattr(self, name)
        if not value:
            return None
        if value not in allowed:  # type: ignore[operator]
            self.ignored.append(label)
            setattr(self, name, "")
            return None
        return [value]


@dataclass(frozen=True)
class Page:
    """A page of warnings as the shared ``pager`` macro reads it."""

    items: list[WarningView]
    total: int
    limit: int
    offset: int


def _scope(user: ConsoleUser) -> tuple[str, ...] | None:
    return dispatcher_scope(user.principal)


@router.get(WARNINGS_PATH, include_in_schema=False)
def warnings_page(
    request: Request, user: Reader, uow: UowDep, now: NowDep,
    kind: Text = "", level: Text = "", state: Text = "", area: Text = "",
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    form = ListForm(kind=kind, level=level, state=state, area=area)
    names = area_names(uow)
    areas = area_choices(uow, user, names)
    kinds = form.pick("kind", KIND_LABELS, "预警类型")
    levels = form.pick("level", LEVEL_LABELS, "预警级别")
    states = form.pick("state", STATE_LABELS, "处理状态")
    scope = _scope(user)
    if form.area and form.area not in {code for code, _ in areas}:
        if scope is not None:
            raise Forbidden(f"area {form.area!r} is outside your areas", "该区域不在您的管辖范围内。")
        form.pick("area", (), "区域")
    found = list_warnings(uow, kinds=kinds, levels=levels, states=states,
                          area_code=form.area or None, scope=scope, limit=PAGE_SIZE, offset=offset)
    return render(
        request, "warnings/list.html", user, now=now, form=form,
        page=Page(found.items, found.total, PAGE_SIZE, offset),
        kinds=list(KIND_LABELS.items()), levels=list(LEVEL_LABELS.items()),
        states=list(STATE_LABELS.items()), areas=areas, **_labels(),
    )


@router.get(BADGE_PATH, include_in_schema=False)
def warnings_badge(user: Reader, uow: UowDep) -> Response:
    """The nav item's count of open warnings (empty when none)."""
    count = open_warning_count(uow, scope=_scope(user))
    body = (f'<span class="nav-count">{count}<span class="sr-only">条待处理</span></span>'
            if count else "")
    return HTMLResponse(body, headers={"Cache-Control": "no-store"})


@router.get(f"{WARNINGS_PATH}/{{warning_id}}", include_in_schema=False)
def warning_page(request: Request, warning_id: int, user: Reader, uow: UowDep,
                 now: NowDep) -> Response:
    warning = get_warning(uow, warning_id, scope=_scope(user))
    handlers = handlers_by_id(uow)
    linked = any(o.role == "parent" for o in warning.orders)
    taxonomy = uow.config.taxonomy
    return render(
        request, "warnings/detail.html", user, now=now, w=warning,
        facts=detail_facts(warning.details),
        reasons=detail_reasons(warning.details),
        events=[(e, actor_label(e.actor, handlers)) for e in warning.events],
        can={"ack": warning.state == "open", "close": warning.state != "closed",
             "link": may_link(user) and linkable(warning, taxonomy)},
        linked=linked,
        parent_choices=[o for o in warning.orders if o.status not in DONE_STATUSES],
        taxonomy=taxonomy, **_labels(),
    )


DONE_STATUSES = frozenset({"resolved", "closed", "archived", "cancelled"})


def linkable(warning: WarningView, taxonomy: Taxonomy) -> bool:
    """Whether to offer 合并为主工单: an open surge of incidents with two open orders or
    more, not linked yet, or linked before more reports joined (the scan's ``update``)."""
    if warning.kind != "surge" or warning.state == "closed":
        return False
    category = taxonomy.categories.get(warning.category or "")
    if category is not None and category.kind in PERSONAL_KINDS:
        return False
    if not any(o.role == "parent" for o in warning.orders):
        return sum(o.status not in DONE_STATUSES for o in warning.orders) > 1
    actions = [e.action for e in warning.events]
    last_link = max((i for i, a in enumerate(actions) if a == "link"), default=-1)
    return "update" in actions[last_link + 1:]


def _back(warning_id: int) -> str:
    return f"{WARNINGS_PATH}/{warning_id}"


@router.post(f"{WARNINGS_PATH}/{{warning_id}}/ack", include_in_schema=False)
def acknowledge_warning(request: Request, warning_id: int, user: Reader, uow: UowDep,
                        now: NowDep, note: Note = "") -> Response:
    return run_action(
        request, lambda: acknowledge(uow, warning_id, note=note, actor=user.actor, now=now,
                                     scope=_scope(user)),
        "已知悉，说明已记录。", _back(warning_id))


@router.post(f"{WARNINGS_PATH}/{{warning_id}}/close", include_in_schema=False)
def close_warning(request: Request, warning_id: int, user: Reader, uow: UowDep,
                  now: NowDep, note: Note = "") -> Response:
    return run_action(
        request, lambda: close(uow, warning_id, note=note, actor=user.actor, now=now,
                               scope=_scope(user)),
        "预警已关闭。", _back(warning_id))


@router.post(f"{WARNINGS_PATH}/{{warning_id}}/link", include_in_schema=False)
def link_warning(request: Request, warning_id: int, user: Reader, uow: UowDep, now: NowDep,
                 parent_number: Short = "") -> Response:
    if not may_link(user):
        raise Forbidden("only dispatchers and admins link orders", "只有调度员和管理员可以合并工单。")
    scope = _scope(user)
    get_warning(uow, warning_id, scope=scope)  # outside the user's areas: a 404 page
    return run_action(
        request, lambda: link_surge(uow, warning_id, actor=user.actor, now=now, area_codes=scope,
                                    parent_number=parent_number.strip() or None),
        "已合并为主工单：办理进展会同时告知各位反映人。", _back(warning_id))


# ------------------------------------------------------------------ labels


def _labels() -> dict[str, Any]:
    return {"kind_labels": KIND_LABELS, "level_labels": LEVEL_LABELS,
            "state_labels": STATE_LABELS, "level_tones": LEVEL_TONES,
            "state_tones": STATE_TONES, "role_labels": ROLE_LABELS,
            "event_labels": EVENT_LABELS}


def _fact_text(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "是" if value else "否"
    if key == "p_value" and isinstance(value, (int, float)):
        return "小于万分之一" if value < 1e-4 else f"{value:.2%}"
    if key == "change" and isinstance(value, (int, float)):
        return f"{value:+g}"
    if key in ("window_start", "window_end") and isinstance(value, str):
        try:
            return local_time(datetime.fromisoformat(value))
        except ValueError:
            return value
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def detail_facts(details: dict[str, Any]) -> list[tuple[str, str]]:
    """(label, text) of the measurements in ``details`` a person can read, in a fixed order."""
    return [(label, _fact_text(key, details[key])) for key, label in DETAIL_LABELS.items()
            if key in details and details[key] is not None
            and isinstance(details[key], (str, int, float, bool))]


def detail_reasons(details: dict[str, Any]) -> list[tuple[str, int | None]]:
    """A risk score's reasons: (Chinese text, points) — the score is shown with its why."""
    found = []
    for reason in details.get("reasons") or ():
        if isinstance(reason, dict) and reason.get("text"):
            points = reason.get("points")
            found.append((str(reason["text"]), points if isinstance(points, int) else None))
        elif isinstance(reason, str):
            found.append((reason, None))
    return found
