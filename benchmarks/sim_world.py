"""The simulated world of the dispatch benchmark: what happens, whoever dispatches.

Everything here is drawn from named random streams (``stream``): the areas,
the 50 handlers, the arrival times, each order's attributes and each
handler's answer to each offer. A stream's numbers depend only on the seed and
the stream's key, never on what else was drawn before, so every dispatch
policy faces exactly the same world.

Time is a float: minutes since simulation start, which is a Monday 00:00 in
China Standard Time (UTC+8). ``at`` turns it into the timezone-aware datetime
the domain functions want.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import MappingProxyType

import yaml

from integrations.workorders.domain import Priority, Taxonomy

MINUTES_PER_DAY = 1440.0
LOCAL_TZ = timezone(timedelta(hours=8), "CST")
#: Simulation minute 0: Monday 3 March 2025, 00:00 local time.
EPOCH = datetime(2025, 3, 3, tzinfo=LOCAL_TZ)
TAXONOMY_PATH = Path(__file__).resolve().parents[1] / "taxonomy.yml"

COUNTY = "C-01"
TOWNSHIPS = ("T-01", "T-02", "T-03")
GRIDS_PER_TOWNSHIP = 4
GRIDS = tuple(f"G-{i + 1:02d}" for i in range(len(TOWNSHIPS) * GRIDS_PER_TOWNSHIP))
TOWNSHIP_OF = MappingProxyType({g: TOWNSHIPS[i // GRIDS_PER_TOWNSHIP] for i, g in enumerate(GRIDS)})

#: Share of reports per category (relative weights; neighbour quarrels and
#: broken facilities are the bulk, family and labour disputes are rarer).
CATEGORY_MIX = MappingProxyType({
    "dispute.neighbor": 17, "dispute.property": 10, "dispute.family": 5,
    "dispute.labor": 4, "dispute.land": 5,
    "incident.facility": 15, "incident.water": 9, "incident.sanitation": 13,
    "incident.safety": 9, "incident.order": 6, "incident.care": 7,
})
#: Requests (其他诉求: questions, suggestions, complaints about an office or a
#: business) on the same scale: 12 for the 100 of disputes and incidents
#: above, about 11 % of all reports. They arrive as a stream of their own
#: (``REQUESTS_PER_DAY``) with attributes of their own, so the disputes and
#: incidents of a seed are the same as before requests existed (no handler
#: serves both, so neither changes what happens to the other).
REQUEST_MIX = MappingProxyType({
    "request.consult": 6, "request.suggest": 2, "request.complaint": 4,
})
#: Median hands-on work per order (minutes of working time, all visits and
#: sessions together), lognormal. Tuned so handlers are busy ~60 % of their hours.
WORK_MEDIAN_MINUTES = MappingProxyType({
    "dispute.neighbor": 330, "dispute.property": 400, "dispute.family": 400,
    "dispute.labor": 460, "dispute.land": 600,
    "incident.facility": 220, "incident.water": 220, "incident.sanitation": 150,
    "incident.safety": 180, "incident.order": 130, "incident.care": 180,
    "request.consult": 40, "request.suggest": 60, "request.complaint": 120,
})
#: Urgent orders are "resolved" when the danger is over: a quick response on
#: site, whatever the category (follow-up mediation is a new, normal order).
URGENT_WORK_MEDIAN_MINUTES = 90
WORK_SIGMA = 0.7
URGENT_SHARE = 0.05
#: A question or a complaint is rarely an emergency (a report of danger is a
#: dispute or an incident), but the emergency flag does not look at the kind.
URGENT_SHARE_REQUEST = 0.01
ORDERS_PER_DAY = 55.0  # disputes and incidents
REQUESTS_PER_DAY = ORDERS_PER_DAY * sum(REQUEST_MIX.values()) / sum(CATEGORY_MIX.values())
#: Handlers work on site from 08:00 to 20:00, every day.
WORK_OPEN_HOUR, WORK_CLOSE_HOUR = 8, 20

#: (tier, role, how many): 24 at grid, 12 at township, 4 at county = 40.
ROSTER = (
    ("grid", "grid_worker", 14), ("grid", "mediator", 10),
    ("township", "grid_worker", 6), ("township", "mediator", 6),
    ("county", "grid_worker", 2), ("county", "mediator", 2),
)
ON_LEAVE = 5  # handlers who take one leave of 2-5 days
#: Community staff (社区工作人员, role ``staff``) for requests, ids 41-50, drawn
#: from their own stream so the 40 above are the same as before they existed:
#: one per community office (社区, two neighbouring grids), one per township,
#: one at the county.
STAFF_ROSTER = (("grid", 6), ("township", 3), ("county", 1))
GRIDS_PER_COMMUNITY = 2
STAFF_ON_LEAVE = 1


def stream(seed: int, *key: object) -> random.Random:
    """An independent random stream for ``(seed, *key)``, stable across runs and processes."""
    return random.Random("/".join(str(part) for part in (seed, *key)))


def at(minute: float) -> datetime:
    """The aware datetime of a simulation minute."""
    return EPOCH + timedelta(minutes=minute)


def load_taxonomy(path: Path = TAXONOMY_PATH) -> Taxonomy:
    """The real taxonomy of the repository."""
    with path.open(encoding="utf-8") as f:
        return Taxonomy.from_dict(yaml.safe_load(f))


# --- calendar ------------------------------------------------------------------

def hour_of_day(minute: float) -> float:
    return (minute % MINUTES_PER_DAY) / 60.0


def is_weekday(minute: float) -> bool:
    return int(minute // MINUTES_PER_DAY) % 7 < 5


def _day_bounds(minute: float) -> tuple[float, float, float]:
    """Start of the day, opening and closing minute of its working hours."""
    day = math.floor(minute / MINUTES_PER_DAY) * MINUTES_PER_DAY
    return day, day + WORK_OPEN_HOUR * 60, day + WORK_CLOSE_HOUR * 60


def work_finish(start: float, work: float) -> float:
    """When ``work`` minutes of working time begun at ``start`` are done."""
    t, remaining = start, work
    while True:
        day, opens, closes = _day_bounds(t)
        t = max(t, opens)
        if t < closes:
            if remaining <= closes - t:
                return t + remaining
            remaining -= closes - t
        t = day + MINUTES_PER_DAY + WORK_OPEN_HOUR * 60


def working_minutes(start: float, end: float) -> float:
    """Working time between ``start`` and ``end``."""
    total, t = 0.0, start
    while t < end:
        day, opens, closes = _day_bounds(t)
        total += max(0.0, min(end, closes) - max(t, opens))
        t = day + MINUTES_PER_DAY
    return total


# --- handlers ------------------------------------------------------------------

@dataclass(frozen=True)
class HandlerSpec:
    """A handler as the roster describes them; ``leave`` is [start, end) minutes."""

    id: int
    role: str
    tier: str
    areas: frozenset[str]
    skills: frozenset[str]
    capacity: int
    leave: tuple[tuple[float, float], ...] = ()

    def on_duty(self, minute: float) -> bool:
        return not any(start <= minute < end for start, end in self.leave)


def _categories_of(taxonomy: Taxonomy, role: str) -> tuple[str, ...]:
    return tuple(c.code for c in taxonomy.categories.values() if taxonomy.kinds[c.kind] == role)


def _grid_areas(rng: random.Random, index: int) -> frozenset[str]:
    """A home grid (in turn, so a role's first twelve are spread out), sometimes a neighbour."""
    home = GRIDS[index % len(GRIDS)]
    areas = {home}
    if rng.random() < 0.35:
        areas.add(rng.choice([g for g in GRIDS if TOWNSHIP_OF[g] == TOWNSHIP_OF[home]]))
    return frozenset(areas)


def _community(index: int) -> frozenset[str]:
    """The ``index``-th community's grids (two neighbours in one township)."""
    start = (index * GRIDS_PER_COMMUNITY) % len(GRIDS)
    return frozenset(GRIDS[start:start + GRIDS_PER_COMMUNITY])


def _areas(rng: random.Random, tier: str, index: int) -> frozenset[str]:
    if tier == "grid":
        return _grid_areas(rng, index)
    if tier == "township":
        return frozenset({TOWNSHIPS[index % len(TOWNSHIPS)]})
    return frozenset({COUNTY})


def _skills(rng: random.Random, tier: str, codes: tuple[str, ...]) -> frozenset[str]:
    """Grid: 3 to all of their kind's categories; township: all but at most one; county: all.

    Grid-tier gaps are deliberate: such orders go straight to the township.
    """
    low = {"grid": 3, "township": len(codes) - 1, "county": len(codes)}[tier]
    return frozenset(rng.sample(codes, rng.randint(min(low, len(codes)), len(codes))))


def _leaves(rng: random.Random, count: int, days: int) -> tuple[tuple[float, float], ...]:
    """``count`` leave periods of 2-5 days starting between day 1 and day ``days - 3``."""
    result = []
    for _ in range(count):
        start = rng.randint(1, max(1, days - 3)) * MINUTES_PER_DAY
        result.append((start, start + rng.randint(2, 5) * MINUTES_PER_DAY))
    return tuple(result)


def build_handlers(seed: int, taxonomy: Taxonomy, days: int) -> tuple[HandlerSpec, ...]:
    """The 40 handlers of ``ROSTER`` and the 10 of ``STAFF_ROSTER``, with varied
    areas, skills, capacities and leaves.

    Grid-tier handlers cover one or two grids (every grid has at least one of
    each role; staff cover their community's two grids), township handlers
    one township, county handlers the county. Capacities are 3-8 (5-8 at
    county).
    """
    rng = stream(seed, "handlers")
    drafts = []
    for tier, role, count in ROSTER:
        codes = _categories_of(taxonomy, role)
        for index in range(count):
            drafts.append(dict(
                id=len(drafts) + 1, role=role, tier=tier, areas=_areas(rng, tier, index),
                skills=_skills(rng, tier, codes),
                capacity=rng.randint(5 if tier == "county" else 3, 8),
            ))
    _cover_every_grid(rng, drafts)
    _cover_every_category_per_township(rng, drafts, taxonomy)
    candidates = [d for d in drafts if d["tier"] != "county"]
    for draft in rng.sample(candidates, ON_LEAVE):
        draft["leave"] = _leaves(rng, 1, days)
    drafts += _staff(seed, taxonomy, days, first_id=len(drafts) + 1)
    return tuple(HandlerSpec(**d) for d in drafts)


def _staff(seed: int, taxonomy: Taxonomy, days: int, first_id: int) -> list[dict]:
    """``STAFF_ROSTER``: every request category at every tier (answered, or passed on)."""
    rng = stream(seed, "staff")
    codes = frozenset(_categories_of(taxonomy, "staff"))
    drafts = []
    for tier, count in STAFF_ROSTER:
        for index in range(count):
            areas = _community(index) if tier == "grid" else _areas(rng, tier, index)
            drafts.append(dict(
                id=first_id + len(drafts), role="staff", tier=tier, areas=areas, skills=codes,
                capacity=rng.randint(5 if tier == "county" else 3, 8),
            ))
    for draft in rng.sample([d for d in drafts if d["tier"] != "county"], STAFF_ON_LEAVE):
        draft["leave"] = _leaves(rng, 1, days)
    return drafts


def _cover_every_grid(rng: random.Random, drafts: list[dict]) -> None:
    """Give a grid no grid-tier handler of a role covers to a one-grid colleague nearby."""
    for role in sorted({d["role"] for d in drafts}):
        team = [d for d in drafts if d["tier"] == "grid" and d["role"] == role]
        for grid in GRIDS:
            if any(grid in d["areas"] for d in team):
                continue
            single = [d for d in team if len(d["areas"]) == 1]
            near = [d for d in single if TOWNSHIP_OF[next(iter(d["areas"]))] == TOWNSHIP_OF[grid]]
            chosen = rng.choice(near or single or team)
            chosen["areas"] = chosen["areas"] | {grid}


def _cover_every_category_per_township(
    rng: random.Random, drafts: list[dict], taxonomy: Taxonomy
) -> None:
    """Give township handlers any skill their township lacks, so escalation has somewhere to go.

    Only the roles of ``ROSTER`` (staff have every request category anyway).
    """
    for township in TOWNSHIPS:
        for role in sorted({role for _, role, _ in ROSTER}):
            team = [d for d in drafts if d["tier"] == "township" and township in d["areas"]
                    and d["role"] == role]
            for code in _categories_of(taxonomy, role):
                if not any(code in d["skills"] for d in team):
                    chosen = rng.choice(team)
                    chosen["skills"] = chosen["skills"] | {code}


# --- arrivals and orders -----------------------------------------------------------

def relative_rate(minute: float) -> float:
    """Arrival intensity by hour and weekday (1.0 = a weekday morning)."""
    hour, weekday = hour_of_day(minute), is_weekday(minute)
    if hour < 6:
        return 0.15
    if hour < 8:
        return 0.5
    if hour < 18:
        return 1.0 if weekday else 0.8
    if hour < 22:
        return 2.2 if weekday else 1.3
    return 0.5


def _mean_relative_rate() -> float:
    """Mean of ``relative_rate`` over one week, sampled every minute."""
    week = int(7 * MINUTES_PER_DAY)
    return sum(relative_rate(m + 0.5) for m in range(week)) / week


def arrival_times(seed: int, days: int, per_day: float = ORDERS_PER_DAY,
                  key: str = "arrivals") -> tuple[float, ...]:
    """A non-homogeneous Poisson process (thinning) with ``per_day`` arrivals a day on average."""
    rng = stream(seed, key)
    base = per_day / MINUTES_PER_DAY / _mean_relative_rate()  # per minute at relative rate 1
    peak = base * max(relative_rate(h * 60.0 + 1) for h in range(24 * 7))
    times, t, end = [], 0.0, days * MINUTES_PER_DAY
    while True:
        t += rng.expovariate(peak)
        if t >= end:
            return tuple(times)
        if rng.random() * peak < base * relative_rate(t):
            times.append(t)


@dataclass(frozen=True)
class OrderSpec:
    """One report as the resident makes it; ``work`` is hands-on minutes to resolve it.

    ``index``: position in the world's orders (by arrival); ``key``: what its
    random streams are keyed on (the n-th dispute or incident: ``n``; the
    n-th request: ``"request-n"``), which does not move when the other
    stream gets longer or shorter.
    """

    index: int
    arrival: float
    kind: str
    category: str
    priority: Priority
    grid: str
    work: float
    key: int | str

    @property
    def area_by_tier(self) -> Mapping[str, str]:
        return {"grid": self.grid, "township": TOWNSHIP_OF[self.grid], "county": COUNTY}


def grid_weights(seed: int) -> tuple[float, ...]:
    """How busy each grid is (town centres report more than villages)."""
    rng = stream(seed, "grids")
    return tuple(rng.lognormvariate(0.0, 0.45) for _ in GRIDS)


def make_order(seed: int, n: int, arrival: float, taxonomy: Taxonomy,
               weights: tuple[float, ...], *, request: bool = False) -> OrderSpec:
    """The ``n``-th dispute or incident (or request), from its own stream.

    ``index`` is set by ``build_world`` once both streams are merged."""
    key: int | str = f"request-{n}" if request else n
    rng = stream(seed, "order", key)
    mix = REQUEST_MIX if request else CATEGORY_MIX
    category = rng.choices(tuple(mix), weights=tuple(mix.values()))[0]
    urgent = rng.random() < (URGENT_SHARE_REQUEST if request else URGENT_SHARE)
    grid = rng.choices(GRIDS, weights=weights)[0]
    median = URGENT_WORK_MEDIAN_MINUTES if urgent else WORK_MEDIAN_MINUTES[category]
    work = median * rng.lognormvariate(0.0, WORK_SIGMA)
    return OrderSpec(
        index=-1, arrival=arrival, kind=taxonomy.category(category).kind, category=category,
        priority=Priority.URGENT if urgent else Priority.NORMAL, grid=grid, work=work, key=key,
    )


@dataclass(frozen=True)
class World:
    """Everything the policies share: taxonomy, handlers and the orders to come."""

    seed: int
    days: int
    taxonomy: Taxonomy
    handlers: tuple[HandlerSpec, ...]
    orders: tuple[OrderSpec, ...]


def build_world(seed: int, days: int, taxonomy: Taxonomy | None = None) -> World:
    taxonomy = taxonomy or load_taxonomy()
    weights = grid_weights(seed)
    reports = [make_order(seed, n, t, taxonomy, weights)
               for n, t in enumerate(arrival_times(seed, days))]
    requests = [make_order(seed, n, t, taxonomy, weights, request=True)
                for n, t in enumerate(arrival_times(seed, days, REQUESTS_PER_DAY, "requests"))]
    merged = sorted(reports + requests, key=lambda o: o.arrival)
    orders = tuple(replace(o, index=i) for i, o in enumerate(merged))
    return World(seed, days, taxonomy, build_handlers(seed, taxonomy, days), orders)


# --- how handlers answer an offer ----------------------------------------------------

ANSWER_MEDIAN_MINUTES = 12.0
ANSWER_SIGMA = 0.8
BUSY_SLOWDOWN = 0.5     # each open order already held adds 50 % to the answer delay
NIGHT_SLOWDOWN = 3.0    # 22:00-07:00
URGENT_SPEEDUP = 0.25   # urgent offers are looked at four times sooner
DECLINE_BASE = 0.03
DECLINE_BUSY = 0.15     # when the offer takes them over 80 % of their capacity
DECLINE_MAX = 0.6


@dataclass(frozen=True)
class Answer:
    """A handler's reaction to one offer: after ``delay`` minutes, accept or decline."""

    delay: float
    declines: bool


def answer(seed: int, order: OrderSpec, handler: HandlerSpec, nth: int,
           now: float, open_orders: int, load_after: int) -> Answer:
    """The ``nth`` offer of ``order`` to ``handler`` at ``now``.

    The random draws come from the (order, handler, nth) stream, so the same
    offer gets the same dice under every policy; only the handler's situation
    (how many open orders, how full) differs, and that is the point.
    """
    rng = stream(seed, "answer", order.key, handler.id, nth)
    u, z = rng.random(), rng.gauss(0.0, 1.0)
    delay = ANSWER_MEDIAN_MINUTES * math.exp(ANSWER_SIGMA * z) * (1 + BUSY_SLOWDOWN * open_orders)
    hour = hour_of_day(now)
    if hour >= 22 or hour < 7:
        delay *= NIGHT_SLOWDOWN
    if order.priority is Priority.URGENT:
        delay *= URGENT_SPEEDUP
    fill = load_after / handler.capacity
    p = DECLINE_BASE if fill <= 0.8 else min(DECLINE_MAX, DECLINE_BUSY + 0.25 * (fill - 0.8))
    return Answer(delay=delay, declines=u < p)
