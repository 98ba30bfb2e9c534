"""激增: one area × category's reports in the rule windows against its own history.

``scan_pair`` counts the reports of each window of ``SurgeRules.windows_hours``
ending now (new orders, index ``ix_work_orders_area_category_created``, and
co-reports: a further resident's report attached to an order, index
``ix_order_events_action_at``) and tests them against the pair's history
(counts per hour of the week over ``history_weeks``, ending where the longest
window starts; the weeks count from the area's first order) and a county
prior (per-grid weekly rate of the category and the county's hour-of-week
profile, cached per process for ``PRIOR_TTL``) with
``domain.surges.test_window``. One burst is one warning: a surge warning of
the pair updated within the longest window is updated (its orders added, its
level raised) instead of a new one. Scans of one pair are serialised by a
transaction-level advisory lock on PostgreSQL (SQLite writers take turns).
"""

from __future__ import annotations

import threading
import zlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain

from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import Area, OrderEvent, RiskWarning, WorkOrder
from ..domain.surges import (
    SurgeFinding,
    SurgeHistory,
    SurgePrior,
    county_weekly_rate,
    explain_surge,
    history_of,
    test_window,
    weekly_profile,
)
from ..domain.warning_rules import SurgeRules
from ..domain.warnings import WarningKind
from .audit_trail import REPORT
from .common import category_label
from .uow import UnitOfWork
from .warnings import raise_warning

#: The county prior (per-grid weekly rates, hour-of-week profile) is recomputed this often.
PRIOR_TTL = timedelta(hours=6)
#: The actor of a report by a resident other than the reporter.
CO_REPORTER = "co-reporter"
#: Orders linked to one surge warning at most (the counts stay exact in its details).
MAX_MEMBERS = 200
#: Orders sampled for the county's hour-of-week profile.
PROFILE_SAMPLE = 5000


def scan_pair(uow: UnitOfWork, area_code: str, category: str, now: datetime
              ) -> tuple[str, str | None]:
    """Test the pair's windows; raise or update its burst's warning. The outcome
    (``raised``: new or a higher level, ``updated``, ``""``: no surge) and None."""
    session, cfg = uow.session, uow.config
    rules = cfg.warning_rules.surge
    _lock_pair(session, area_code, category)
    longest = timedelta(hours=max(rules.windows_hours))
    history = _history(session, area_code, category, now - longest, rules.history_weeks)
    prior = _prior(session, category, now - longest, rules, cfg.taxonomy.tiers[0])
    best: SurgeFinding | None = None
    for hours in rules.windows_hours:
        start = now - timedelta(hours=hours)
        observed = _count_reports(session, area_code, category, start, now)
        finding = test_window(observed, start, now, history, prior, rules)
        if finding is not None and (best is None or _stronger(finding, best)):
            best = finding
    if best is None:
        return "", None
    start = now - timedelta(hours=best.window_hours)
    members = _members(session, area_code, category, start, now)
    existing = session.scalar(
        select(RiskWarning.dedupe_key)
        .where(RiskWarning.kind == WarningKind.SURGE.value, RiskWarning.area_code == area_code,
               RiskWarning.category == category, RiskWarning.updated_at >= now - longest)
        .order_by(RiskWarning.id.desc()).limit(1))
    key = existing or f"surge:{area_code}:{category}:{_minute(start)}"
    area_name = session.scalar(select(Area.name).where(Area.code == area_code)) or area_code
    details = {
        "observed": best.observed, "expected": round(best.expected, 3),
        "p_value": best.p_value, "window_hours": best.window_hours,
        "usual_per_day": round(best.usual_per_day, 3), "history_weeks": round(history.weeks, 2),
        "window_start": start.isoformat(), "window_end": now.isoformat(),
    }
    _, told = raise_warning(
        session, cfg, kind=WarningKind.SURGE.value, dedupe_key=key, level=best.level.value,
        area_code=area_code, category=category,
        explanation=explain_surge(best, area_name=area_name,
                                  category_name=category_label(cfg.taxonomy, category)),
        details=details, order_id=None, orders=[(oid, "member") for oid in members], now=now)
    return ("raised" if told else "updated"), None


def _stronger(a: SurgeFinding, b: SurgeFinding) -> bool:
    return (a.level.rank, -a.p_value) > (b.level.rank, -b.p_value)


def _minute(at: datetime) -> str:
    return at.replace(second=0, microsecond=0).strftime("%Y%m%dT%H%M")


def _lock_pair(session: Session, area_code: str, category: str) -> None:
    """Serialise scans of one pair (PostgreSQL; SQLite writers take turns anyway)."""
    if store.has_row_locks(session):
        key = zlib.crc32(f"surge:{area_code}:{category}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def _count_reports(session: Session, area_code: str, category: str, start: datetime,
                   end: datetime) -> int:
    """New orders and co-reports of the pair in ``[start, end]`` (cancelled orders too:
    they were reported)."""
    orders = session.scalar(
        select(func.count()).select_from(WorkOrder)
        .where(WorkOrder.area_code == area_code, WorkOrder.category == category,
               WorkOrder.created_at >= start, WorkOrder.created_at <= end)) or 0
    co_reports = session.scalar(
        select(func.count()).select_from(OrderEvent)
        .join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.action == REPORT, OrderEvent.at >= start, OrderEvent.at <= end,
               OrderEvent.actor == CO_REPORTER, WorkOrder.area_code == area_code,
               WorkOrder.category == category)) or 0
    return int(orders) + int(co_reports)


def _members(session: Session, area_code: str, category: str, start: datetime,
             end: datetime) -> list[int]:
    """The orders behind the burst: created in the window, or co-reported in it."""
    created = list(session.scalars(
        select(WorkOrder.id)
        .where(WorkOrder.area_code == area_code, WorkOrder.category == category,
               WorkOrder.created_at >= start, WorkOrder.created_at <= end)
        .order_by(WorkOrder.id).limit(MAX_MEMBERS)))
    co = session.scalars(
        select(OrderEvent.order_id).join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.action == REPORT, OrderEvent.at >= start, OrderEvent.at <= end,
               OrderEvent.actor == CO_REPORTER, WorkOrder.area_code == area_code,
               WorkOrder.category == category).distinct())
    return sorted(set(created) | set(co))[:MAX_MEMBERS]


def _history(session: Session, area_code: str, category: str, end: datetime,
             weeks: int) -> SurgeHistory:
    """The pair's reports (orders and co-reports) per hour of the week over ``weeks``
    before ``end``; the weeks count from the area's first order if it is younger."""
    first = _area_first_order(session, area_code)
    if first is None or first >= end:
        return history_of((), since=end, until=end)
    begin = max(end - timedelta(weeks=weeks), first)
    created = session.scalars(
        select(WorkOrder.created_at)
        .where(WorkOrder.area_code == area_code, WorkOrder.category == category,
               WorkOrder.created_at >= begin, WorkOrder.created_at < end))
    co_reports = session.scalars(
        select(OrderEvent.at).join(WorkOrder, OrderEvent.order_id == WorkOrder.id)
        .where(OrderEvent.action == REPORT, OrderEvent.actor == CO_REPORTER,
               OrderEvent.at >= begin, OrderEvent.at < end,
               WorkOrder.area_code == area_code, WorkOrder.category == category))
    return history_of(chain(created, co_reports), since=begin, until=end)


@dataclass(frozen=True)
class _County:
    """The county's prior, computed at ``at`` over ``[since, at)``."""

    at: datetime
    counts: dict[str, int]
    grids: int
    weeks: float
    profile: tuple[float, ...]


# process-wide caches, per database: areas' first orders never change; the prior is recomputed
_cache_lock = threading.Lock()
_first_orders: dict[tuple[object, str], datetime] = {}
_priors: dict[object, _County] = {}


def _db_key(session: Session) -> object:
    bind = session.get_bind()
    return getattr(bind, "engine", bind)


def _area_first_order(session: Session, area_code: str) -> datetime | None:
    key = (_db_key(session), area_code)
    if key in _first_orders:
        return _first_orders[key]
    first = session.scalar(select(func.min(WorkOrder.created_at))
                           .where(WorkOrder.area_code == area_code))
    if first is not None:
        with _cache_lock:
            _first_orders[key] = first
    return first


def _prior(session: Session, category: str, end: datetime, rules: SurgeRules,
           grid_tier: str) -> SurgePrior:
    """The county's per-grid weekly rate of ``category`` and its hour-of-week profile
    (all categories) over ``history_weeks`` before ``end`` (``domain.surges``
    ``county_weekly_rate``, ``weekly_profile``); cached for ``PRIOR_TTL``."""
    key = _db_key(session)
    county = _priors.get(key)
    if county is None or not (county.at <= end < county.at + PRIOR_TTL):
        county = _compute_county(session, end, rules.history_weeks, grid_tier)
        with _cache_lock:
            _priors[key] = county
    rate = county_weekly_rate(county.counts.get(category, 0), grids=county.grids,
                              weeks=county.weeks, rules=rules)
    return SurgePrior(weekly_rate=rate, profile=county.profile)


def _compute_county(session: Session, end: datetime, weeks: int, grid_tier: str) -> _County:
    grids = session.scalar(select(func.count()).select_from(Area)
                           .where(Area.tier == grid_tier)) or 0
    first = session.scalar(select(func.min(WorkOrder.created_at)))
    if first is None or first >= end:
        return _County(at=end, counts={}, grids=grids, weeks=0.0, profile=weekly_profile(()))
    begin = max(end - timedelta(weeks=weeks), first)
    in_range = [WorkOrder.created_at >= begin, WorkOrder.created_at < end]
    counts = {category: int(n) for category, n in session.execute(
        select(WorkOrder.category, func.count()).where(*in_range).group_by(WorkOrder.category))}
    # the profile's shape needs no more than a few thousand times: every step-th order
    step = max(1, sum(counts.values()) // PROFILE_SAMPLE)
    sample = select(WorkOrder.created_at).where(*in_range)
    if step > 1:
        sample = sample.where(WorkOrder.id % step == 0)
    times = list(session.scalars(sample))
    return _County(at=end, counts=counts, grids=grids,
                   weeks=(end - begin) / timedelta(weeks=1), profile=weekly_profile(times))


def forget_caches() -> None:
    """Empty the per-process caches (tests that rebuild a database)."""
    with _cache_lock:
        _first_orders.clear()
        _priors.clear()
