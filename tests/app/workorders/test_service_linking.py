"""合并办理: a surge's reports linked under one parent order, and what follows from it."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from integrations.workorders.adapters.orm import WorkOrder
from integrations.workorders.adapters.warnings_tables import (
    RiskWarning,
    WarningEvent,
    WarningOrder,
)
from integrations.workorders.service import (
    Conflict,
    InvalidInput,
    NotFound,
    accept,
    answer_satisfaction,
    cancel_by_staff,
    get_order,
    progress,
    reassign,
    resident_view,
    resolve,
    run_time_limits,
    verify_audit,
    worklist,
)
from integrations.workorders.service.linking import link_surge, surge_links

WATER = "incident.water"
LEAK = "小区东门自来水管爆裂，水流到路上了。"


def surge_warning(world, numbers, *, kind="surge", category=WATER, state="open") -> int:
    """A surge warning behind ``numbers`` (as the scan writes one)."""
    with world.db.session() as s:
        ids = {o.number: o.id for o in s.scalars(
            select(WorkOrder).where(WorkOrder.number.in_(numbers)))}
        warning = RiskWarning(
            kind=kind, level="warning", state=state, area_code="grid:qy-dz-01",
            category=category, dedupe_key=f"{kind}:grid:qy-dz-01:{category}:{numbers[0]}",
            explanation="东镇幸福里网格 供排水问题 近3小时3件（平时每天约1件）",
            details={}, order_id=None, created_at=world.clock, updated_at=world.clock,
        )
        s.add(warning)
        s.flush()
        for i, number in enumerate(numbers):
            s.add(WarningOrder(warning_id=warning.id, order_id=ids[number],
                               role="trigger" if i == len(numbers) - 1 else "member",
                               added_at=world.clock))
        s.commit()
        return warning.id


def resident_rows(world, ref):
    return [m for m in world.outbox(recipient_kind="resident") if m.recipient_ref == ref]


@pytest.fixture
def burst(any_world):
    """Three residents report the same burst pipe; a grid worker holds all three."""
    w = any_world
    worker = w.handler("张网格", role="grid_worker", skills=[WATER], capacity=10)
    orders = []
    for ref in ("tg:801", "tg:802", "web:803"):
        orders.append(w.order(category=WATER, description=LEAK, location_text="幸福里小区东门",
                              reporter_ref=ref))
        w.tick(minutes=4)
    assert all(o.assignee_id == worker for o in orders)
    return w, worker, [o.number for o in orders]


def test_link_puts_the_surge_under_the_earliest_open_order(burst):
    w, worker, (first, second, third) = burst
    accept(w.uow(), second, worker, w.clock)  # held and accepted: still taken back
    warning_id = surge_warning(w, [first, second, third])
    w.tick(minutes=1)
    link_surge(w.uow(), warning_id, actor="staff:dispatcher", now=w.clock, area_codes=None)

    parent = w.row(first)
    for number in (second, third):
        row = w.row(number)
        assert (row.status, row.parent_id, row.assignee_id) == ("pending", parent.id, None)
        event = w.events(number)[-1]
        assert (event.action, event.actor, event.note) == (
            "link", "staff:dispatcher", f"parent:{first} handler:{worker}")
        # the resident hears it once, politely, naming the parent
        (told,) = [m for m in w.outbox(number, recipient_kind="resident")
                   if m.payload["event"] == "linked"]
        assert told.payload["text"] == (
            f"您反映的工单 {number} 与工单 {first} 是同一事项，已合并办理，后续进展会及时告知您。")
        assert told.payload["parent_number"] == first
        # the worker who held it is told it is withdrawn
        (withdrawn,) = w.outbox(number, recipient_kind="handler", topic="order.withdrawn")
        assert withdrawn.payload["text"] == (
            f"工单 {number} 已并入工单 {first} 合并办理，您无需继续处理。")
    assert (parent.status, parent.parent_id, parent.assignee_id) == ("assigned", None, worker)
    assert w.events(first)[-1].action == "merge"
    assert w.events(first)[-1].note == f"children:{second},{third}"
    with w.db.session() as s:
        warning = s.get_one(RiskWarning, warning_id)
        assert warning.order_id == parent.id
        roles = dict(s.execute(select(WarningOrder.order_id, WarningOrder.role)
                               .where(WarningOrder.warning_id == warning_id)).tuples().all())
        assert roles[parent.id] == "parent"
        (event,) = s.scalars(select(WarningEvent).where(WarningEvent.warning_id == warning_id))
        assert (event.action, event.actor) == ("link", "staff:dispatcher")
        assert first in (event.note or "")
    links = surge_links(w.uow(), warning_id, area_codes=None)
    assert links.parent_number == first
    assert [c.number for c in links.children] == [second, third]
    assert verify_audit(w.uow()) == []


def test_the_parents_progress_reaches_every_resident_once(burst):
    w, worker, (first, second, third) = burst
    link_surge(w.uow(), surge_warning(w, [first, second, third]), actor="staff:d",
               now=w.clock, area_codes=None)
    before = {ref: len(resident_rows(w, ref)) for ref in ("tg:801", "tg:802", "web:803")}
    w.tick(minutes=5)
    accept(w.uow(), first, worker, w.clock)
    w.tick(minutes=5)
    progress(w.uow(), first, worker, "已关闸抢修", w.clock)
    for ref, number in (("tg:801", first), ("tg:802", second), ("web:803", third)):
        new = resident_rows(w, ref)[before[ref]:]
        assert [m.payload["event"] for m in new] == ["accepted", "in_progress"]
        assert new[0].payload["text"] == f"您反映的工单 {number} 已签收，处理人员会尽快联系您。"
        assert {m.order_number for m in new} == {number}
    child_msg = resident_rows(w, "tg:802")[-1]
    assert child_msg.payload["chat_id"] == "802" and child_msg.channel == "telegram"
    assert child_msg.payload["parent_number"] == first
    assert resident_rows(w, "web:803")[-1].channel in ("log", "webhook")
    # asked about their own order, a child's resident is shown the parent's progress
    mine = resident_view(w.uow(), get_order(w.uow(), second))
    assert (mine.number, mine.label, mine.handler_role, mine.latest_note) == (
        second, "处理中", "网格员", "已关闸抢修")


def test_linked_children_are_not_dispatched_queued_or_marked_overdue(burst):
    w, worker, (first, second, third) = burst
    link_surge(w.uow(), surge_warning(w, [first, second, third]), actor="staff:d",
               now=w.clock, area_codes=None)
    w.tick(days=10)  # far past every time limit
    report = run_time_limits(w.uow, w.clock)
    assert second not in report.dispatched + report.overdue
    for number in (second, third):
        row = w.row(number)
        assert (row.status, row.assignee_id, row.overdue_notified_at) == ("pending", None, None)
        assert w.actions(number)[-1] == "link"
    with pytest.raises(Conflict):
        reassign(w.uow(), second, worker, "staff:d", w.clock)
    # nor in the dispatchers' 待办: they wait for their parent, which is there (overdue)
    listed = {(i.order_number, i.section) for i in worklist(w.uow(), None, w.clock).items}
    assert {n for n, _ in listed} == {first}


def test_resolving_the_parent_resolves_the_children_then_follow_up(burst):
    w, worker, (first, second, third) = burst
    link_surge(w.uow(), surge_warning(w, [first, second, third]), actor="staff:d",
               now=w.clock, area_codes=None)
    accept(w.uow(), first, worker, w.clock)
    w.tick(hours=2)
    resolve(w.uow(), first, worker, "水管已更换，供水恢复", w.clock)
    for ref, number in (("tg:802", second), ("web:803", third)):
        row = w.row(number)
        assert (row.status, row.resolved_at, row.parent_id) == (
            "resolved", w.clock, w.row(first).id)
        event = w.events(number)[-1]
        assert (event.action, event.note) == ("resolve_linked", "水管已更换，供水恢复")
        resolved = [m for m in resident_rows(w, ref) if m.payload["event"] == "resolved"]
        assert len(resolved) == 1  # its own notice, not also the parent's
        assert resolved[0].payload["text"].startswith(
            f"您反映的工单 {number} 已办结，处理结果：水管已更换，供水恢复。")
        assert resolved[0].payload["ask_satisfaction"] is True
    # the follow-up as usual: one answers, the other is closed unanswered
    answer_satisfaction(w.uow(), second, "tg:802", "satisfied", None, w.clock)
    assert w.row(second).status == "closed"
    w.tick(hours=73)
    run_time_limits(w.uow, w.clock)
    assert w.row(third).status == "closed"
    assert w.actions(third)[-1] == "no_answer"


def test_a_child_reopened_after_unsatisfied_is_handled_on_its_own(burst):
    w, worker, (first, second, third) = burst
    link_surge(w.uow(), surge_warning(w, [first, second, third]), actor="staff:d",
               now=w.clock, area_codes=None)
    accept(w.uow(), first, worker, w.clock)
    resolve(w.uow(), first, worker, "已修好", w.clock)
    answer_satisfaction(w.uow(), second, "tg:802", "unsatisfied", "还在漏水", w.clock)
    row = w.row(second)
    assert (row.status, row.parent_id, row.assignee_id) == ("assigned", None, worker)


def test_cancelling_the_parent_releases_and_dispatches_the_children(burst):
    w, worker, (first, second, third) = burst
    link_surge(w.uow(), surge_warning(w, [first, second, third]), actor="staff:d",
               now=w.clock, area_codes=None)
    w.tick(minutes=3)
    cancel_by_staff(w.uow(), first, "staff:d", "重复登记", w.clock)
    for ref, number in (("tg:802", second), ("web:803", third)):
        row = w.row(number)
        assert (row.status, row.parent_id, row.assignee_id) == ("assigned", None, worker)
        assert w.actions(number)[-2:] == ["unlink", "dispatch"]
        events = [m.payload["event"] for m in resident_rows(w, ref)]
        assert "cancelled" not in events and events.count("unlinked") == 1


def test_one_resident_with_two_linked_reports_is_told_once(any_world):
    w = any_world
    worker = w.handler("张网格", role="grid_worker", skills=[WATER], capacity=10)
    numbers = [w.order(category=WATER, description=LEAK, reporter_ref=ref).number
               for ref in ("tg:901", "tg:902", "tg:902")]
    link_surge(w.uow(), surge_warning(w, numbers), actor="staff:d", now=w.clock,
               area_codes=None)
    accept(w.uow(), numbers[0], worker, w.clock)
    accepted = [m for m in resident_rows(w, "tg:902") if m.payload["event"] == "accepted"]
    assert len(accepted) == 1


def test_link_refusals(any_world):
    w = any_world
    w.handler("张网格", role="grid_worker", skills=[WATER], capacity=10)
    numbers = [w.order(category=WATER, description=LEAK).number for _ in range(2)]
    with pytest.raises(NotFound):
        link_surge(w.uow(), 999, actor="staff:d", now=w.clock, area_codes=None)
    repeat = surge_warning(w, numbers, kind="repeat")
    with pytest.raises(InvalidInput):
        link_surge(w.uow(), repeat, actor="staff:d", now=w.clock, area_codes=None)
    closed = surge_warning(w, numbers[:1] + numbers[1:], state="closed", category="x")
    with pytest.raises(Conflict):
        link_surge(w.uow(), closed, actor="staff:d", now=w.clock, area_codes=None)
    surge = surge_warning(w, numbers, category="incident.water2")
    with pytest.raises(NotFound):  # outside the caller's areas: like no such warning
        link_surge(w.uow(), surge, actor="staff:d", now=w.clock,
                   area_codes=["township:qy-xz"])
    with pytest.raises(NotFound):
        link_surge(w.uow(), surge, actor="staff:d", now=w.clock, area_codes=None,
                   parent_number="99999999")
    link_surge(w.uow(), surge, actor="staff:d", now=w.clock, area_codes=["township:qy-dz"],
               parent_number=numbers[1])
    assert w.row(numbers[0]).parent_id == w.row(numbers[1]).id
    with pytest.raises(Conflict):  # nothing left to link
        link_surge(w.uow(), surge, actor="staff:d", now=w.clock, area_codes=None)
    disputes = [w.order().number for _ in range(2)]
    with pytest.raises(InvalidInput):
        link_surge(w.uow(), surge_warning(w, disputes, category="dispute.neighbor"),
                   actor="staff:d", now=w.clock, area_codes=None)


def test_reports_joining_the_surge_later_are_linked_under_the_same_parent(burst):
    w, worker, (first, second, third) = burst
    warning_id = surge_warning(w, [first, second])
    link_surge(w.uow(), warning_id, actor="staff:d", now=w.clock, area_codes=None)
    with w.db.session() as s:  # the scan adds the third report to the surge
        s.add(WarningOrder(warning_id=warning_id, order_id=w.row(third).id, role="member",
                           added_at=w.clock))
        s.commit()
    with pytest.raises(Conflict):  # another parent than the one it has
        link_surge(w.uow(), warning_id, actor="staff:d", now=w.clock, area_codes=None,
                   parent_number=third)
    link_surge(w.uow(), warning_id, actor="staff:d", now=w.clock, area_codes=None)
    assert w.row(third).parent_id == w.row(first).id
    assert w.events(first)[-1].note == f"children:{third}"
    links = surge_links(w.uow(), warning_id, area_codes=None)
    assert (links.parent_number, [c.number for c in links.children]) == (first, [second, third])
