"""The shared queries: area chains, loads by weight, recent assignments, candidates."""

from __future__ import annotations

from datetime import timedelta

from integrations.workorders.adapters import store
from integrations.workorders.service import accept, decline, resolve


def test_area_chain_and_areas_within(world):
    with world.uow().read_only() as uow:
        assert store.area_chain(uow.session, "grid:qy-dz-01") == {
            "grid": "grid:qy-dz-01", "township": "township:qy-dz", "county": "county:qy"}
        assert store.area_chain(uow.session, "grid:nowhere") == {}
        assert store.areas_within(uow.session, ["township:qy-dz"]) == {
            "township:qy-dz", "grid:qy-dz-01", "grid:qy-dz-02"}
        assert len(store.areas_within(uow.session, ["county:qy"])) == 6


def test_loads_weigh_urgent_three_and_count_open_statuses_only(any_world):
    w = any_world
    h = w.handler(capacity=20)
    urgent = w.order(priority="urgent")
    normal = w.order(reporter_ref="tg:2")
    done = w.order(reporter_ref="tg:3")
    accept(w.uow(), normal.number, h, w.clock)
    accept(w.uow(), done.number, h, w.clock)
    resolve(w.uow(), done.number, h, None, w.clock)
    with w.uow().read_only() as uow:
        assert store.handler_loads(uow.session, [h, 999]) == {h: 4, 999: 0}
    assert urgent.assignee_id == h


def test_recent_assignments_count_dispatch_events_in_the_window(world):
    h1, h2 = world.handler(capacity=20), world.handler("李调解", capacity=20)
    first = world.order()
    decline(world.uow(), first.number, h1, None, world.tick(hours=1))  # -> h2
    world.tick(hours=24)
    with world.uow().read_only() as uow:
        since = world.clock - timedelta(hours=24)
        def recent(window_start):
            stats = store.handler_stats(uow.session, [h1, h2], window_start)
            return {h: s.assigned_since for h, s in stats.items()}

        assert recent(since) == {h1: 0, h2: 1}
        assert recent(since - timedelta(hours=1)) == {h1: 1, h2: 1}


def test_candidates_need_role_skill_area_duty_and_tier(world):
    ok = world.handler()
    world.handler("无此技能", skills=["dispute.labor"])
    world.handler("别的网格", areas=["grid:qy-dz-02"])
    world.handler("休假中", on_duty=False)
    world.handler("网格员", role="grid_worker", skills=["dispute.neighbor"])
    town = world.handler("镇调解员", tier="township")
    chain = {"grid": "grid:qy-dz-01", "township": "township:qy-dz", "county": "county:qy"}
    with world.uow() as uow:
        found = store.candidate_handlers(uow.session, role="mediator", category="dispute.neighbor",
                                         area_by_tier=chain, tiers=["grid", "township"])
        assert [h.id for h in found] == [ok, town]
        found = store.candidate_handlers(uow.session, role="mediator", category="dispute.neighbor",
                                         area_by_tier=chain, tiers=["township", "county"])
        assert [h.id for h in found] == [town]
