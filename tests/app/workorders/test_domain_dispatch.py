"""Dispatch by workload: eligibility, tie-breaks, tier fallback, the urgent rule, properties."""

import functools
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.workorders.domain import (
    NO_URGENT_RULE,
    URGENT_RULE,
    DispatchDecision,
    HandlerState,
    OrderToDispatch,
    Priority,
    Taxonomy,
    UnknownCategory,
    UnknownKind,
    UnknownPriority,
    UnknownTier,
    UrgentRule,
    choose,
    choose_overflow,
    has_room,
    is_candidate,
    is_eligible,
    may_overflow,
    order_weight,
    plan,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
TIERS = ("grid", "township", "county")
AREAS = {"grid": "G-01", "township": "T-01", "county": "C-01"}

TAXONOMY = Taxonomy.from_dict({
    "kinds": {
        "dispute": {"name": "矛盾纠纷", "handler": "mediator"},
        "incident": {"name": "事件隐患", "handler": "grid_worker"},
    },
    "categories": {
        "dispute.neighbor": {"name": "邻里纠纷", "resolve_hours": 168},
        "dispute.labor": {"name": "劳资纠纷", "resolve_hours": 120},
        "incident.water": {"name": "供排水问题", "resolve_hours": 48},
    },
    "urgent": {"accept_minutes": 15, "resolve_hours": 4},
    "normal": {"accept_minutes": 120},
    "tiers": list(TIERS),
})


def handler(id, **kw):
    base = dict(
        id=id, role="mediator", skills=frozenset({"dispute.neighbor"}),
        areas=frozenset({"G-01"}), tier="grid", capacity=10, on_duty=True,
        load=0, assigned_last_24h=0, last_assigned_at=None,
    )
    base.update(kw)
    return HandlerState(**base)


def order(**kw):
    base = dict(
        kind="dispute", category="dispute.neighbor", priority=Priority.NORMAL,
        area_by_tier=AREAS, tier="grid", declined_by=frozenset(),
    )
    base.update(kw)
    return OrderToDispatch(**base)


def at_tier(id, tier, **kw):
    return handler(id, tier=tier, areas=frozenset({AREAS[tier]}), **kw)


# --- weights -----------------------------------------------------------------

def test_weights():
    assert order_weight("normal") == 1
    assert order_weight(Priority.URGENT) == 3
    assert order(priority="urgent").weight == 3
    assert order().weight == 1
    with pytest.raises(UnknownPriority):
        order_weight("high")
    with pytest.raises(UnknownPriority):
        order(priority="asap")


def test_order_priority_is_coerced_and_area_map_frozen():
    o = order(priority="urgent", area_by_tier=dict(AREAS))
    assert o.priority is Priority.URGENT
    with pytest.raises(TypeError):
        o.area_by_tier["grid"] = "G-99"


def test_handler_state_validation():
    with pytest.raises(ValueError):
        handler(1, last_assigned_at=datetime(2025, 1, 1))  # naive
    with pytest.raises(ValueError):
        handler(1, load=-1)
    assert isinstance(handler(1, skills={"a"}).skills, frozenset)


# --- eligibility: one test per rule -------------------------------------------

def test_baseline_is_eligible():
    assert is_eligible(handler(1), order(), "grid", "mediator")


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (dict(role="grid_worker"), "wrong role"),
        (dict(skills=frozenset({"dispute.labor"})), "category not in skills"),
        (dict(tier="township"), "handler at another tier"),
        (dict(areas=frozenset({"G-02"})), "does not cover the order's area"),
        (dict(areas=frozenset({"T-01"})), "covers the area of another tier only"),
        (dict(on_duty=False), "on leave"),
        (dict(load=10), "full"),
        (dict(load=9, capacity=9), "no room for weight 1"),
        (dict(capacity=0), "zero capacity"),
    ],
)
def test_each_rule_makes_ineligible(change, why):
    assert not is_eligible(handler(1, **change), order(), "grid", "mediator"), why


def test_role_is_the_one_passed_in():
    assert not is_eligible(handler(1), order(), "grid", "grid_worker")


def test_declined_handler_is_not_eligible():
    assert not is_eligible(handler(7), order(declined_by=frozenset({7})), "grid", "mediator")
    assert is_eligible(handler(8), order(declined_by=frozenset({7})), "grid", "mediator")


def test_area_must_be_known_at_the_tier():
    o = order(area_by_tier={"grid": "G-01"})
    assert not is_eligible(at_tier(1, "township"), o, "township", "mediator")


def test_capacity_is_inclusive_and_counts_the_weight():
    assert is_eligible(handler(1, load=9), order(), "grid", "mediator")
    assert is_eligible(handler(1, load=7), order(priority="urgent"), "grid", "mediator")
    assert not is_eligible(handler(1, load=8), order(priority="urgent"), "grid", "mediator")


# --- choose: one test per tie-break level -------------------------------------

def test_lowest_load_ratio_wins_over_every_later_key():
    busy = handler(1, load=5, capacity=10, last_assigned_at=T0 - timedelta(days=9))
    free = handler(2, load=2, capacity=5, assigned_last_24h=9, last_assigned_at=T0)
    assert choose(order(), [busy, free], "mediator", "grid") is free  # 2/5 < 5/10


def test_ratio_is_compared_exactly():
    n = 10**17  # (n-1)/n < n/(n+1), but both are 1.0 as floats
    lower = handler(1, load=n - 1, capacity=n, assigned_last_24h=5)
    higher = handler(2, load=n, capacity=n + 1, assigned_last_24h=0)
    assert float(Fraction(n - 1, n)) == float(Fraction(n, n + 1))
    o = order(priority="normal")
    assert choose(o, [higher, lower], "mediator", "grid") is lower


def test_equal_ratio_then_fewer_assignments_in_24h():
    a = handler(1, load=2, capacity=4, assigned_last_24h=3)
    b = handler(2, load=3, capacity=6, assigned_last_24h=1, last_assigned_at=T0)
    assert choose(order(), [a, b], "mediator", "grid") is b


def test_then_longest_since_last_assignment():
    recent = handler(1, last_assigned_at=T0)
    older = handler(2, last_assigned_at=T0 - timedelta(hours=5))
    assert choose(order(), [recent, older], "mediator", "grid") is older


def test_never_assigned_counts_as_longest():
    long_ago = handler(1, last_assigned_at=T0 - timedelta(days=365))
    never = handler(2, last_assigned_at=None)
    assert choose(order(), [long_ago, never], "mediator", "grid") is never


def test_same_instant_in_other_timezone_is_a_tie():
    cst = timezone(timedelta(hours=8))
    a = handler(2, last_assigned_at=T0)
    b = handler(1, last_assigned_at=T0.astimezone(cst))
    assert choose(order(), [a, b], "mediator", "grid") is b  # tie -> id


def test_then_lowest_id():
    assert choose(order(), [handler(9), handler(3), handler(5)], "mediator", "grid").id == 3
    both_never = [handler(4), handler(2)]
    assert choose(order(), both_never, "mediator", "grid").id == 2


def test_choose_none_when_nobody_eligible():
    assert choose(order(), [handler(1, on_duty=False)], "mediator", "grid") is None
    assert choose(order(), [], "mediator", "grid") is None


# --- plan: tiers ----------------------------------------------------------------

def test_plan_at_the_orders_tier():
    hs = [at_tier(1, "grid"), at_tier(2, "township")]
    assert plan(order(), hs, TAXONOMY) == DispatchDecision(handler_id=1, tier="grid")


def test_plan_falls_back_one_tier_then_two():
    full_grid = at_tier(1, "grid", load=10)
    town = at_tier(2, "township")
    county = at_tier(3, "county")
    assert plan(order(), [full_grid, town, county], TAXONOMY) == DispatchDecision(2, "township")
    assert plan(order(), [full_grid, county], TAXONOMY) == DispatchDecision(3, "county")


def test_plan_falls_back_when_everyone_at_grid_declined():
    o = order(declined_by=frozenset({1}))
    assert plan(o, [at_tier(1, "grid"), at_tier(2, "township")], TAXONOMY).handler_id == 2


def test_plan_pending_when_nobody_at_county():
    hs = [at_tier(1, "grid", on_duty=False), at_tier(2, "township", load=10)]
    decision = plan(order(), hs, TAXONOMY)
    assert decision == DispatchDecision(handler_id=None, tier="county")
    assert decision.queued


def test_plan_starts_at_the_orders_current_tier():
    hs = [at_tier(1, "grid"), at_tier(2, "county")]
    assert plan(order(tier="township"), hs, TAXONOMY) == DispatchDecision(2, "county")


def test_plan_uses_the_kinds_handler_role():
    worker = at_tier(1, "grid", role="grid_worker", skills=frozenset({"incident.water"}))
    mediator = at_tier(2, "grid", skills=frozenset({"incident.water"}))
    o = order(kind="incident", category="incident.water")
    assert plan(o, [mediator, worker], TAXONOMY).handler_id == 1


def test_plan_accepts_a_generator():
    assert plan(order(), (h for h in [at_tier(5, "county")]), TAXONOMY).handler_id == 5


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (dict(kind="complaint"), UnknownKind),
        (dict(category="dispute.unknown"), UnknownCategory),
        (dict(tier="province"), UnknownTier),
    ],
)
def test_plan_rejects_unknown_order_data(change, error):
    with pytest.raises(error):
        plan(order(**change), [handler(1)], TAXONOMY)


# --- properties ---------------------------------------------------------------

CATEGORIES = ("dispute.neighbor", "dispute.labor")
MOMENTS = st.one_of(
    st.none(),
    st.sampled_from([T0 - timedelta(hours=h) for h in (0, 1, 5, 30)]),
)


@st.composite
def handler_lists(draw):
    """Mostly eligible handlers, some with one defect; small ranges so ties are common."""
    ids = draw(st.lists(st.integers(1, 1000), min_size=1, max_size=12, unique=True))
    result = []
    for id_ in ids:
        tier = draw(st.sampled_from(TIERS))
        capacity = draw(st.sampled_from([1, 2, 3, 4, 6]))
        defect = draw(st.sampled_from(
            [None] * 6 + ["role", "skill", "area", "duty", "load", "zero"]
        ))
        result.append(HandlerState(
            id=id_,
            role="grid_worker" if defect == "role" else "mediator",
            skills=frozenset({"dispute.labor"}) if defect == "skill" else draw(
                st.sampled_from([frozenset({"dispute.neighbor"}), frozenset(CATEGORIES)])
            ),
            areas=frozenset({"G-02"}) if defect == "area" else frozenset({AREAS[tier]}),
            tier=tier,
            capacity=0 if defect == "zero" else capacity,
            on_duty=defect != "duty",
            load=draw(st.integers(capacity, capacity + 3) if defect == "load"
                      else st.integers(0, capacity)),
            assigned_last_24h=draw(st.integers(0, 2)),
            last_assigned_at=draw(MOMENTS),
        ))
    return result


@st.composite
def orders(draw, handlers):
    ids = [h.id for h in handlers]
    return OrderToDispatch(
        kind="dispute",
        category="dispute.neighbor",
        priority=draw(st.sampled_from([Priority.NORMAL] * 3 + [Priority.URGENT])),
        area_by_tier=AREAS,
        tier=draw(st.sampled_from(TIERS)),
        declined_by=draw(st.frozensets(st.sampled_from(ids), max_size=2)),
    )


@st.composite
def scenarios(draw):
    handlers = draw(handler_lists())
    return handlers, draw(orders(handlers)), draw(st.sampled_from(TIERS))


def reference_compare(a, b):
    """The DESIGN ranking spelled out with cross-multiplication."""
    left, right = a.load * b.capacity, b.load * a.capacity
    if left != right:
        return -1 if left < right else 1
    if a.assigned_last_24h != b.assigned_last_24h:
        return a.assigned_last_24h - b.assigned_last_24h
    if a.last_assigned_at != b.last_assigned_at:
        if a.last_assigned_at is None:
            return -1
        if b.last_assigned_at is None:
            return 1
        return -1 if a.last_assigned_at < b.last_assigned_at else 1
    return a.id - b.id


@settings(max_examples=200)
@given(scenarios())
def test_choice_is_eligible_within_capacity_and_least_loaded(scenario):
    handlers, o, tier = scenario
    eligible = [h for h in handlers if is_eligible(h, o, tier, "mediator")]
    chosen = choose(o, handlers, "mediator", tier)
    if not eligible:
        assert chosen is None
        return
    assert chosen in eligible
    assert chosen.load + o.weight <= chosen.capacity
    ratio = Fraction(chosen.load, chosen.capacity)
    assert all(ratio <= Fraction(h.load, h.capacity) for h in eligible)
    assert chosen == sorted(eligible, key=functools.cmp_to_key(reference_compare))[0]


@settings(max_examples=200)
@given(scenarios(), st.randoms(use_true_random=False))
def test_choice_does_not_depend_on_input_order(scenario, rnd):
    handlers, o, tier = scenario
    shuffled = list(handlers)
    rnd.shuffle(shuffled)
    assert choose(o, shuffled, "mediator", tier) == choose(o, handlers, "mediator", tier)
    assert plan(o, shuffled, TAXONOMY) == plan(o, handlers, TAXONOMY)


@settings(max_examples=200)
@given(scenarios())
def test_plan_takes_the_lowest_tier_with_someone_eligible(scenario):
    handlers, o, _ = scenario
    decision = plan(o, handlers, TAXONOMY)
    tried = TIERS[TIERS.index(o.tier):]
    eligible_at = {t: [h for h in handlers if is_eligible(h, o, t, "mediator")] for t in tried}
    if decision.handler_id is None:
        assert decision.tier == "county"
        assert not any(eligible_at.values())
        return
    assert decision.tier in tried
    if decision.over_capacity:  # nobody had room anywhere: the urgent overflow
        assert o.priority is Priority.URGENT and not any(eligible_at.values())
        return
    skipped = tried[: tried.index(decision.tier)]
    assert not any(eligible_at[t] for t in skipped)
    assert decision.handler_id in {h.id for h in eligible_at[decision.tier]}


@settings(max_examples=200)
@given(handler_lists(), st.lists(st.sampled_from(list(Priority)), max_size=40))
def test_repeated_dispatch_never_exceeds_capacity_without_the_urgent_rule(handlers, priorities):
    state = {h.id: h for h in handlers}
    for priority in priorities:
        o = order(priority=priority, category="dispute.neighbor")
        decision = plan(o, state.values(), TAXONOMY, NO_URGENT_RULE)
        if decision.handler_id is None:
            continue
        assert not decision.over_capacity
        h = state[decision.handler_id]
        state[h.id] = replace(h, load=h.load + o.weight, assigned_last_24h=h.assigned_last_24h + 1)
        assert state[h.id].load <= h.capacity


@settings(max_examples=200)
@given(st.lists(
    st.builds(
        lambda id_, cap, load, n24, last: handler(
            id_, capacity=cap, load=min(load, cap - 1), assigned_last_24h=n24,
            last_assigned_at=last,
        ),
        st.integers(1, 50), st.sampled_from([1, 2, 3, 4, 6]), st.integers(0, 5),
        st.integers(0, 2), MOMENTS,
    ),
    min_size=2, max_size=10, unique_by=lambda h: h.id,
))
def test_ranking_among_eligible_handlers_matches_design(handlers):
    # every handler eligible: only the ranking decides, ties are frequent
    chosen = choose(order(), handlers, "mediator", "grid")
    assert chosen == sorted(handlers, key=functools.cmp_to_key(reference_compare))[0]


# --- the urgent rule: a reserve at the county, and overflow by one urgent order -----------

def urgent(**kw):
    return order(priority=Priority.URGENT, **kw)


def full(id, tier="grid", capacity=6, **kw):
    """A handler at ``tier`` with no free unit (``load`` given: that load)."""
    kw.setdefault("areas", frozenset({AREAS[tier]}))
    return handler(id, tier=tier, capacity=capacity, load=kw.pop("load", capacity), **kw)


def test_the_products_rule_is_a_county_reserve_of_one_urgent_order_and_overflow():
    assert URGENT_RULE == UrgentRule(reserve={"county": 3}, overflow=True)
    assert URGENT_RULE.reserved_at("county") == order_weight("urgent") == 3
    assert URGENT_RULE.reserved_at("grid") == URGENT_RULE.reserved_at("township") == 0
    assert NO_URGENT_RULE == UrgentRule() and not NO_URGENT_RULE.overflow
    assert hash(URGENT_RULE) == hash(UrgentRule(reserve={"county": 3, "grid": 0}, overflow=True))
    # the defaults of plan, choose, is_eligible and has_room are the product's rule
    county = at_tier(1, "county", capacity=5, load=2)
    assert not has_room(county, order()) and has_room(county, order(), NO_URGENT_RULE)
    assert not is_eligible(county, order(), "county", "mediator")
    assert choose(order(), [county], "mediator", "county") is None
    assert plan(order(), [county], TAXONOMY).queued


@pytest.mark.parametrize("reserve", [{"grid": -1}, {"grid": True}, {"grid": 1.5}])
def test_urgent_rule_rejects_a_bad_reserve(reserve):
    with pytest.raises(ValueError):
        UrgentRule(reserve=reserve)


def test_urgent_rule_is_immutable():
    rule = UrgentRule(reserve={"county": 3})
    with pytest.raises(TypeError):
        rule.reserve["grid"] = 1


def test_plan_rejects_a_rule_for_a_tier_the_taxonomy_lacks():
    with pytest.raises(UnknownTier):
        plan(order(), [handler(1)], TAXONOMY, UrgentRule(reserve={"province": 3}))


# reserve

def test_normal_orders_keep_off_a_county_handlers_last_three_units():
    rule = URGENT_RULE
    assert has_room(at_tier(1, "county", capacity=5, load=1), order(), rule)      # 2 <= 5 - 3
    assert not has_room(at_tier(1, "county", capacity=5, load=2), order(), rule)  # 3 > 5 - 3
    assert not has_room(at_tier(1, "county", capacity=3, load=0), order(), rule)  # nothing left
    # lower tiers have no reserve
    assert has_room(at_tier(1, "township", capacity=5, load=4), order(), rule)


def test_urgent_orders_may_use_the_reserve():
    county = at_tier(1, "county", capacity=5, load=2)
    assert has_room(county, urgent())
    assert plan(urgent(), [county], TAXONOMY) == DispatchDecision(1, "county")  # within capacity
    assert not plan(urgent(), [county], TAXONOMY).over_capacity


def test_a_normal_order_waits_rather_than_use_the_reserve():
    hs = [full(1, "grid"), full(2, "township"), at_tier(3, "county", capacity=6, load=3)]
    decision = plan(order(), hs, TAXONOMY)
    assert decision.queued and decision.tier == "county"
    assert plan(order(), hs, TAXONOMY, NO_URGENT_RULE) == DispatchDecision(3, "county")


def test_reserve_is_per_tier_and_counts_in_the_ranking_only_through_room():
    rule = UrgentRule(reserve={"grid": 1})
    a = at_tier(1, "grid", capacity=4, load=3)   # ratio 3/4 but only the reserve left
    b = at_tier(2, "grid", capacity=10, load=8)  # ratio 8/10, room below the reserve
    assert choose(order(), [a, b], "mediator", "grid", rule) is b
    assert choose(order(), [a, b], "mediator", "grid", NO_URGENT_RULE) is a
    assert choose(urgent(), [at_tier(1, "grid", capacity=4, load=1), b], "mediator", "grid",
                  rule).id == 1  # urgent: 1 + 3 <= 4, the reserve does not apply


# overflow

def test_urgent_order_with_everyone_full_goes_to_the_lowest_load_ratio_at_once():
    hs = [full(1, capacity=6), at_tier(2, "grid", capacity=6, load=4), full(3, "township"),
          full(4, "county", capacity=5, load=3)]
    decision = plan(urgent(), hs, TAXONOMY)
    assert decision == DispatchDecision(2, "grid", over_capacity=True)  # 4/6 < 6/6
    assert not decision.queued


def test_normal_order_never_overflows():
    hs = [at_tier(1, "grid", capacity=6, load=6), full(2, "county", capacity=5, load=2)]
    assert plan(order(), hs, TAXONOMY).queued
    assert choose_overflow(order(), hs, "mediator", "grid") is None
    assert not may_overflow(hs[0], order())


def test_room_anywhere_comes_before_overflow():
    """The tiers are walked for room first: room at the township beats overflow at the grid."""
    hs = [at_tier(1, "grid", capacity=6, load=5), at_tier(2, "township", capacity=6, load=3)]
    assert plan(urgent(), hs, TAXONOMY) == DispatchDecision(2, "township")


def test_overflow_at_the_lowest_tier_with_someone_not_over_capacity():
    over = at_tier(1, "grid", capacity=3, load=4)   # already over: may not take another
    town = at_tier(2, "township", capacity=6, load=6)
    county = at_tier(3, "county", capacity=5, load=4)
    assert plan(urgent(), [over, town, county], TAXONOMY) == \
        DispatchDecision(2, "township", over_capacity=True)
    assert plan(urgent(tier="county"), [over, town, county], TAXONOMY) == \
        DispatchDecision(3, "county", over_capacity=True)


def test_at_most_one_urgent_order_over_capacity():
    h = full(1, capacity=4)
    first = plan(urgent(), [h], TAXONOMY)
    assert first == DispatchDecision(1, "grid", over_capacity=True)
    h = replace(h, load=h.load + 3)  # 7 of 4: over by one urgent order
    assert not may_overflow(h, urgent())
    assert plan(urgent(), [h], TAXONOMY).queued  # the next one waits
    h = replace(h, load=4)  # two normal orders done... back to exactly full
    assert plan(urgent(), [h], TAXONOMY).over_capacity
    assert plan(order(), [h], TAXONOMY).queued


def test_overflow_excludes_what_eligibility_excludes():
    hs = [
        full(1, role="grid_worker"),
        full(2, skills=frozenset({"dispute.labor"})),
        full(3, areas=frozenset({"G-02"})),
        full(4, on_duty=False),
        full(5),                                   # declined
        at_tier(6, "grid", capacity=0, load=0),    # takes no orders at all
    ]
    o = urgent(declined_by=frozenset({5}))
    assert plan(o, hs, TAXONOMY).queued
    assert [h.id for h in hs if is_candidate(h, o, "grid", "mediator")] == [6]
    assert not may_overflow(hs[5], o)
    assert plan(o, [*hs, full(7)], TAXONOMY) == DispatchDecision(7, "grid", over_capacity=True)


def test_overflow_tie_breaks_are_the_designs():
    a = full(1, capacity=4, assigned_last_24h=2)
    b = full(2, capacity=8, assigned_last_24h=1, last_assigned_at=T0)
    assert plan(urgent(), [a, b], TAXONOMY).handler_id == 2          # equal ratio 1: fewer in 24 h
    c = full(3, capacity=8, assigned_last_24h=1, last_assigned_at=T0 - timedelta(hours=3))
    assert plan(urgent(), [a, b, c], TAXONOMY).handler_id == 3       # then longest idle
    d = full(4, capacity=6, assigned_last_24h=1)                     # never assigned
    assert plan(urgent(), [a, b, c, d], TAXONOMY).handler_id == 4
    e = full(0, capacity=5, assigned_last_24h=1)                     # then lowest id
    assert plan(urgent(), [a, b, c, d, e], TAXONOMY).handler_id == 0
    lower = at_tier(9, "grid", capacity=10, load=8, assigned_last_24h=9, last_assigned_at=T0)
    assert plan(urgent(), [a, b, c, d, e, lower], TAXONOMY).handler_id == 9  # ratio first


def test_without_overflow_an_urgent_order_waits():
    hs = [full(1), full(2, "county", capacity=5, load=3)]
    assert plan(urgent(), hs, TAXONOMY, NO_URGENT_RULE).queued
    assert plan(urgent(), hs, TAXONOMY, UrgentRule(reserve={"county": 3})).queued
    assert plan(urgent(), hs, TAXONOMY).over_capacity


@settings(max_examples=300)
@given(scenarios(), st.randoms(use_true_random=False))
def test_plan_with_the_urgent_rule_is_deterministic(scenario, rnd):
    handlers, o, _ = scenario
    shuffled = list(handlers)
    rnd.shuffle(shuffled)
    for rule in (URGENT_RULE, NO_URGENT_RULE, UrgentRule(reserve={"grid": 1, "county": 2})):
        assert plan(o, shuffled, TAXONOMY, rule) == plan(o, handlers, TAXONOMY, rule)
        assert plan(o, handlers, TAXONOMY, rule) == plan(o, handlers, TAXONOMY, rule)


@settings(max_examples=300)
@given(scenarios())
def test_overflow_picks_the_least_loaded_not_over_capacity_at_the_lowest_tier(scenario):
    handlers, o, _ = scenario
    decision = plan(o, handlers, TAXONOMY)
    if not decision.over_capacity:
        return
    tried = TIERS[TIERS.index(o.tier):]
    assert o.priority is Priority.URGENT
    assert not any(is_eligible(h, o, t, "mediator") for t in tried for h in handlers)
    allowed_at = {
        t: [h for h in handlers if is_candidate(h, o, t, "mediator")
            and 0 < h.capacity and h.load <= h.capacity]
        for t in tried
    }
    assert not any(allowed_at[t] for t in tried[: tried.index(decision.tier)])
    best = sorted(allowed_at[decision.tier], key=functools.cmp_to_key(reference_compare))[0]
    assert decision.handler_id == best.id
    assert best.load + o.weight > best.capacity  # it does take them over


@settings(max_examples=300)
@given(handler_lists(), st.lists(st.sampled_from([Priority.NORMAL] * 2 + [Priority.URGENT]),
                                 max_size=40),
       st.randoms(use_true_random=False))
def test_repeated_dispatch_keeps_the_new_invariant(handlers, priorities, rnd):
    """Orders arrive and units free at random: no normal order takes anyone over capacity
    or into the county reserve, no handler is ever over by more than one urgent order,
    and an urgent order waits only if no candidate at all is within capacity."""
    state = {h.id: h for h in handlers}
    for priority in priorities:
        o = order(priority=priority, tier=rnd.choice(TIERS))
        before = dict(state)
        decision = plan(o, state.values(), TAXONOMY)
        if decision.queued:
            if o.priority is Priority.URGENT:
                assert not any(is_candidate(h, o, t, "mediator") and may_overflow(h, o)
                               for h in before.values() for t in TIERS[TIERS.index(o.tier):])
            continue
        h = state[decision.handler_id]
        after = replace(h, load=h.load + o.weight, assigned_last_24h=h.assigned_last_24h + 1)
        state[h.id] = after
        if o.priority is Priority.NORMAL:
            assert after.load <= h.capacity - URGENT_RULE.reserved_at(h.tier)
        elif after.load > h.capacity:
            assert decision.over_capacity and h.load <= h.capacity
            assert after.load - h.capacity <= order_weight(Priority.URGENT)
        if rnd.random() < 0.3:  # someone finishes an order
            freed = rnd.choice(sorted(state))
            state[freed] = replace(state[freed], load=max(0, state[freed].load - 1))
