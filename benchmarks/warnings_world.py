"""The world of the warnings benchmark: a county's places, its ordinary reports, and the
events planted in it (repeats, escalating disputes, surges).

The county is ``sim_world``'s (3 townships x 4 grids, its category mix, grid
weights, daily and weekly arrival rhythm, handling times and working hours),
given names: every grid is a community (社区) with its estates (buildings
1-30号楼), streets with house numbers and a market. A report names its place the
way residents do, in one of several spellings of the same place (3号楼门口,
三号楼, 3栋, 阳光花园小区3幢...): the benchmark knows the place behind the
spelling, the detector has to work it out.

Everything is drawn from named random streams (``sim_world.stream``), so the
planted events are a function of the seed, never placed by hand. Times are
minutes since ``sim_world.EPOCH`` (a Monday 00:00 China time).

Planted events:
- repeats: N days after an ordinary order is resolved, it is reported again at the
  same place (spelled differently) with the same category; some within 14 days
  (疑似假性整改), some later but inside the rule's window, and decoys (after the
  window, or the same place with another category) that are not repeats. They are
  relative to a resolution the simulation produces, so the driver schedules them.
- escalating disputes: a dispute reported in ordinary words; hours later the
  resident adds a note, or a neighbour a co-report, with a real threat. If the
  order is already resolved by then, the resident reports anew with the threat.
- surges: 3-15 reports in 0.5-3 h in one grid and category (one burst main, some
  reporters adding to the first order as co-reports).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from .sim_world import (
    ANSWER_MEDIAN_MINUTES,
    ANSWER_SIGMA,
    CATEGORY_MIX,
    GRIDS,
    MINUTES_PER_DAY,
    NIGHT_SLOWDOWN,
    ORDERS_PER_DAY,
    REQUEST_MIX,
    REQUESTS_PER_DAY,
    TOWNSHIP_OF,
    TOWNSHIPS,
    URGENT_SHARE,
    URGENT_WORK_MEDIAN_MINUTES,
    WORK_MEDIAN_MINUTES,
    WORK_SIGMA,
    arrival_times,
    grid_weights,
    hour_of_day,
    stream,
)

COUNTY_NAME = "清河县"
TOWNSHIP_NAMES = {"T-01": "城关镇", "T-02": "东坝镇", "T-03": "清水镇"}
COMMUNITY_NAMES = ("阳光", "幸福", "和平", "建设", "向阳", "东关", "新华", "锦江", "桃园", "长青",
                   "西河", "南湖")
ESTATE_NAMES = ("阳光花园", "锦绣家园", "幸福里", "金桥", "翠湖苑", "和平新村", "书香名邸",
                "滨河湾", "春晖园", "丽景华庭", "红星小区", "电厂宿舍", "粮站家属院", "御景湾",
                "新城家园", "龙腾苑", "桂花园", "东方明珠苑", "学府花园", "康乐小区", "福泽园",
                "世纪花城", "水岸名居", "铁路新村", "供销社宿舍")
STREET_NAMES = ("建设路", "人民路", "解放街", "中山路", "文化路", "胜利街", "光明路", "团结路",
                "新华街", "滨河路", "长江路", "府前街", "兴业路", "迎宾大道", "车站路")
MARKET_NAMES = ("农贸市场", "菜市场", "综合市场", "小商品市场")

DIGITS = "零一二三四五六七八九"


def chinese_number(n: int) -> str:
    """1-99 in Chinese numerals (12 → 十二, 20 → 二十, 21 → 二十一)."""
    tens, ones = divmod(n, 10)
    if n < 10:
        return DIGITS[n]
    head = "" if tens == 1 else DIGITS[tens]
    return f"{head}十{DIGITS[ones] if ones else ''}"


# --- places -----------------------------------------------------------------------

@dataclass(frozen=True)
class Place:
    """One place in a grid; ``key`` identifies it (the benchmark's truth, never sent)."""

    grid: str
    key: str
    kind: str  # building | street | market
    estate: str = ""
    number: int = 0
    name: str = ""

    def spell(self, rng: random.Random, community: str) -> str:
        """How a resident writes this place: one of the usual spellings."""
        n = self.number
        num = str(n) if n > 30 or rng.random() < 0.6 else chinese_number(n)
        suffix = rng.choices(("", "门口", "旁边", "楼下", "附近"), (6, 2, 1, 1, 1))[0]
        if self.kind == "building":
            estate = self.estate + ("小区" if rng.random() < 0.25
                                    and not self.estate.endswith(("小区", "院")) else "")
            unit = rng.choices(("号楼", "栋", "幢"), (6, 3, 1))[0]
            text = f"{estate}{num}{unit}"
            if suffix == "楼下":
                text += "楼下"
            elif suffix:
                text += suffix
        elif self.kind == "street":
            text = f"{self.name}{num}号" + (suffix if suffix != "楼下" else "")
        else:
            text = self.name + (suffix if suffix not in ("楼下",) else "")
        if rng.random() < 0.2:
            text = f"{community}社区" + text
        if rng.random() < 0.1:
            text = text.replace("号", "号 ", 1)
        return text


@dataclass(frozen=True)
class Community:
    grid: str
    name: str  # 阳光社区
    short: str  # 阳光
    buildings: tuple[Place, ...]
    streets: tuple[Place, ...]
    markets: tuple[Place, ...]

    def places(self) -> tuple[Place, ...]:
        return self.buildings + self.streets + self.markets


def build_communities(seed: int) -> dict[str, Community]:
    """Each grid's estates (2-3, 8-30 buildings each), 6-12 street addresses and a market."""
    rng = stream(seed, "places")
    estates = list(ESTATE_NAMES)
    streets = list(STREET_NAMES)
    rng.shuffle(estates)
    rng.shuffle(streets)
    result = {}
    for i, grid in enumerate(GRIDS):
        short = COMMUNITY_NAMES[i]
        buildings = []
        for _ in range(rng.choice((2, 3, 3))):
            if not estates:
                estates = [f"{name}二期" for name in ESTATE_NAMES]
                rng.shuffle(estates)
            estate = estates.pop()
            for b in range(1, rng.randint(8, 30) + 1):
                buildings.append(Place(grid, f"{grid}/{estate}/{b}", "building", estate, b))
        street = streets[i % len(streets)]
        numbers = sorted(rng.sample(range(1, 200), rng.randint(15, 30)))
        street_places = tuple(Place(grid, f"{grid}/{street}/{n}", "street", number=n,
                                    name=street) for n in numbers)
        market = f"{short}{rng.choice(MARKET_NAMES)}"
        result[grid] = Community(grid, f"{short}社区", short, tuple(buildings), street_places,
                                 (Place(grid, f"{grid}/{market}", "market", name=market),))
    return result


#: Where reports of each category happen (building, street, market weights).
PLACE_KIND_WEIGHTS = {
    "dispute.neighbor": (9, 1, 0), "dispute.property": (10, 0, 0), "dispute.family": (9, 1, 0),
    "dispute.labor": (2, 6, 2), "dispute.land": (6, 4, 0),
    "incident.facility": (5, 4, 1), "incident.water": (6, 3, 1),
    "incident.sanitation": (3, 4, 3), "incident.safety": (4, 4, 2),
    "incident.order": (2, 4, 4), "incident.care": (9, 1, 0),
    "request.consult": (6, 3, 1), "request.suggest": (4, 4, 2), "request.complaint": (3, 4, 3),
}











EXPONENT = 1.0  # 1 = every place of the pool alike; more = a few busy places


def pick_place(rng: random.Random, community: Community, category: str) -> Place:
    kind = rng.choices(("building", "street", "market"), PLACE_KIND_WEIGHTS[category])[0]
    pool = {"building": community.buildings, "street": community.streets,
            "market": community.markets}[kind]
    # some places draw more reports than others (a leaky old block, a busy corner)
    return pool[min(len(pool) - 1, int(len(pool) * rng.random() ** EXPONENT))]


# --- texts --------------------------------------------------------------------------

ORDINARY = {
    "dispute.neighbor": ("楼上邻居每天晚上十一点以后还在跺脚、拖椅子，沟通过几次没用。",
                         "隔壁在楼道里堆放杂物，挡住了消防通道，说了也不听。",
                         "楼上空调外机滴水，滴到我家阳台上，协商不成。",
                         "邻居家的狗半夜一直叫，老人休息不好，希望调解一下。",
                         "和对门因为楼道里放鞋柜吵了几次，想请社区来调解。"),
    "dispute.property": ("物业擅自涨停车费，业主们有意见，想找人协调。",
                         "物业不修电梯还催缴物业费，双方僵持不下。",
                         "小区车位被物业卖给外来人员，业主和物业有矛盾。"),
    "dispute.family": ("父母年纪大了，兄弟几个因为赡养问题一直谈不拢。",
                       "夫妻因为孩子上学的事经常争吵，希望有人调解。",
                       "老人的房子怎么分，子女之间意见不一致。"),
    "dispute.labor": ("在工地干了三个月，工头一直拖欠工资不给。",
                      "饭店老板拖欠两个月工资，说好月底结也没结。"),
    "dispute.land": ("邻居盖房子占了我家的宅基地边界，想请人来量一下。",
                     "承包地的边界有争议，两家都说是自己的。"),
    "incident.facility": ("路灯坏了好几天，晚上一片漆黑。", "小区门口的井盖松动了，车一压就响。",
                          "健身器材坏了，螺丝都掉了，怕孩子受伤。", "楼道灯不亮了，老人上下楼不方便。"),
    "incident.water": ("楼里停水了，一直没有来水。", "下水道堵了，污水漫到路面上。",
                       "水管爆了，水一直往外冒。", "自来水发黄，有异味。"),
    "incident.sanitation": ("垃圾桶满了好几天没人清运，味道很大。", "路边有人乱倒建筑垃圾。",
                            "公厕很脏，没人打扫。", "绿化带里有很多垃圾。"),
    "incident.safety": ("电动车在楼道里充电，存在火灾隐患。", "广告牌松动了，刮风时摇晃得厉害。",
                        "路边的围挡倒了，行人不好走。", "有人私拉电线，很危险。"),
    "incident.order": ("晚上有人在这里聚集喝酒吵闹。", "门口乱停车，把路都堵死了。",
                       "有流动摊贩占道经营，影响通行。"),
    "incident.care": ("楼里独居老人好几天没见出门了，请社区去看看。",
                      "有位残疾老人需要帮忙买菜，家人不在身边。"),
    "request.consult": ("想咨询一下医保怎么转移。", "请问居住证在哪里办理，需要什么材料？",
                        "想问一下老年人乘车卡怎么申请。"),
    "request.suggest": ("建议在这里增设几个休息座椅。", "建议小区里多装几个充电桩。"),
    "request.complaint": ("投诉附近的饭店油烟太大。", "投诉这家店铺噪音扰民。"),
}
#: Violent words that are NOT threats: negated, hypothetical or worried, joking, or
#: about something else entirely. Background disputes carry them; they must not warn.
HARMLESS_VIOLENT = (
    "我没想打他，就是想让他把音响关小点。",
    "我不会动手的，只想讲个道理。",
    "万一他动手怎么办？希望网格员来调解一下。",
    "怕他喝了酒又来闹，家里有老人孩子。",
    "他嘴上说要弄死我，大家都知道他是开玩笑的。",
    "我们两家不至于打起来，就是想有人出面说句公道话。",
    "他说要跟我拼了，后来自己也笑了，说开玩笑的。",
    "担心哪天吵着吵着打起来，所以先来反映。",
    "我绝对不会拿刀吓唬人，但他天天堵门实在受不了。",
    "上次看了个新闻说邻居吵架同归于尽，我们可不想那样。",
)
#: Real threats, written by the resident later (a note) or by a neighbour (a co-report).
THREATS_NOTE = (
    "再不管我就跟他拼了！",
    "他要是再来闹，我就弄死他。",
    "我已经忍无可忍了，大不了同归于尽。",
    "今晚我就拿刀去他家门口等着。",
    "逼急了我就放火烧他家。",
    "我要弄死他，说到做到。",
    "我刀都准备好了，他再敢来试试。",
)
THREATS_CO = (
    "我是他们楼下的邻居，刚才听见他在楼道里喊要弄死对方，手里还拿着刀。",
    "隔壁两家又吵起来了，有一家说要烧了对方的房子，很吓人。",
    "邻居说今晚要跟对门拼了，已经拿着菜刀在门口了，快来人。",
    "他们两家打起来了，有人喊着要同归于尽。",
)
#: What the later note says in an ordinary (not escalating) dispute.
ORDINARY_NOTES = ("还没有人来处理，麻烦尽快。", "今天又吵了一次，希望早点调解。",
                  "补充一下：对方家里是三楼东户。", "已经联系过物业，物业说不归他们管。")
CO_REPORT_TEXTS = ("我也是这栋楼的，这个问题确实存在，希望尽快处理。",
                   "我也看到了，情况跟他说的一样。", "同一个问题，我们这边也是这样。")
BURST_TEXTS = {
    "incident.water": ("停水了，家里一滴水都没有。", "水管爆了，楼道里全是水。",
                       "下水道反水，一楼都被淹了。"),
    "incident.facility": ("整条路的路灯都不亮了。", "电梯困人了，里面有老人。",
                          "小区的门禁坏了，进不去。"),
    "incident.sanitation": ("垃圾好几天没人收，堆成山了。", "化粪池满了，污水外溢，臭得很。"),
    "incident.safety": ("这里闻到很浓的煤气味。", "围墙出现裂缝，有倒塌的危险。"),
    "incident.order": ("好多人在这里聚集吵闹。", "有人在这里打架，围了很多人。"),
    "dispute.property": ("物业把水停了，说不交物业费就不给来水。", "物业突然锁了地下车库，车开不出来。"),
}
SURGE_CATEGORIES = {"incident.water": 5, "incident.facility": 4, "incident.sanitation": 3,
                    "incident.safety": 2, "incident.order": 2, "dispute.property": 2}
UNSATISFIED_REASONS = ("问题又出现了", "处理太慢了", "没有人联系我", "还是没解决")


# --- reports --------------------------------------------------------------------------

@dataclass
class Report:
    """One report (a new order, or a co-report/note added to one).

    ``attach_to``: the key of the report whose order this one is added to
    (co-report or note); None for a new order. ``threat``: this report carries a
    real threat (an escalation's trigger). Handling times (``accept_delay``,
    ``work``, ``answer_*``) are drawn here so that they depend on the seed only.
    """

    key: str
    at: float
    grid: str
    category: str
    place: Place
    location_text: str
    description: str
    reporter: str
    urgent: bool = False
    attach_to: str | None = None
    threat: bool = False
    plant: str = ""  # "", "repeat", "decoy", "escalation", "surge"
    accept_delay: float = 10.0
    work: float = 120.0
    answer_delay: float = 600.0
    answer: str | None = "satisfied"
    reason: str | None = None
    second_answer: str | None = "satisfied"
    co_report_delay: float | None = None  # an ordinary neighbour's co-report after this long


@dataclass(frozen=True)
class RepeatPlan:
    """``after_days`` days after report ``base``'s order is resolved, ``report`` comes
    (its ``at`` is filled in by the driver). ``decoy``: built not to be a repeat."""

    base: str
    after_days: float
    report: Report
    decoy: str = ""  # "", "late", "other_category"


@dataclass(frozen=True)
class Escalation:
    """Report ``order`` is followed ``after`` minutes later by ``threat`` (its ``attach_to``)."""

    order: str
    threat: Report


@dataclass(frozen=True)
class Burst:
    key: str
    grid: str
    category: str
    start: float
    end: float
    reports: tuple[Report, ...]


@dataclass
class WarningsWorld:
    seed: int
    days: int
    communities: dict[str, Community]
    reports: list[Report]  # background, escalating disputes and bursts, by time
    repeats: list[RepeatPlan] = field(default_factory=list)
    escalations: list[Escalation] = field(default_factory=list)
    bursts: list[Burst] = field(default_factory=list)


def _handling(rng: random.Random, r: Report) -> None:
    """Accept delay, hands-on work, follow-up answer (sim_world's distributions)."""
    delay = ANSWER_MEDIAN_MINUTES * math.exp(ANSWER_SIGMA * rng.gauss(0.0, 1.0))
    hour = hour_of_day(r.at)
    if hour >= 22 or hour < 7:
        delay *= NIGHT_SLOWDOWN
    r.accept_delay = delay * (0.25 if r.urgent else 1.0)
    median = URGENT_WORK_MEDIAN_MINUTES if r.urgent else WORK_MEDIAN_MINUTES[r.category]
    r.work = median * rng.lognormvariate(0.0, WORK_SIGMA)
    r.answer_delay = rng.uniform(60, 48 * 60)
    r.answer = rng.choices(("satisfied", "basically_satisfied", "unsatisfied", None),
                           (60, 20, 8, 12))[0]
    r.reason = rng.choice(UNSATISFIED_REASONS) if r.answer == "unsatisfied" else None
    r.second_answer = rng.choices(("satisfied", "basically_satisfied", None), (60, 25, 15))[0]
    if rng.random() < 0.02:
        r.co_report_delay = rng.uniform(20, 8 * 60)


def _description(rng: random.Random, category: str) -> str:
    text = rng.choice(ORDINARY[category])
    if category.startswith("dispute.") and rng.random() < 0.2:
        text += rng.choice(HARMLESS_VIOLENT)
    return text


def _new_report(rng: random.Random, key: str, at: float, grid: str, category: str,
                community: Community, *, place: Place | None = None, urgent: bool = False,
                description: str | None = None, plant: str = "") -> Report:
    place = place or pick_place(rng, community, category)
    r = Report(key=key, at=at, grid=grid, category=category, place=place,
               location_text=place.spell(rng, community.short),
               description=description or _description(rng, category),
               reporter=f"web:{key}", urgent=urgent, plant=plant)
    _handling(rng, r)
    return r


def background(seed: int, days: int, communities: dict[str, Community]) -> list[Report]:
    """``sim_world``'s arrivals (disputes and incidents, and requests) with places and texts."""
    weights = grid_weights(seed)
    reports = []
    for request, per_day, key, mix in ((False, ORDERS_PER_DAY, "arrivals", CATEGORY_MIX),
                                       (True, REQUESTS_PER_DAY, "requests", REQUEST_MIX)):
        for n, t in enumerate(arrival_times(seed, days, per_day, key)):
            name = f"bg-{'r' if request else 'o'}{n}"
            rng = stream(seed, "warnings-order", name)
            category = rng.choices(tuple(mix), weights=tuple(mix.values()))[0]
            grid = rng.choices(GRIDS, weights=weights)[0]
            urgent = (not request) and rng.random() < URGENT_SHARE
            reports.append(_new_report(rng, name, t, grid, category, communities[grid],
                                       urgent=urgent))
    return reports


# --- planted events ----------------------------------------------------------------------

REPEAT_SHARE = 0.02          # ordinary orders that are reported again after being resolved
#: (probability, min days, max days after resolution, decoy)
REPEAT_TIMING = ((0.45, 0.5, 13.5, ""), (0.35, 15.0, 28.0, ""), (0.1, 32.0, 45.0, "late"),
                 (0.1, 1.0, 20.0, "other_category"))
ESCALATIONS_PER_WEEK = 3.0
BURSTS_PER_WEEK = 3.0
REPEAT_TEXT = ("这个问题上次反映过，说是处理好了，现在又出现了。", "又是老问题，之前修过，没几天又坏了。",
               "上次调解完没过多久，又闹起来了。", "还是上回那个事，到现在也没彻底解决。")


def plant_repeats(seed: int, reports: list[Report], communities: dict[str, Community]
                  ) -> list[RepeatPlan]:
    rng = stream(seed, "plant", "repeats")
    plans: list[RepeatPlan] = []
    for base in reports:
        if base.plant or rng.random() >= REPEAT_SHARE:
            continue
        _, lo, hi, decoy = rng.choices(REPEAT_TIMING, [t[0] for t in REPEAT_TIMING])[0]
        after = rng.uniform(lo, hi)
        if base.category.startswith("dispute.") and decoy == "late":
            after += 60.0  # past a dispute's 90-day window
        category = base.category
        if decoy == "other_category":
            same_kind = [c for c in (CATEGORY_MIX if not base.category.startswith("request")
                                     else REQUEST_MIX) if c != base.category]
            category = rng.choice(same_kind)
        key = f"rep-{len(plans)}"
        r = _new_report(rng, key, 0.0, base.grid, category, communities[base.grid],
                        place=base.place, plant="decoy" if decoy else "repeat")
        r.description = rng.choice(REPEAT_TEXT) + rng.choice(ORDINARY[category])
        if rng.random() < 0.5:
            r.reporter = base.reporter
        plans.append(RepeatPlan(base.key, after, r, decoy))
    return plans


def _poisson_times(rng: random.Random, days: int, per_week: float, margin: float
                   ) -> list[float]:
    times: list[float] = []
    t = margin
    while True:
        t += rng.expovariate(per_week / (7 * MINUTES_PER_DAY))
        if t >= days * MINUTES_PER_DAY - margin:
            return times
        times.append(t)


def plant_escalations(seed: int, days: int, communities: dict[str, Community]
                      ) -> tuple[list[Report], list[Escalation]]:
    rng = stream(seed, "plant", "escalations")
    weights = grid_weights(seed)
    disputes = {c: w for c, w in CATEGORY_MIX.items() if c.startswith("dispute.")}
    orders, plans = [], []
    for i, t in enumerate(_poisson_times(rng, days, ESCALATIONS_PER_WEEK, 60.0)):
        grid = rng.choices(GRIDS, weights=weights)[0]
        category = rng.choices(tuple(disputes), tuple(disputes.values()))[0]
        first = _new_report(rng, f"esc-{i}", t, grid, category, communities[grid],
                            plant="escalation")
        first.co_report_delay = None
        after = rng.uniform(30, 36 * 60)
        co = rng.random() < 0.4
        threat = Report(
            key=f"esc-{i}-threat", at=t + after, grid=grid, category=category,
            place=first.place, location_text=first.location_text,
            description=rng.choice(THREATS_CO if co else THREATS_NOTE),
            reporter=f"web:esc-{i}-neighbour" if co else first.reporter,
            attach_to=first.key, threat=True, plant="escalation")
        _handling(rng, threat)
        threat.co_report_delay = None
        orders.append(first)
        plans.append(Escalation(first.key, threat))
    return orders, plans


def plant_bursts(seed: int, days: int, communities: dict[str, Community]
                 ) -> tuple[list[Report], list[Burst]]:
    rng = stream(seed, "plant", "bursts")
    weights = grid_weights(seed)
    reports, bursts = [], []
    for i, t in enumerate(_poisson_times(rng, days, BURSTS_PER_WEEK, 120.0)):
        grid = rng.choices(GRIDS, weights=weights)[0]
        category = rng.choices(tuple(SURGE_CATEGORIES), tuple(SURGE_CATEGORIES.values()))[0]
        size = rng.choice((3, 4, 5, 6, 8, 10, 12, 15))
        span = rng.uniform(30, 180)
        community = communities[grid]
        place = pick_place(rng, community, category)
        times = sorted([t] + [t + rng.uniform(0, span) for _ in range(size - 1)])
        members: list[Report] = []
        for j, at in enumerate(times):
            near = place if rng.random() < 0.7 else pick_place(rng, community, category)
            r = _new_report(rng, f"burst-{i}-{j}", at, grid, category, community, place=near,
                            description=rng.choice(BURST_TEXTS[category]), plant="surge")
            r.co_report_delay = None
            if j and rng.random() < 0.35:
                r.attach_to = members[0].key
            members.append(r)
        reports += members
        bursts.append(Burst(f"burst-{i}", grid, category, times[0], times[-1], tuple(members)))
    return reports, bursts


def build(seed: int, days: int) -> WarningsWorld:
    communities = build_communities(seed)
    reports = background(seed, days, communities)
    repeats = plant_repeats(seed, reports, communities)
    esc_orders, escalations = plant_escalations(seed, days, communities)
    burst_reports, bursts = plant_bursts(seed, days, communities)
    threats = [e.threat for e in escalations]
    reports = sorted(reports + esc_orders + threats + burst_reports, key=lambda r: r.at)
    return WarningsWorld(seed, days, communities, reports, repeats, escalations, bursts)


def township_of(grid: str) -> str:
    return TOWNSHIP_OF[grid]


__all__ = ["COUNTY_NAME", "TOWNSHIPS", "TOWNSHIP_NAMES", "Burst", "Community", "Escalation",
           "Place", "RepeatPlan", "Report", "WarningsWorld", "build", "chinese_number"]
