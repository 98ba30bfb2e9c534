"""研判预警 at creation: a repeat complaint starts one tier up, with an event and a warning;
and ``raise_warning``'s insert-or-update by dedupe key."""

from __future__ import annotations

from datetime import timedelta

from integrations.workorders.domain.warning_rules import default_rules
from integrations.workorders.service import ServiceConfig, cancel, metrics, verify_audit
from integrations.workorders.service.warnings import raise_warning
from integrations.workorders.settings import Settings
from tests.app.warnings_world import (
    done,
    staff_with_chats,
    warning_events,
    warning_notices,
    warning_orders,
    warnings,
)
from tests.app.world import T0

LAMP = dict(category="incident.facility", description="3号楼门口的路灯坏了，晚上一片漆黑。",
            location_text="幸福里小区3号楼门口")


def lamp_world(w):
    """A grid worker and a township grid worker for street lamps."""
    grid = w.handler("李网格", role="grid_worker", skills=["incident.facility"])
    town = w.handler("赵站长", role="grid_worker", tier="township", skills=["incident.facility"])
    return grid, town


def test_a_repeat_starts_one_tier_up_with_an_event_and_a_warning(any_world):
    w = any_world
    grid, town = lamp_world(w)
    staff_with_chats(w)
    chief = w.handler("镇长", tier="township", capacity=0, is_supervisor=True,
                      telegram_chat_id="901")
    w.handler("西镇督办", tier="township", capacity=0, is_supervisor=True,
              areas=["township:qy-xz"])  # another township: not told
    first = w.order(**LAMP)
    assert first.assignee_id == grid
    done(w, first.number, grid, "已更换灯泡。")

    w.tick(days=5)  # reported again within 14 days of the fix: 疑似假性整改
    again = w.order(**{**LAMP, "location_text": "幸福里小区三号楼",
                       "description": "三号楼的路灯又不亮了。"})
    row = w.row(again.number)
    assert (row.tier, row.assignee_id) == ("township", town)  # not the same grid alone
    events = w.events(again.number)
    assert [e.action for e in events] == ["create", "repeat", "dispatch"]
    assert first.number in events[1].note and "sham" in events[1].note

    (warning,) = warnings(w, "repeat")
    assert warning.dedupe_key == f"repeat:{row.id}"
    assert (warning.level, warning.state, warning.area_code, warning.category) == (
        "warning", "open", "grid:qy-dz-01", "incident.facility")
    assert warning.order_id == row.id
    assert first.number in warning.explanation
    assert "李网格" in warning.explanation  # who resolved the earlier order
    assert warning.details["sham"] is True
    assert [e["number"] for e in warning.details["earlier"]] == [first.number]
    assert warning_orders(w, warning.id) == {again.number: "trigger", first.number: "earlier"}
    assert [e.action for e in warning_events(w, warning.id)] == ["raise"]

    notices = warning_notices(w, warning.id)
    assert {(m.recipient_kind, m.recipient_ref, m.channel) for m in notices} == {
        ("dispatcher", "staff:disp", "telegram"), ("supervisor", "staff:boss", "telegram"),
        ("supervisor", str(chief), "telegram")}
    assert all(m.payload["text"].startswith("【预警】") for m in notices)
    assert {m.payload["kind"] for m in notices} == {"repeat"}
    assert verify_audit(w.uow()) == []


def test_a_repeat_after_the_sham_window_is_attention_and_after_the_window_none(world):
    w = world
    grid, _ = lamp_world(w)
    first = w.order(**LAMP)
    done(w, first.number, grid)
    w.tick(days=20)
    second = w.order(**LAMP)
    (warning,) = warnings(w, "repeat")
    assert warning.level == "attention" and warning.details["sham"] is False
    assert w.row(second.number).tier == "township"

    w.tick(days=31)  # the first was resolved 51 days ago, the second is still open
    w.order(**LAMP)
    assert len(warnings(w, "repeat")) == 1


def test_no_repeat_for_another_place_another_category_or_a_cancelled_order(world):
    w = world
    grid, _ = lamp_world(w)
    w.handler("周网格", role="grid_worker", skills=["incident.water"])
    first = w.order(**LAMP)
    done(w, first.number, grid)
    withdrawn = w.order(**{**LAMP, "location_text": "幸福里小区8号楼", "reporter_ref": "tg:77"})
    cancel(w.uow(), withdrawn.number, "tg:77", w.tick(minutes=1))

    w.tick(days=2)
    other_place = w.order(**{**LAMP, "location_text": "幸福里小区5号楼"})
    other_category = w.order(category="incident.water", description="3号楼门口下水道堵了。",
                             location_text="幸福里小区3号楼门口")
    after_cancel = w.order(**{**LAMP, "location_text": "幸福里小区8号楼"})
    assert warnings(w, "repeat") == []
    for order in (other_place, other_category, after_cancel):
        assert w.row(order.number).tier == "grid"
        assert "repeat" not in w.actions(order.number)


def test_a_dispute_repeats_within_ninety_days(world):
    w = world
    mediator = w.handler()
    w.handler("镇调解员", tier="township")
    first = w.order()
    done(w, first.number, mediator)
    w.tick(days=60)
    second = w.order(location_text="幸福里小区三号楼")
    assert w.row(second.number).tier == "township"
    assert len(warnings(w, "repeat")) == 1


def test_metrics_count_repeats(world):
    w = world
    grid, _ = lamp_world(w)
    first = w.order(**LAMP)
    done(w, first.number, grid)
    w.tick(days=3)
    w.order(**LAMP)
    w.order(**{**LAMP, "location_text": "和平街12号"})
    (card,) = metrics(w.uow(), T0 - timedelta(days=1), w.tick(days=1))
    assert (card.created, card.repeats) == (3, 1)
    assert card.repeat_rate == 1 / 3


def test_raise_warning_updates_by_key_and_tells_again_only_when_the_level_rises(world):
    w = world
    staff_with_chats(w)
    a, b = w.order(), w.order(location_text="和平街5号")
    ids = {o.number: w.row(o.number).id for o in (a, b)}
    cfg = w.uow().config

    def call(level, orders, explanation="东镇幸福里网格 邻里纠纷 近3小时3件。"):
        uow = w.uow()
        with uow:
            warning, told = raise_warning(
                uow.session, cfg, kind="surge", dedupe_key="surge:test", level=level,
                area_code="grid:qy-dz-01", category="dispute.neighbor",
                explanation=explanation, details={"observed": len(orders)}, order_id=None,
                orders=[(ids[n], "member") for n in orders], now=w.tick(minutes=1))
            uow.commit()
            return warning.id, told

    wid, told = call("attention", [a.number])
    assert told
    assert call("attention", [a.number]) == (wid, False)  # nothing new: no event
    assert call("attention", [a.number, b.number]) == (wid, False)  # grew: an update
    assert call("warning", [a.number, b.number], "近3小时5件。") == (wid, True)
    assert call("attention", [a.number, b.number]) == (wid, False)  # never goes down
    (warning,) = warnings(w)
    assert (warning.level, warning.details) == ("warning", {"observed": 2})
    assert [(e.action, e.level) for e in warning_events(w, wid)] == [
        ("raise", "attention"), ("update", "attention"), ("update", "warning")]
    notices = warning_notices(w, wid)
    assert sorted((m.payload["level"], m.recipient_ref) for m in notices) == [
        ("attention", "staff:boss"), ("attention", "staff:disp"),
        ("warning", "staff:boss"), ("warning", "staff:disp")]


def test_a_warning_without_anyone_to_tell_is_logged(world):
    w = world
    cfg = w.uow().config
    uow = w.uow()
    with uow:
        warning, told = raise_warning(
            uow.session, cfg, kind="surge", dedupe_key="surge:alone", level="urgent",
            area_code="grid:qy-xz-01", category="incident.water", explanation="西镇一网格 激增。",
            details={}, order_id=None, orders=[], now=w.clock)
        uow.commit()
    (notice,) = warning_notices(w, warning.id)
    assert (notice.channel, notice.recipient_ref, notice.payload["text"]) == (
        "log", "grid:qy-xz-01", "【紧急】西镇一网格 激增。")


def test_with_nobody_above_the_grid_a_repeat_is_handled_there_and_still_warned(world):
    w = world
    grid = w.handler("李网格", role="grid_worker", skills=["incident.facility"])
    first = w.order(**LAMP)
    done(w, first.number, grid)
    w.tick(days=1)
    again = w.order(**LAMP)
    row = w.row(again.number)
    assert (row.tier, row.assignee_id, row.status) == ("grid", grid, "assigned")
    assert w.actions(again.number) == ["create", "repeat", "dispatch"]
    assert len(warnings(w, "repeat")) == 1


def test_the_settings_file_gives_the_rules(tmp_path, taxonomy):
    path = tmp_path / "warnings.yml"
    path.write_text("dispute_risk:\n  threshold: 70\nrepeat:\n  sham_days: 7\n",
                    encoding="utf-8")
    cfg = ServiceConfig.from_settings(Settings(warnings_path=path), taxonomy)
    assert cfg.warning_rules.dispute_risk.threshold == 70
    assert cfg.warning_rules.repeat.sham_days == 7
    assert ServiceConfig.from_settings(Settings(), taxonomy).warning_rules == default_rules()
