"""Escalations and overdue orders reach the area's dispatchers on Telegram too, with the
supervisors' text; dispatchers of other areas, or without a chat, are not told."""

from __future__ import annotations

from integrations.workorders.service import (
    accept,
    create_staff_user,
    run_time_limits,
    set_staff_active,
)


def sweep(world, **delta):
    return run_time_limits(world.uow, world.tick(**delta))


def dispatchers(world) -> None:
    for name, areas, chat, active in (
        ("d-east", ["township:qy-dz"], "-100", True),       # covers the world's grid
        ("d-county", ["county:qy"], "-300", True),          # covers it from above
        ("d-west", ["township:qy-xz"], "-200", True),       # another township
        ("d-nochat", ["township:qy-dz"], None, True),       # nowhere to send it
        ("d-gone", ["township:qy-dz"], "-400", False),      # deactivated
    ):
        create_staff_user(world.uow(), name, "dispatcher", f"token-{name}-0123456789abcdef",
                          world.clock, areas=areas, telegram_chat_id=chat)
        if not active:
            set_staff_active(world.uow(), name, False)


def told(world, number, topic):
    return [(m.recipient_ref, m.channel, m.payload.get("chat_id"))
            for m in world.outbox(number, recipient_kind="dispatcher", topic=topic)]


def test_an_escalation_tells_the_areas_dispatchers_what_the_supervisors_hear(any_world):
    w = any_world
    dispatchers(w)
    g = w.handler()
    w.handler("赵主任", tier="township")
    w.handler("镇长", tier="township", capacity=0, is_supervisor=True, telegram_chat_id="900")
    order = w.order()
    accept(w.uow(), order.number, g, w.tick(minutes=5))

    assert sweep(w, hours=168).escalated == [order.number]
    assert told(w, order.number, "order.escalated") == [
        ("staff:d-east", "telegram", "-100"), ("staff:d-county", "telegram", "-300")]
    (boss,) = w.outbox(order.number, recipient_kind="supervisor")
    to_east = w.outbox(order.number, recipient_kind="dispatcher", recipient_ref="staff:d-east")[0]
    assert to_east.payload["text"] == boss.payload["text"] == (
        f"工单 {order.number}（邻里纠纷，幸福里小区3号楼）已超过办结时限，升级至乡镇（街道）处理，请督办。")
    escalate = [e for e in w.events(order.number) if e.action == "escalate"][0]
    assert to_east.dedupe_key == (
        f"{order.number}:{escalate.seq}:dispatcher:staff:d-east:order.escalated")
    assert (to_east.payload["tier"], to_east.payload["area_code"], to_east.payload["breached"]) == (
        "township", "grid:qy-dz-01", True)


def test_an_escalation_nobody_can_take_is_both_escalated_and_queued(world):
    dispatchers(world)
    g = world.handler()
    order = world.order()
    accept(world.uow(), order.number, g, world.tick(minutes=5))
    report = sweep(world, hours=168)
    assert report.escalated == [order.number] and report.failed == []
    assert world.row(order.number).status == "pending"
    assert [ref for ref, _, _ in told(world, order.number, "order.escalated")] == [
        "staff:d-east", "staff:d-county"]
    assert [ref for ref, _, _ in told(world, order.number, "order.queued")] == [
        "staff:d-east", "staff:d-county"]


def test_overdue_at_the_top_tier_tells_the_dispatchers_once(any_world):
    w = any_world
    dispatchers(w)
    c = w.handler("县调解中心", tier="county")
    order = w.order()
    accept(w.uow(), order.number, c, w.tick(minutes=5))
    assert sweep(w, hours=169).overdue == [order.number]
    assert told(w, order.number, "order.overdue") == [
        ("staff:d-east", "telegram", "-100"), ("staff:d-county", "telegram", "-300")]
    message = w.outbox(order.number, recipient_kind="dispatcher", topic="order.overdue")[0]
    assert message.payload["text"] == (
        f"工单 {order.number}（邻里纠纷，幸福里小区3号楼）已超过办结时限仍未办结，已无更高层级可升级，请督办。")  # noqa: E501  (Chinese text counts double)
    sweep(w, hours=24)
    assert len(told(w, order.number, "order.overdue")) == 2  # no loop


def test_a_pending_order_past_its_deadline_tells_the_dispatchers(world):
    dispatchers(world)
    order = world.order()  # nobody to take it: pending
    assert sweep(world, hours=169).overdue == [order.number]
    assert [ref for ref, _, _ in told(world, order.number, "order.overdue")] == [
        "staff:d-east", "staff:d-county"]


def test_without_dispatchers_only_the_supervisors_are_told(world):
    g = world.handler()
    order = world.order()
    accept(world.uow(), order.number, g, world.tick(minutes=5))
    sweep(world, hours=168)
    assert told(world, order.number, "order.escalated") == []
    assert len(world.outbox(order.number, recipient_kind="supervisor")) == 1
