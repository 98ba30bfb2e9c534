"""``/console/orders`` (工单): the order list with filters and search, paginated in the database.

Dispatchers see their areas (an area filter outside them is refused, as in
``GET /api/v1/orders``), admins everything. The filters are a GET form, so a
filtered list is a link; the pager keeps them. Values that are not one of the
form's choices are left out and the page says so.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from ....domain.lifecycle import Status
from ....service import (
    CHINA_TZ,
    Forbidden,
    OrderFilters,
    UnitOfWork,
    list_orders,
    order_is_overdue,
)
from ....service.views import DISSATISFIED, SATISFACTION_LABELS
from ...access import areas_below, dispatcher_scope
from ..labels import PRIORITY_NAMES
from ..web import ConsoleUser, Dispatcher, NowDep, UowDep, render
from .order_labels import ORDERS_PATH, area_names, handlers_by_id

router = APIRouter()

PAGE_SIZES = (20, 50)
SATISFACTION_CHOICES = {**SATISFACTION_LABELS, DISSATISFIED: "曾不满意"}
OVERDUE_CHOICES = {"yes": "已逾期", "no": "未逾期"}
Text = Annotated[str, Query(max_length=200)]


@dataclass
class ListForm:
    """The filter form as sent (strings; empty: any), and what was not understood."""

    status: str = ""
    kind: str = ""
    category: str = ""
    area: str = ""
    priority: str = ""
    created_from: str = ""
    created_to: str = ""
    overdue: str = ""
    satisfaction: str = ""
    q: str = ""
    limit: int = PAGE_SIZES[0]
    ignored: list[str] = field(default_factory=list)

    def query(self) -> str:
        """The list's URL with these filters (no offset): for the pager."""
        values = {name: getattr(self, name) for name in (
            "status", "kind", "category", "area", "priority", "created_from", "created_to",
            "overdue", "satisfaction", "q")}
        kept = {k: v for k, v in values.items() if v}
        kept["limit"] = str(self.limit)
        return f"{ORDERS_PATH}?{urlencode(kept)}"

    @property
    def active(self) -> bool:
        return any((self.status, self.kind, self.category, self.area, self.priority,
                    self.created_from, self.created_to, self.overdue, self.satisfaction, self.q))


def _choice(form: ListForm, name: str, allowed: object, label: str) -> str | None:
    value = getattr(form, name)
    if not value:
        return None
    if value not in allowed:  # type: ignore[operator]
        form.ignored.append(label)
        setattr(form, name, "")
        return None
    return str(value)


def _day(form: ListForm, name: str, label: str) -> date | None:
    value = getattr(form, name)
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        form.ignored.append(label)
        setattr(form, name, "")
        return None


def _china_midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=CHINA_TZ)


def area_choices(uow: UnitOfWork, user: ConsoleUser,
                 names: dict[str, str]) -> list[tuple[str, str]]:
    """(code, name) of the areas this user may filter by: a dispatcher's own, with those below."""
    scope = dispatcher_scope(user.principal)
    within = None if scope is None else areas_below(uow, scope)
    return [(code, name) for code, name in names.items() if within is None or code in within]


def filters_of(uow: UnitOfWork, user: ConsoleUser, form: ListForm,
               areas: list[tuple[str, str]]) -> OrderFilters:
    """The service's filters for ``form``, kept within the user's areas."""
    taxonomy = uow.config.taxonomy
    status = _choice(form, "status", {s.value for s in Status}, "状态")
    kind = _choice(form, "kind", taxonomy.kinds, "类型")
    category = _choice(form, "category", taxonomy.categories, "事项分类")
    priority = _choice(form, "priority", PRIORITY_NAMES, "紧急程度")
    overdue = _choice(form, "overdue", OVERDUE_CHOICES, "是否逾期")
    satisfaction = _choice(form, "satisfaction", SATISFACTION_CHOICES, "满意度")
    start, end = _day(form, "created_from", "开始日期"), _day(form, "created_to", "结束日期")
    scope = dispatcher_scope(user.principal)
    area_codes: list[str] | None = None
    if form.area:
        if form.area not in {code for code, _ in areas}:
            if scope is not None:
                raise Forbidden(f"area {form.area!r} is outside your areas",
                                "该区域不在您的管辖范围内。")
            _choice(form, "area", (), "区域")
        else:
            area_codes = [form.area]
    elif scope is not None:
        area_codes = list(scope)
    return OrderFilters(
        statuses=[status] if status else None, kind=kind, category=category,
        area_codes=area_codes, priority=priority,
        created_from=_china_midnight(start) if start else None,
        created_to=_china_midnight(end + timedelta(days=1)) if end else None,
        overdue=None if overdue is None else overdue == "yes",
        satisfaction=satisfaction, q=form.q.strip() or None,
    )


@router.get(ORDERS_PATH, include_in_schema=False)
def orders_page(
    request: Request, user: Dispatcher, uow: UowDep, now: NowDep,
    status: Text = "", kind: Text = "", category: Text = "", area: Text = "",
    priority: Text = "", created_from: Text = "", created_to: Text = "", overdue: Text = "",
    satisfaction: Text = "", q: Text = "",
    limit: Annotated[int, Query(ge=1, le=200)] = PAGE_SIZES[0],
    offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
) -> Response:
    form = ListForm(status=status, kind=kind, category=category, area=area, priority=priority,
                    created_from=created_from, created_to=created_to, overdue=overdue,
                    satisfaction=satisfaction, q=q,
                    limit=limit if limit in PAGE_SIZES else PAGE_SIZES[0])
    names = area_names(uow)
    areas = area_choices(uow, user, names)
    filters = filters_of(uow, user, form, areas)
    page = list_orders(uow, filters, limit=form.limit, offset=offset, now=now)
    taxonomy = uow.config.taxonomy
    return render(
        request, "orders/list.html", user, now=now, page=page, form=form,
        overdue={o.number for o in page.items if order_is_overdue(o, now)},
        statuses=[(s.value, s.label) for s in Status],
        kinds=[(k, taxonomy.kind_name(k)) for k in taxonomy.kinds],
        categories=[(c.code, c.name) for c in taxonomy.categories.values()],
        areas=areas, area_names=names,
        priorities=list(PRIORITY_NAMES.items()),
        overdue_choices=list(OVERDUE_CHOICES.items()),
        satisfactions=list(SATISFACTION_CHOICES.items()),
        page_sizes=PAGE_SIZES,
        handlers=handlers_by_id(uow) if page.items else {},
    )
