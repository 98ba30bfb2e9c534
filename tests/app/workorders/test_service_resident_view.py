"""The reporter's view of their order: who handles it (a role, never a name), deadlines,
the handler's newest note."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

from integrations.workorders.service import (
    accept,
    attach_report_to,
    decline,
    get_order,
    progress,
    resident_view,
    resolve,
)


def view_of(world, number):
    return resident_view(world.uow(), get_order(world.uow(), number))


def test_the_handler_role_follows_kind_and_tier(any_world):
    w = any_world
    nobody = w.order()  # no handler yet: queued
    assert view_of(w, nobody.number).handler_role is None
    assert view_of(w, nobody.number).status == "pending"

    w.handler("王调解")
    w.handler("张网格", role="grid_worker", skills=["incident.water"])
    dispute = view_of(w, w.order().number)
    incident = view_of(w, w.order(category="incident.water", description="停水了").number)
    assert (dispute.kind, dispute.tier, dispute.handler_role) == ("dispute", "grid", "人民调解员")
    assert (incident.kind, incident.tier, incident.handler_role) == ("incident", "grid", "网格员")
    assert incident.accept_by == w.clock + timedelta(minutes=120)
    assert incident.resolve_by > incident.accept_by and incident.resolve_by.tzinfo is not None
    assert (incident.priority, incident.latest_note) == ("normal", None)


def test_above_the_grid_the_office_is_named(any_world):
    w = any_world
    w.handler("镇调解员", tier="township", skills=["dispute.family"])
    w.handler("县调解员", tier="county", skills=["dispute.land"])
    town = view_of(w, w.order(category="dispute.family").number)
    county = view_of(w, w.order(category="dispute.land", priority="urgent").number)
    assert (town.tier, town.handler_role) == ("township", "乡镇（街道）工作人员")
    assert (county.tier, county.handler_role, county.priority) == ("county", "县级部门", "urgent")


def test_latest_note_is_the_newest_progress_or_resolve_note(any_world):
    w = any_world
    h1 = w.handler("王调解")
    h2 = w.handler("李调解")
    order = w.order(reporter_ref="tg:1")
    first = order.assignee_id
    decline(w.uow(), order.number, first, "今天请假", w.tick(minutes=1))
    second = h2 if first == h1 else h1
    accept(w.uow(), order.number, second, w.tick(minutes=1))
    attach_report_to(w.uow(), order.number, "tg:1", "晚上又吵了", w.tick(minutes=1))
    assert view_of(w, order.number).latest_note is None  # a decline reason is internal
    progress(w.uow(), order.number, second, "已联系双方，约好周六调解", w.tick(minutes=1))
    progress(w.uow(), order.number, second, None, w.tick(minutes=1))  # no note: the last stays
    assert view_of(w, order.number).latest_note == "已联系双方，约好周六调解"
    resolve(w.uow(), order.number, second, "双方达成协议，装修改到白天", w.tick(minutes=1))
    seen = view_of(w, order.number)
    assert seen.latest_note == "双方达成协议，装修改到白天" and seen.awaiting_satisfaction
    assert seen.handler_role == "人民调解员"
    fields = {f.name for f in dataclasses.fields(seen)}
    assert not fields & {"assignee_id", "reporter_ref", "reporter_channel", "breached",
                         "status_label", "area_code"}
