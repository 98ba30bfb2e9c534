"""The demo data set: one county, one town, three grids, 21 handlers, eight staff accounts.

    data = demo_data()                                    # plain specs; touches nothing
    result = load_demo(app.uow(), now, with_staff=True)   # adds what is missing
    result = load_demo(app.uow(), now, make_password=new_password)  # and sign-in passwords

Staff accounts: a dispatcher (the town), a supervisor (the county), an admin,
and five handlers who sign in as themselves (pinyin usernames: 幸福里社区's
李秀英 ``lixiuying``, 王建国 ``wangjianguo``, 张丽 ``zhangli``, 何静 ``hejing``;
阳光花园社区's 赵敏 ``zhaomin``). Each new account gets a token and, with
``make_password`` (development mode), a password; both are returned once and
only their hashes are stored.

Everything goes through the service's use cases (names are encrypted at rest
like any other handler's). ``load_demo`` only ever adds: it refuses a database
that holds work orders, refuses one that already has areas or handlers unless
``force``, and with ``force`` keeps whatever exists (an area of the same code,
a handler of the same name, role and tier, an account of the same username)
instead of changing it. So a second run, or a run after a half-finished one,
adds only what is missing.

The people and places are fictional. Coverage is deliberate:

- every taxonomy category is handled at grid tier in at least one grid;
- each grid has gaps that the town (乡镇攻坚) fills: 红星村 (a village) has no
  grid mediator for property or labour disputes and no grid worker for safety
  or public order; 阳光花园社区's only grid worker for water and care is on
  leave; 幸福里社区's mediator takes no labour or land disputes;
- every grid has two community staff members (社区工作人员) who answer
  requests (其他诉求: 政策咨询, 意见建议, 投诉举报), and the town and the county one
  each, so requests are dispatched like any order;
- the county (县级兜底) handles everything, but is reached only by escalation
  or when the town is full;
- one supervisor per tier (``is_supervisor``): the grid chief, the town's
  comprehensive-governance centre, the county mediation centre.

Places: each grid has the aliases residents use for it (streets, landmarks,
what the village calls its corners), so everyday place words resolve to a
grid; no alias of one grid lies inside a name or alias of another unless the
longer one is meant to win. 幸福里社区 (the township seat's community) is the
fallback grid: reports whose place matches nothing go there for triage.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from .adapters.orm import Area, Handler, StaffUser, WorkOrder
from .domain.places import location_key
from .service import (
    AreaView,
    Conflict,
    HandlerCreate,
    HandlerView,
    StaffView,
    UnitOfWork,
    add_alias,
    add_area,
    create_handler,
    create_staff_user,
    list_area_details,
    list_areas,
    list_handlers,
    set_fallback_area,
    set_password,
)
from .service.common import require_aware

COUNTY = "county:qingyang"
TOWNSHIP = "township:qy-chengguan"
XINGFULI = "grid:cg-xingfuli"
HONGXING = "grid:cg-hongxing"
YANGGUANG = "grid:cg-yangguang"
GRIDS = (XINGFULI, HONGXING, YANGGUANG)

DISPUTES = ("dispute.neighbor", "dispute.property", "dispute.family", "dispute.labor",
            "dispute.land")
INCIDENTS = ("incident.facility", "incident.water", "incident.sanitation", "incident.safety",
             "incident.order", "incident.care")
REQUESTS = ("request.consult", "request.suggest", "request.complaint")


@dataclass(frozen=True)
class AreaSpec:
    code: str
    name: str
    tier: str
    parent_code: str | None = None


@dataclass(frozen=True)
class StaffSpec:
    """A staff account of the demo; its token (and in development its password) is
    generated when it is created. ``handler``: the demo handler's name a
    ``handler`` account acts as."""

    username: str
    role: str
    areas: tuple[str, ...] = ()
    handler: str | None = None


@dataclass(frozen=True)
class DemoData:
    areas: tuple[AreaSpec, ...]
    handlers: tuple[HandlerCreate, ...]
    staff: tuple[StaffSpec, ...]
    #: grid code -> the other names residents use for it
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: the grid that receives reports whose place matches no grid
    fallback: str | None = None


def demo_data() -> DemoData:
    """青阳县城关镇 with three grids, 21 handlers, a dispatcher, a supervisor, an admin and
    five handlers' own accounts."""
    areas = (
        AreaSpec(COUNTY, "青阳县", "county"),
        AreaSpec(TOWNSHIP, "城关镇", "township", COUNTY),
        AreaSpec(XINGFULI, "幸福里社区", "grid", TOWNSHIP),
        AreaSpec(HONGXING, "红星村", "grid", TOWNSHIP),
        AreaSpec(YANGGUANG, "阳光花园社区", "grid", TOWNSHIP),
    )
    m, g, s = "mediator", "grid_worker", "staff"
    handlers = (
        # ---- grid tier (网格首调)
        HandlerCreate(name="李秀英", role=m, tier="grid", areas=[XINGFULI], capacity=6,
                      skills=["dispute.neighbor", "dispute.property", "dispute.family"]),
        HandlerCreate(name="王建国", role=g, tier="grid", areas=[XINGFULI], capacity=8,
                      skills=["incident.facility", "incident.water", "incident.sanitation",
                              "incident.safety"]),
        HandlerCreate(name="张丽", role=g, tier="grid", areas=[XINGFULI], capacity=5,
                      skills=["incident.order", "incident.care", "incident.safety"]),
        HandlerCreate(name="刘德福", role=m, tier="grid", areas=[HONGXING], capacity=5,
                      skills=["dispute.neighbor", "dispute.family", "dispute.land"]),
        HandlerCreate(name="陈桂兰", role=g, tier="grid", areas=[HONGXING], capacity=6,
                      skills=["incident.facility", "incident.water", "incident.sanitation",
                              "incident.care"]),
        HandlerCreate(name="赵敏", role=m, tier="grid", areas=[YANGGUANG], capacity=4,
                      skills=["dispute.neighbor", "dispute.property", "dispute.labor"]),
        HandlerCreate(name="孙志强", role=g, tier="grid", areas=[YANGGUANG], capacity=6,
                      skills=["incident.facility", "incident.sanitation", "incident.safety",
                              "incident.order"]),
        HandlerCreate(name="周燕", role=g, tier="grid", areas=[YANGGUANG], capacity=3,
                      skills=["incident.water", "incident.care"], on_duty=False),  # on leave
        # 网格长: supervises the three grids, helps with the commonest incidents
        HandlerCreate(name="马文斌", role=g, tier="grid", areas=list(GRIDS), capacity=3,
                      skills=["incident.facility", "incident.sanitation"], is_supervisor=True),
        # 社区工作人员: two in every grid answer questions, suggestions and complaints
        HandlerCreate(name="何静", role=s, tier="grid", areas=[XINGFULI], capacity=6,
                      skills=list(REQUESTS)),
        HandlerCreate(name="杨帆", role=s, tier="grid", areas=[XINGFULI], capacity=4,
                      skills=list(REQUESTS)),
        HandlerCreate(name="黄玉梅", role=s, tier="grid", areas=[HONGXING], capacity=4,
                      skills=list(REQUESTS)),
        HandlerCreate(name="徐卫东", role=s, tier="grid", areas=[HONGXING], capacity=3,
                      skills=list(REQUESTS)),
        HandlerCreate(name="罗佳", role=s, tier="grid", areas=[YANGGUANG], capacity=5,
                      skills=list(REQUESTS)),
        HandlerCreate(name="谢婷", role=s, tier="grid", areas=[YANGGUANG], capacity=4,
                      skills=list(REQUESTS)),
        # ---- township tier (乡镇攻坚)
        HandlerCreate(name="吴国华", role=m, tier="township", areas=[TOWNSHIP], capacity=8,
                      skills=list(DISPUTES), is_supervisor=True),
        HandlerCreate(name="郑海涛", role=g, tier="township", areas=[TOWNSHIP], capacity=8,
                      skills=list(INCIDENTS)),
        HandlerCreate(name="韩立新", role=s, tier="township", areas=[TOWNSHIP], capacity=8,
                      skills=list(REQUESTS)),
        # ---- county tier (县级兜底)
        HandlerCreate(name="林淑芬", role=m, tier="county", areas=[COUNTY], capacity=6,
                      skills=list(DISPUTES), is_supervisor=True),
        HandlerCreate(name="高建军", role=g, tier="county", areas=[COUNTY], capacity=6,
                      skills=list(INCIDENTS)),
        HandlerCreate(name="曹慧", role=s, tier="county", areas=[COUNTY], capacity=6,
                      skills=list(REQUESTS)),
    )
    staff = (
        StaffSpec("demo-dispatcher", "dispatcher", (TOWNSHIP,)),
        StaffSpec("demo-supervisor", "supervisor", (COUNTY,)),
        StaffSpec("demo-admin", "admin"),
        # handlers who sign in to the console (我的工单): 幸福里社区's mediator, two grid
        # workers (an order can be moved between them) and a community staff member,
        # and 阳光花园社区's mediator
        StaffSpec("lixiuying", "handler", handler="李秀英"),
        StaffSpec("wangjianguo", "handler", handler="王建国"),
        StaffSpec("zhangli", "handler", handler="张丽"),
        StaffSpec("hejing", "handler", handler="何静"),
        StaffSpec("zhaomin", "handler", handler="赵敏"),
    )
    aliases = (
        # the township seat: the old street, the market, the roads around it
        (XINGFULI, ("幸福里", "幸福里小区", "幸福路", "人民路", "建设路", "老街", "菜市场")),
        # a village: "东头/西头" only as the village's own ends (bare, they would
        # catch "3号楼东头" in any community)
        (HONGXING, ("红星", "红星村委会", "村口", "晒谷场", "村东头", "村西头")),
        (YANGGUANG, ("阳光花园", "阳光小区", "解放路", "文化广场", "体育公园")),
    )
    return DemoData(areas=areas, handlers=handlers, staff=staff, aliases=aliases,
                    fallback=XINGFULI)


# ---------------------------------------------------------------------- loading


@dataclass(frozen=True)
class Contents:
    """How many rows of each kind a database holds."""

    areas: int
    handlers: int
    staff: int
    orders: int

    @property
    def has_setup(self) -> bool:
        """Areas or handlers exist (someone set this database up)."""
        return bool(self.areas or self.handlers)

    @property
    def is_empty(self) -> bool:
        return not (self.has_setup or self.orders)


def database_contents(uow: UnitOfWork) -> Contents:
    with uow.read_only():
        session = uow.session

        def count(model: type) -> int:
            return int(session.scalar(select(func.count()).select_from(model)) or 0)

        return Contents(areas=count(Area), handlers=count(Handler), staff=count(StaffUser),
                        orders=count(WorkOrder))


@dataclass
class DemoResult:
    """What ``load_demo`` added, and what it found already there and left alone."""

    areas_added: list[AreaView] = field(default_factory=list)
    areas_kept: list[str] = field(default_factory=list)
    #: (grid code, alias)
    aliases_added: list[tuple[str, str]] = field(default_factory=list)
    aliases_kept: list[tuple[str, str]] = field(default_factory=list)
    #: the fallback grid this run set (None: it set none, e.g. one was set already)
    fallback_set: str | None = None
    handlers_added: list[HandlerView] = field(default_factory=list)
    handlers_kept: list[str] = field(default_factory=list)
    #: new accounts and their tokens: show each token once, store it nowhere
    staff_added: list[tuple[StaffView, str]] = field(default_factory=list)
    staff_kept: list[str] = field(default_factory=list)
    #: username -> the sign-in password of each new account (``make_password``): show once
    staff_passwords: dict[str, str] = field(default_factory=dict)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def new_password() -> str:
    """16 random URL-safe characters (96 bits)."""
    return secrets.token_urlsafe(12)


def load_demo(
    uow: UnitOfWork,
    now: datetime,
    *,
    force: bool = False,
    with_staff: bool = True,
    data: DemoData | None = None,
    make_token: Callable[[], str] = new_token,
    make_password: Callable[[], str] | None = None,
) -> DemoResult:
    """Add the demo data set (see the module docstring for what is refused and kept).

    ``Conflict`` if the database holds work orders, if it has areas or
    handlers and ``force`` is False, or if an area of a demo code exists with
    another name, tier or parent. ``with_staff=False`` creates no accounts
    (and so makes no tokens). ``make_password``: each new account also gets a
    sign-in password (stored as its argon2id hash, returned in ``staff_passwords``).
    """
    require_aware(now)
    data = data or demo_data()
    contents = database_contents(uow)
    if contents.orders:
        raise Conflict(
            f"refusing to load demo data: the database holds {contents.orders} work orders "
            "(demo data never goes next to real orders, even with force)",
            "数据库中已有工单，不能加载演示数据。",
        )
    if contents.has_setup and not force:
        raise Conflict(
            f"refusing to load demo data: the database already has {contents.areas} areas and "
            f"{contents.handlers} handlers (force adds the demo next to them and changes "
            "nothing that exists)",
            "数据库中已有区域或处理人员，未加载演示数据。",
        )
    result = DemoResult()
    _load_areas(uow, data, result)
    _load_places(uow, data, result)
    _load_handlers(uow, data, now, result)
    if with_staff:
        _load_staff(uow, data, now, make_token, make_password, result)
    return result


def _load_areas(uow: UnitOfWork, data: DemoData, result: DemoResult) -> None:
    existing = {a.code: a for a in list_areas(uow)}
    for spec in data.areas:  # parents come first in the data
        found = existing.get(spec.code)
        if found is None:
            result.areas_added.append(
                add_area(uow, spec.code, spec.name, spec.tier, spec.parent_code)
            )
        elif (found.name, found.tier, found.parent_code) == (
            spec.name, spec.tier, spec.parent_code
        ):
            result.areas_kept.append(spec.code)
        else:
            raise Conflict(
                f"area {spec.code!r} exists as {found.name!r} ({found.tier}, parent "
                f"{found.parent_code!r}), not as the demo's {spec.name!r}",
                f"区域 {spec.code} 已存在且与演示数据不同。",
            )


def _load_places(uow: UnitOfWork, data: DemoData, result: DemoResult) -> None:
    """The demo's aliases (an alias some grid has already is kept, wherever it points),
    and its fallback grid unless one is set already."""
    areas = list_area_details(uow)
    taken = {location_key(alias) for a in areas for alias in a.aliases}
    for code, aliases in data.aliases:
        for alias in aliases:
            if location_key(alias) in taken:
                result.aliases_kept.append((code, alias))
            else:
                add_alias(uow, code, alias)
                result.aliases_added.append((code, alias))
    if data.fallback is not None and not any(a.fallback for a in areas):
        set_fallback_area(uow, data.fallback)
        result.fallback_set = data.fallback


def _load_handlers(uow: UnitOfWork, data: DemoData, now: datetime, result: DemoResult) -> None:
    existing = {(h.name, h.role, h.tier) for h in list_handlers(uow)}
    for spec in data.handlers:
        if (spec.name, spec.role, spec.tier) in existing:
            result.handlers_kept.append(spec.name)
        else:
            result.handlers_added.append(create_handler(uow, spec, now))


def _load_staff(
    uow: UnitOfWork,
    data: DemoData,
    now: datetime,
    make_token: Callable[[], str],
    make_password: Callable[[], str] | None,
    result: DemoResult,
) -> None:
    specs = {(h.name, h.role, h.tier) for h in data.handlers}
    handler_ids = {h.name: h.id for h in list_handlers(uow)
                   if (h.name, h.role, h.tier) in specs}
    for spec in data.staff:
        handler_id = None
        if spec.handler is not None:
            handler_id = handler_ids.get(spec.handler)
            if handler_id is None:
                raise Conflict(f"demo account {spec.username!r} needs the demo handler "
                               f"{spec.handler!r}", f"演示账号 {spec.username} 缺少对应的处理人员。")
        token = make_token()
        try:
            account = create_staff_user(uow, spec.username, spec.role, token, now,
                                        areas=spec.areas, handler_id=handler_id)
        except Conflict:  # the username is taken: keep that account as it is
            result.staff_kept.append(spec.username)
            continue
        result.staff_added.append((account, token))
        if make_password is not None:
            password = make_password()
            set_password(uow, account.username, password)
            result.staff_passwords[account.username] = password
