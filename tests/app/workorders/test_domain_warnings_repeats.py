"""重复诉求: the finished orders at the same place in the window; 疑似假性整改 within 14 days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.workorders.domain.places import repeat_place_key
from integrations.workorders.domain.repeats import PastOrder, explain_repeat, find_repeat
from integrations.workorders.domain.warning_rules import RepeatRules
from integrations.workorders.domain.warnings import Level

NOW = datetime(2026, 6, 15, 9, 0, tzinfo=UTC)
RULES = RepeatRules()
AREA = ("幸福里社区", "幸福里")
LIGHT = "incident.streetlight"


def past(order_id, days_ago, *, place="3号楼", category=LIGHT, kind="incident", status="resolved",
         resolved=True, by="h-li"):
    done = NOW - timedelta(days=days_ago)
    return PastOrder(order_id=order_id, number=f"{order_id:08d}", kind=kind, category=category,
                     place_key=repeat_place_key(place, AREA), status=status,
                     created_at=done - timedelta(days=2),
                     resolved_at=done if resolved else None,
                     closed_at=None if status == "resolved" else done,
                     resolved_by=by if resolved else None)


def find(place, orders, kind="incident", category=LIGHT, now=NOW):
    return find_repeat(kind, category, repeat_place_key(place, AREA), now, orders, RULES)


def test_a_recent_fix_reported_again_is_a_sham_repeat():
    f = find("三号楼门口", [past(12345678, 14 - 1)])
    assert f is not None and f.sham and f.level is Level.WARNING
    assert [o.number for o in f.earlier] == ["12345678"] and f.days_ago == 13


def test_older_than_the_sham_window_is_a_plain_repeat():
    f = find("3栋", [past(1, 20)])
    assert f is not None and not f.sham and f.level is Level.ATTENTION and f.days_ago == 20


def test_windows_per_kind():
    assert find("3号楼", [past(1, 31)]) is None  # incidents: 30 days
    assert find("3号楼", [past(1, 30)]) is not None
    dispute = "dispute.neighbor"
    orders = [past(2, 80, category=dispute, kind="dispute")]
    assert find("3号楼", orders, kind="dispute", category=dispute) is not None  # disputes: 90 days
    assert find("3号楼", [past(2, 91, category=dispute, kind="dispute")],
                kind="dispute", category=dispute) is None


def test_only_finished_orders_of_the_same_category_and_place_count():
    orders = [
        past(1, 5, status="assigned", resolved=False),  # still open: the same report again
        past(2, 5, status="cancelled", resolved=False),  # never handled
        past(3, 5, category="incident.road"),
        past(4, 5, place="13号楼"),
        past(5, 5, place="4号楼"),
        past(6, -1),  # resolved "after" now: not a past order
    ]
    assert find("3号楼", orders) is None


def test_newest_first_and_sham_judged_on_the_newest():
    orders = [past(1, 25), past(2, 3, status="closed"), past(3, 10)]
    f = find("3号楼", orders)
    assert [o.order_id for o in f.earlier] == [2, 3, 1]
    assert f.sham and f.days_ago == 3


def test_closed_without_resolution_is_a_repeat_but_not_a_sham():
    f = find("3号楼", [past(7, 2, status="closed", resolved=False)])
    assert f is not None and not f.sham and f.level is Level.ATTENTION


def test_naive_times_are_refused():
    with pytest.raises(ValueError, match="timezone-aware"):
        find("3号楼", [past(1, 2)], now=NOW.replace(tzinfo=None))


def test_the_explanation_names_the_order_and_who_resolved_it():
    f = find("3号楼", [past(12345678, 14)])
    assert not f.sham
    f = find("3号楼", [past(12345678, 13)])
    text = explain_repeat(f, place="3号楼", area_name="幸福里社区", category_name="路灯损坏",
                          resolver_name="李秀英")
    assert text == ("幸福里社区 3号楼 路灯损坏 13天前已由李秀英办结（工单 12345678），"
                    "今天又有居民反映，疑似假性整改。")


def test_explanations_for_other_cases():
    plain = explain_repeat(find("3号楼", [past(1, 20)]), place="3号楼", area_name="幸福里社区",
                           category_name="路灯损坏", resolver_name=None)
    assert plain == ("幸福里社区 3号楼 路灯损坏 20天前已办结（工单 00000001），"
                     "今天又有居民反映，请核实上次处理情况。")
    yesterday = explain_repeat(find("3号楼", [past(2, 1)]), place="", area_name="幸福里社区",
                               category_name="路灯损坏", resolver_name="王强")
    assert yesterday.startswith("幸福里社区 路灯损坏 昨天已由王强办结（工单 00000002）")
    closed = explain_repeat(find("3号楼", [past(3, 0, status="closed", resolved=False)]),
                            place="3号楼", area_name="幸福里社区", category_name="路灯损坏",
                            resolver_name=None)
    assert "今天已关闭（工单 00000003）" in closed
    several = explain_repeat(find("3号楼", [past(i, i * 5) for i in range(1, 6)]), place="3号楼",
                             area_name="幸福里社区", category_name="路灯损坏", resolver_name="李秀英")
    assert several == ("幸福里社区 3号楼 路灯损坏 此前已处理5次（工单 00000001、00000002、00000003等），"
                       "最近一次5天前由李秀英办结，今天又有居民反映，疑似假性整改。")
