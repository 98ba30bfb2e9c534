"""Weekly 研判 reports: for a township or the county, one week (Monday to Sunday, China time).

``build_weekly_report`` reads the week and stores (or replaces) the report:

- ``scorecard``: the 三率 of the orders created that week (``service.metrics``'s
  one copy of the definitions) and the 重复诉求率;
- ``trend``: the same for the four weeks ending with this one;
- ``hotspots``: the places x categories with the most orders and those slowest to
  resolve (``domain.hotspots.rank_hotspots`` over the week's and the previous
  weeks' counts); each top hotspot is raised as a ``hotspot`` warning
  (level attention, key ``hotspot:<grid>:<week>:<place>``);
- ``surges``, ``repeats``, ``disputes_at_risk``: the warnings raised that week;
- ``repeat_summary``, ``unsatisfied_reasons`` (the residents' 不满意 reasons,
  most common first) and a one-sentence ``headline``.

``run_weekly_reports`` is the Monday job (after ``ReportRules``' hour): last
week's report for every township and the county, built if missing and
delivered once through the outbox: a Telegram row to each supervisor or admin
account with a chat who covers the area (a short summary and the console
path) and one row on the ``reports`` channel carrying the whole report (the
notifier posts it to ``WORKORDERS_REPORTS_WEBHOOK_URL``, else logs it).
"""

from __future__ import annotations

import logging
import statistics
from collections import Counter, defaultdict
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import Session

from ..adapters.orm import Area, OrderEvent, OutboxMessage, StaffUser, WorkOrder
from ..adapters.warnings_tables import RiskWarning, WarningOrder, WeeklyReport
from ..domain.errors import DomainError
from ..domain.hotspots import Hotspot, PlaceTally, rank_hotspots
from ..domain.lifecycle import Action, Status
from ..domain.places import repeat_place_key
from ..domain.warnings import KIND_LABELS
from . import outbox
from .common import category_label, require_aware
from .config import CHINA_TZ
from .dashboard import reason_of
from .errors import InvalidInput, NotFound
from .metrics import TALLY_COLUMNS, Metrics, Tally, period_filter
from .uow import UnitOfWork
from .warnings import raise_warning

log = logging.getLogger(__name__)

TOPIC_WEEKLY_REPORT = "report.weekly"
#: The outbox channel that carries whole reports (``integrations.shared.delivery.CHANNELS``).
REPORTS_CHANNEL = "reports"
CONSOLE_PATH = "/console/reports/{area}/{week}"
TREND_WEEKS = 4
REPORT_TIERS = ("township", "county")
#: The warning kinds the report lists, by body key.
LISTED_KINDS = {"surges": "surge", "repeats": "repeat", "disputes_at_risk": "dispute_risk"}
NO_REASON = "未说明原因"
#: Who may receive the report by Telegram (covering the area, or all if they have no areas).
RECEIVER_ROLES = ("supervisor", "admin")


@dataclass(frozen=True)
class WeeklyReportView:
    area_code: str
    area_name: str
    week: date
    created_at: datetime
    created_by: str
    body: dict[str, Any]


# ------------------------------------------------------------------------- weeks


def week_of(at: datetime, tz: tzinfo) -> date:
    """The Monday of the week (in ``tz``) holding ``at``."""
    day = at.astimezone(tz).date()
    return day - timedelta(days=day.weekday())


def week_bounds(week: date, tz: tzinfo = CHINA_TZ) -> tuple[datetime, datetime]:
    """``[Monday 00:00, next Monday 00:00)`` in ``tz``."""
    start = datetime.combine(week, time(0), tzinfo=tz)
    return start, start + timedelta(days=7)


def last_complete_week(now: datetime, tz: tzinfo = CHINA_TZ) -> date:
    """The Monday of the last week that has ended."""
    return week_of(now, tz) - timedelta(days=7)


def parse_week(value: str) -> date:
    """``YYYY-MM-DD`` of a Monday; ``InvalidInput`` otherwise."""
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise InvalidInput("week", "must be a date YYYY-MM-DD",
                           "周次应为日期，格式为YYYY-MM-DD（该周的星期一）。") from None
    return _monday(day)


def _monday(week: date) -> date:
    if week.weekday() != 0:
        raise InvalidInput("week", "must be a Monday", "周次应为该周星期一的日期。")
    return week


# ------------------------------------------------------------------------- areas


def _report_area(session: Session, area_code: str) -> Area:
    area = session.get(Area, area_code)
    if area is None:
        raise NotFound("area", area_code)
    if area.tier not in REPORT_TIERS:
        raise InvalidInput("area", "reports are made for a township or the county",
                           "研判周报只按乡镇（街道）或全县生成。")
    return area


def _areas_below(session: Session, root: str) -> list[Area]:
    """``root`` and every area under it."""
    areas = list(session.scalars(select(Area)))
    children: dict[str | None, list[Area]] = defaultdict(list)
    for a in areas:
        children[a.parent_code].append(a)
    found = [a for a in areas if a.code == root]
    frontier = list(found)
    while frontier:
        for child in children.get(frontier.pop().code, []):
            found.append(child)
            frontier.append(child)
    return found


def _covers(areas: Collection[str] | None, report_area: str, chain: Collection[str]) -> bool:
    """Whether a caller with ``areas`` (None: all) may read a report of ``report_area``
    (whose chain up to the county is ``chain``): one of theirs or under one of theirs."""
    return areas is None or bool(set(areas) & ({report_area} | set(chain)))


# ------------------------------------------------------------------------- build


def build_weekly_report(
    uow: UnitOfWork, area_code: str, week: date, *, now: datetime, actor: str
) -> WeeklyReportView:
    """Read the week, raise its hotspot warnings, store (or replace) the report; see the module.

    ``NotFound`` for an unknown area; ``InvalidInput`` for a grid, a week that is
    not a Monday or one that has not begun.
    """
    require_aware(now)
    week = _monday(week)
    tz = CHINA_TZ
    start, end = week_bounds(week, tz)
    if start > now:
        raise InvalidInput("week", "the week has not begun", "该周尚未开始，无法生成周报。")
    with uow.read_only():
        session = uow.session
        area = _report_area(session, area_code)
        body, hotspots = _body(uow, session, area, week, start, end)
        area_name = area.name
    with uow:
        session = uow.session
        _raise_hotspots(session, uow, hotspots, week, now)
        row = session.scalar(select(WeeklyReport).where(
            WeeklyReport.area_code == area_code, WeeklyReport.week == week.isoformat()))
        if row is None:
            row = WeeklyReport(area_code=area_code, week=week.isoformat(), created_at=now,
                               created_by=actor, body=body)
            session.add(row)
        else:
            row.created_at, row.created_by, row.body = now, actor, body
        view = WeeklyReportView(area_code, area_name, week, now, actor, body)
        uow.commit()
    return view


def _body(uow: UnitOfWork, session: Session, area: Area, week: date, start: datetime,
          end: datetime) -> tuple[dict[str, Any], list[Hotspot]]:
    taxonomy = uow.config.taxonomy
    below = _areas_below(session, area.code)
    names = {a.code: a.name for a in below}
    grids = sorted(a.code for a in below if a.tier == taxonomy.tiers[0])
    weeks = [week - timedelta(days=7 * i) for i in range(TREND_WEEKS - 1, -1, -1)]
    cards = {w: _card(session, *week_bounds(w), grids) for w in weeks}
    card = cards[week]
    rules = uow.config.warning_rules.hotspot
    tallies = _place_tallies(session, grids, week, rules.compare_weeks, names)
    ranked = rank_hotspots(tallies, rules)
    listed = {key: _warnings(session, kind, [a.code for a in below], start, end)
              for key, kind in LISTED_KINDS.items()}
    repeats = listed["repeats"]
    reasons = _unsatisfied_reasons(session, grids, start, end)
    body: dict[str, Any] = {
        "period": {"start": start.isoformat(), "end": end.isoformat()},
        "scorecard": {
            "created": card.created,
            "resolution_rate": card.resolution_rate,
            "on_time_rate": card.on_time_rate,
            "accept_timely_rate": card.accept_timely_rate,
            "satisfaction_rate": card.satisfaction_rate,
            "repeat_rate": card.repeat_rate,
        },
        "trend": [
            {"week": w.isoformat(), "resolution_rate": c.resolution_rate,
             "on_time_rate": c.on_time_rate, "satisfaction_rate": c.satisfaction_rate,
             "created": c.created}
            for w, c in cards.items()
        ],
        "hotspots": {
            "top": [_hotspot_dict(h, names, taxonomy) for h in ranked.top],
            "slowest": [_hotspot_dict(h, names, taxonomy) for h in ranked.slowest],
        },
        **listed,
        "repeat_summary": {"count": len(repeats),
                           "sham": sum(1 for r in repeats if r.pop("_sham"))},
        "unsatisfied_reasons": reasons,
    }
    for key in ("surges", "disputes_at_risk"):
        for item in body[key]:
            item.pop("_sham")
    body["headline"] = headline(area.name, body)
    return body, list(ranked.top)


def _card(session: Session, start: datetime, end: datetime, grids: list[str]) -> Metrics:
    """The scorecard of orders created in ``[start, end)`` in ``grids`` (``service.metrics``)."""
    stmt = select(*(c.label(n) for n, c in TALLY_COLUMNS.items())).where(
        *period_filter(start, end, grids))
    return Tally.from_row(session.execute(stmt).one()).result(None)


def _place_tallies(session: Session, grids: list[str], week: date, compare_weeks: int,
                   names: Mapping[str, str]) -> list[PlaceTally]:
    """Per grid x place x category: this week's count, the previous weeks' (most recent first),
    and the median hours to resolve this week's orders."""
    first = week - timedelta(days=7 * compare_weeks)
    start, _ = week_bounds(first)
    _, end = week_bounds(week)
    rows = session.execute(
        select(WorkOrder.area_code, WorkOrder.location_text, WorkOrder.category,
               WorkOrder.created_at, WorkOrder.resolved_at)
        .where(*period_filter(start, end, grids), WorkOrder.status != Status.CANCELLED.value)
    ).all()
    area_words = tuple(names.values())
    counts: dict[tuple[str, str, str], list[int]] = defaultdict(lambda: [0] * (compare_weeks + 1))
    texts: dict[tuple[str, str, str], Counter[str]] = defaultdict(Counter)
    hours: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    for area_code, text, category, created_at, resolved_at in rows:
        key = (area_code, repeat_place_key(text, area_words) or text, category)
        back = (week - week_of(created_at, CHINA_TZ)).days // 7  # 0: this week
        if not 0 <= back <= compare_weeks:
            continue
        counts[key][back] += 1
        if back == 0:
            texts[key][text] += 1
            if resolved_at is not None:
                hours[key].append((resolved_at - created_at).total_seconds() / 3600)
    return [
        PlaceTally(area_code=k[0], place_key=k[1], place_text=texts[k].most_common(1)[0][0],
                   category=k[2], this_week=c[0], previous=tuple(c[1:]),
                   median_resolve_hours=round(statistics.median(hours[k]), 1)
                   if hours[k] else None)
        for k, c in sorted(counts.items()) if c[0] > 0
    ]


def _hotspot_dict(h: Hotspot, names: Mapping[str, str], taxonomy: Any) -> dict[str, Any]:
    return {
        "place": h.place_text, "area_code": h.area_code,
        "area_name": names.get(h.area_code, h.area_code), "category": h.category,
        "category_name": category_label(taxonomy, h.category), "count": h.count,
        "change": h.change, "median_resolve_hours": h.median_resolve_hours,
    }


def _warnings(session: Session, kind: str, areas: list[str], start: datetime,
              end: datetime) -> list[dict[str, Any]]:
    found = list(session.scalars(
        select(RiskWarning)
        .where(RiskWarning.kind == kind, RiskWarning.area_code.in_(areas),
               RiskWarning.created_at >= start, RiskWarning.created_at < end)
        .order_by(RiskWarning.created_at, RiskWarning.id)))
    numbers: dict[int, list[str]] = defaultdict(list)
    if found:
        for warning_id, number in session.execute(
            select(WarningOrder.warning_id, WorkOrder.number)
            .join(WorkOrder, WorkOrder.id == WarningOrder.order_id)
            .where(WarningOrder.warning_id.in_([w.id for w in found]))
            .order_by(WarningOrder.warning_id, WorkOrder.created_at, WorkOrder.id)
        ):
            numbers[warning_id].append(number)
    return [
        {"warning_id": w.id, "level": w.level, "explanation": w.explanation,
         "created_at": w.created_at.isoformat(), "order_numbers": numbers[w.id],
         "_sham": bool((w.details or {}).get("sham", False))}
        for w in found
    ]


def _unsatisfied_reasons(session: Session, grids: list[str], start: datetime,
                         end: datetime) -> list[dict[str, Any]]:
    """Residents' 不满意 answers in the week, by reason (``dashboard.reason_of``), most first."""
    notes = session.scalars(
        select(OrderEvent.note)
        .join(WorkOrder, WorkOrder.id == OrderEvent.order_id)
        .where(OrderEvent.action == Action.UNSATISFIED.value, OrderEvent.actor == "resident",
               OrderEvent.at >= start, OrderEvent.at < end, WorkOrder.area_code.in_(grids)))
    counted = Counter(reason_of(note) or NO_REASON for note in notes)
    return [{"reason": r, "count": n}
            for r, n in sorted(counted.items(), key=lambda item: (-item[1], item[0]))]


def _percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.0f}%"


def headline(area_name: str, body: Mapping[str, Any]) -> str:
    """One Chinese sentence: the week's volume, the 三率, the warnings."""
    card = body["scorecard"]
    counts = "、".join(f"{KIND_LABELS[kind]}{len(body[key])}起"
                      for key, kind in LISTED_KINDS.items() if body[key])
    top = body["hotspots"]["top"]
    hot = f"，最突出的热点是{top[0]['area_name']}{top[0]['place']}（{top[0]['category_name']}" \
          f"{top[0]['count']}件）" if top else ""
    return (f"{area_name}本周受理{card['created']}件，办结率{_percent(card['resolution_rate'])}，"
            f"按时办结率{_percent(card['on_time_rate'])}，"
            f"满意率{_percent(card['satisfaction_rate'])}；"
            + (f"预警{counts}" if counts else "本周无预警") + hot + "。")


def _raise_hotspots(session: Session, uow: UnitOfWork, hotspots: Iterable[Hotspot],
                    week: date, now: datetime) -> None:
    """Each top hotspot as a ``hotspot`` warning of its grid (once per grid, week and place)."""
    taxonomy = uow.config.taxonomy
    for h in hotspots:
        category_name = category_label(taxonomy, h.category)
        area = session.get(Area, h.area_code)
        name = area.name if area is not None else h.area_code
        usual = round(h.count - h.change, 1)
        change = f"（此前每周平均{usual:g}件）" if h.change > 0 else ""
        raise_warning(
            session, uow.config, kind="hotspot",
            dedupe_key=f"hotspot:{h.area_code}:{week.isoformat()}:{h.place_text}"[:160],
            level="attention", area_code=h.area_code, category=h.category,
            explanation=f"{name} {h.place_text} 本周{category_name}{h.count}件{change}",
            details={"week": week.isoformat(), "place": h.place_text, "count": h.count,
                     "change": h.change, "median_resolve_hours": h.median_resolve_hours},
            order_id=None, orders=(), now=now)


# -------------------------------------------------------------------------- read


def _view(row: WeeklyReport, name: str, *, full: bool = True) -> WeeklyReportView:
    body = dict(row.body or {})
    return WeeklyReportView(
        area_code=row.area_code, area_name=name, week=date.fromisoformat(row.week),
        created_at=row.created_at, created_by=row.created_by,
        body=body if full else {"headline": body.get("headline")},
    )


def get_weekly_report(uow: UnitOfWork, area_code: str, week: date) -> WeeklyReportView | None:
    """The stored report of the area and week, None if it was never built."""
    with uow.read_only():
        session = uow.session
        row = session.scalar(select(WeeklyReport).where(
            WeeklyReport.area_code == area_code, WeeklyReport.week == week.isoformat()))
        if row is None:
            return None
        area = session.get(Area, area_code)
        return _view(row, area.name if area else area_code)


def list_weekly_reports(
    uow: UnitOfWork, area_codes: Collection[str] | None, limit: int = 50
) -> list[WeeklyReportView]:
    """Stored reports, newest week first (then by area); only areas ``area_codes`` cover
    (None: all). The body holds only the headline."""
    from ..adapters import store

    with uow.read_only():
        session = uow.session
        names = dict(session.execute(select(Area.code, Area.name)).tuples().all())
        rows = session.scalars(
            select(WeeklyReport).order_by(WeeklyReport.week.desc(), WeeklyReport.area_code))
        out = []
        for row in rows:
            chain = store.area_chain_cached(session, row.area_code).values()
            if _covers(area_codes, row.area_code, chain):
                out.append(_view(row, names.get(row.area_code, row.area_code), full=False))
                if len(out) >= limit:
                    break
        return out


def may_read(uow: UnitOfWork, area_code: str, area_codes: Collection[str] | None) -> bool:
    """Whether a caller with ``area_codes`` (None: all) may read ``area_code``'s reports."""
    from ..adapters import store

    with uow.read_only():
        chain = store.area_chain_cached(uow.session, area_code).values()
    return _covers(area_codes, area_code, chain)


# ---------------------------------------------------------------------- delivery


def summary_text(view: WeeklyReportView) -> str:
    path = CONSOLE_PATH.format(area=view.area_code, week=view.week.isoformat())
    return (f"【研判周报】{view.area_name} {view.week.month}月{view.week.day}日当周："
            f"{view.body.get('headline', '')}详情请在工作台查看：{path}")


def deliver_weekly_report(session: Session, view: WeeklyReportView, *, now: datetime) -> int:
    """Queue the report's rows (see the module), each once; how many were queued."""
    week = view.week.isoformat()
    path = CONSOLE_PATH.format(area=view.area_code, week=week)
    chain = set(_chain(session, view.area_code))
    text = summary_text(view)
    base = {"text": text, "area_code": view.area_code, "area_name": view.area_name,
            "week": week, "path": path}
    targets: list[tuple[str, str, str, dict[str, Any]]] = [
        ("supervisor", f"staff:{u.username}", "telegram",
         {**base, "chat_id": u.telegram_chat_id})
        for u in session.scalars(
            select(StaffUser)
            .where(StaffUser.role.in_(RECEIVER_ROLES), StaffUser.active.is_(True))
            .order_by(StaffUser.id))
        if u.telegram_chat_id and (not u.areas or chain & set(u.areas))
    ]
    targets.append(("reports", view.area_code, REPORTS_CHANNEL, {
        **base, "report": {"area_code": view.area_code, "area_name": view.area_name,
                           "week": week, "created_at": view.created_at.isoformat(),
                           "created_by": view.created_by, "body": view.body}}))
    queued = 0
    for kind, ref, channel, payload in targets:
        dedupe = f"report:{view.area_code}:{week}:{kind}:{ref}"
        if session.scalar(select(OutboxMessage.id).where(OutboxMessage.dedupe_key == dedupe)):
            continue
        outbox._queue(session, dedupe=dedupe, order_number=None, recipient_kind=kind,
                      recipient_ref=ref, channel=channel, topic=TOPIC_WEEKLY_REPORT,
                      payload=payload, now=now)
        queued += 1
    return queued


def _chain(session: Session, area_code: str) -> list[str]:
    from ..adapters import store

    return [area_code, *store.area_chain_cached(session, area_code).values()]


def _delivered_key(area_code: str, week: date) -> str:
    return f"report:{area_code}:{week.isoformat()}:reports:{area_code}"


def run_weekly_reports(uow_factory: Callable[[], UnitOfWork], now: datetime) -> list[str]:
    """The Monday job: once ``ReportRules``' weekday and hour have passed this week, last
    week's report for every township and the county, built if missing and delivered once.
    The ``area:week`` of each report delivered now (empty when there is nothing to do)."""
    require_aware(now)
    uow = uow_factory()
    rules = uow.config.warning_rules.report
    this_week = week_of(now, CHINA_TZ)
    due = week_bounds(this_week)[0] + timedelta(days=rules.weekday, hours=rules.hour)
    if now < due:
        return []
    week = this_week - timedelta(days=7)
    with uow.read_only():
        session = uow.session
        areas = list(session.scalars(
            select(Area.code).where(Area.tier.in_(REPORT_TIERS)).order_by(Area.code)))
        keys = {_delivered_key(a, week): a for a in areas}
        done = set(session.scalars(
            select(OutboxMessage.dedupe_key).where(OutboxMessage.dedupe_key.in_(list(keys)))))
        built = set(session.scalars(select(WeeklyReport.area_code).where(
            WeeklyReport.week == week.isoformat(), WeeklyReport.area_code.in_(areas))))
    delivered = []
    for key, area_code in keys.items():
        if key in done:
            continue
        try:
            if _build_and_deliver(uow_factory, area_code, week, area_code in built, now):
                delivered.append(f"{area_code}:{week.isoformat()}")
        except (SQLAlchemyError, DomainError):  # the next sweep tries again
            log.exception("weekly report of %s for %s failed", area_code, week)
    return delivered


def _build_and_deliver(uow_factory: Callable[[], UnitOfWork], area_code: str, week: date,
                       built: bool, now: datetime) -> bool:
    """Build the report unless ``built``, then queue its delivery; False if another
    process got there first."""
    if built:
        view = get_weekly_report(uow_factory(), area_code, week)
    else:
        try:
            view = build_weekly_report(uow_factory(), area_code, week, now=now, actor="system")
        except IntegrityError:  # another sweeper built it at the same moment
            view = get_weekly_report(uow_factory(), area_code, week)
    if view is None:
        return False
    unit = uow_factory()
    try:
        with unit:
            queued = deliver_weekly_report(unit.session, view, now=now)
            unit.commit()
    except IntegrityError:  # another sweeper delivered it at the same moment
        return False
    return queued > 0
