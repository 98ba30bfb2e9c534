"""研判预警 in the console: the list, one warning's page, 知悉 / 关闭 / 合并为主工单.

The world (``api_support``): ``dispatcher`` 东镇 (grids qy-dz-01, qy-dz-02),
``far_dispatcher`` 西镇, ``supervisor`` and ``admin`` everything, ``handler`` none.
Warnings are planted in the tables (``warnings_support``).
"""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import unquote

import pytest

from integrations.workorders.adapters.orm import WarningEvent, WarningOrder, WorkOrder
from tests.app.console.console_support import Console
from tests.app.console.warnings_support import (
    plant_warning,
    warning_events,
    warning_row,
)

RISK = {"score": 72, "same_place_disputes": 2, "waited_hours": 5.5,
        "reasons": [{"code": "threat", "points": 40, "text": "描述中有暴力威胁：“要弄死他”"},
                    {"code": "repeat_place", "points": 20, "text": "同一地点90天内第3次纠纷"}]}


def _flash(response) -> str:
    cookie = next((c for c in response.headers.get_list("set-cookie")
                   if c.startswith("wb_flash=")), "")
    return unquote(cookie.partition("=")[2].partition(";")[0])


@pytest.fixture
def dispatcher(console: Console):
    return console.sign_in("dispatcher")


def test_the_list_shows_open_first_most_severe_first_within_the_dispatchers_areas(
        console, dispatcher):
    api = console.api
    number = api.report()["number"]
    t0 = api.world.clock
    closed = plant_warning(console, "repeat", "urgent", state="closed", at=t0,
                           explanation="已关闭的重复诉求。")
    old_attention = plant_warning(console, "hotspot", "attention", category=None,
                                  at=t0 - timedelta(hours=3), explanation="热点：幸福里小区3号楼。")
    urgent = plant_warning(console, "dispute_risk", "urgent", details=RISK,
                           at=t0 - timedelta(hours=5), orders=[(number, "trigger")],
                           explanation="邻里纠纷风险评分72分，请尽快介入。")
    new_attention = plant_warning(console, "repeat", "attention", at=t0 - timedelta(hours=1),
                                  explanation="同一地点再次反映噪音。")
    far = plant_warning(console, "surge", "urgent", area_code="grid:qy-xz-01",
                        category="incident.water", explanation="西镇一网格 供排水问题 近3小时9件。")

    page = dispatcher.get("/console/warnings")
    assert page.status_code == 200
    text = page.text
    assert "研判预警" in text and "矛盾激化风险" in text and "东镇幸福里网格" in text
    assert "邻里纠纷" in text and "5小时前" in text
    assert f'href="/console/orders/{number}"' in text
    assert "西镇一网格 供排水问题" not in text  # another township's
    order = [text.index(f'href="/console/warnings/{w}"')
             for w in (urgent, new_attention, old_attention, closed)]
    assert order == sorted(order), "open first; urgent before attention; newest first"
    assert f'href="/console/warnings/{far}"' not in text

    everything = console.sign_in("supervisor").get("/console/warnings").text
    assert "西镇一网格 供排水问题" in everything


def test_filters_narrow_the_list_and_unknown_values_are_said(console, dispatcher):
    plant_warning(console, "surge", "urgent", category="incident.water",
                  explanation="供排水问题 近3小时9件。")
    plant_warning(console, "repeat", "attention", explanation="重复反映噪音。")
    page = dispatcher.get("/console/warnings", params={"kind": "surge"}).text
    assert "近3小时9件" in page and "重复反映噪音" not in page
    assert "清除筛选" in page
    page = dispatcher.get("/console/warnings", params={"level": "attention", "state": "open"}).text
    assert "重复反映噪音" in page and "近3小时9件" not in page
    odd = dispatcher.get("/console/warnings", params={"kind": "flood"}).text
    assert "无法识别" in odd and "预警类型" in odd and "近3小时9件" in odd
    none = dispatcher.get("/console/warnings", params={"state": "closed"}).text
    assert "没有符合条件的预警" in none
    # an area outside the dispatcher's is refused, like the order list
    assert dispatcher.get("/console/warnings",
                          params={"area": "grid:qy-xz-01"}).status_code == 403
    assert "重复反映噪音" in dispatcher.get(
        "/console/warnings", params={"area": "grid:qy-dz-01"}).text


def test_the_list_is_paginated(console, dispatcher):
    t0 = console.api.world.clock
    for i in range(25):
        plant_warning(console, "repeat", "attention", at=t0 - timedelta(minutes=i),
                      explanation=f"第{i:02d}条重复诉求。")
    first = dispatcher.get("/console/warnings").text
    assert "第00条" in first and "第19条" in first and "第20条" not in first
    assert "共 25 条" in first and "下一页" in first
    second = dispatcher.get("/console/warnings", params={"offset": 20}).text
    assert "第20条" in second and "第24条" in second and "第00条" not in second
    assert "上一页" in second


def test_handlers_never_see_warnings_and_the_nav_badge_counts_open_ones(console, dispatcher):
    wid = plant_warning(console, "repeat", "warning")
    plant_warning(console, "repeat", "attention", state="acknowledged")
    plant_warning(console, "surge", "urgent", area_code="grid:qy-xz-01")
    handler = console.sign_in("handler")
    for path in ("/console/warnings", f"/console/warnings/{wid}", "/console/warnings/badge",
                 "/console/reports"):
        assert handler.get(path).status_code == 403, path
    refused = handler.post(f"/console/warnings/{wid}/ack", {"note": "看过了"})
    assert refused.status_code == 403
    assert warning_row(console, wid).state == "open"
    assert "研判预警" not in handler.get("/console/my").text

    todo = dispatcher.get("/console/todo").text
    assert 'href="/console/warnings"' in todo and 'hx-get="/console/warnings/badge"' in todo
    badge = dispatcher.get("/console/warnings/badge")
    assert badge.status_code == 200
    assert re.search(r'class="nav-count"[^>]*>1<', badge.text), badge.text  # not 西镇's, not acked
    assert ">2<" in console.sign_in("supervisor").get("/console/warnings/badge").text
    assert 'href="/console/warnings"' in console.sign_in("supervisor").get(
        "/console/dashboard").text
    assert console.sign_in("far_dispatcher").get("/console/warnings/badge").text.count(">1<") == 1


def test_a_warnings_page_shows_its_reasons_orders_and_history(console, dispatcher):
    api = console.api
    number = api.report()["number"]
    earlier = api.report(location_text="幸福里小区三号楼")["number"]
    wid = plant_warning(console, "dispute_risk", "urgent", details=RISK,
                        orders=[(number, "trigger"), (earlier, "earlier")],
                        explanation="邻里纠纷风险评分72分，请尽快介入。")
    page = dispatcher.get(f"/console/warnings/{wid}")
    assert page.status_code == 200
    text = page.text
    assert "矛盾激化风险" in text and "紧急" in text and "待处理" in text
    assert "邻里纠纷风险评分72分" in text
    assert "描述中有暴力威胁：“要弄死他”" in text and "+40分" in text
    assert "风险评分" in text and "同一地点此前纠纷（件）" in text and "5.5" in text
    assert f'href="/console/orders/{number}"' in text and f'href="/console/orders/{earlier}"' in text
    assert "本次工单" in text and "此前工单" in text
    assert "发出预警" in text and "系统" in text
    assert f'action="/console/warnings/{wid}/ack"' in text
    assert f'action="/console/warnings/{wid}/close"' in text
    assert "合并为主工单" not in text  # only a surge
    far = console.sign_in("far_dispatcher")
    assert far.get(f"/console/warnings/{wid}").status_code == 404
    assert dispatcher.get("/console/warnings/999999").status_code == 404


def test_acknowledging_needs_a_note_and_records_it(any_console):
    console = any_console
    dispatcher = console.sign_in("dispatcher")
    wid = plant_warning(console, "repeat", "warning")
    empty = dispatcher.post(f"/console/warnings/{wid}/ack", {"note": "  "})
    assert empty.status_code == 303 and empty.headers["location"] == f"/console/warnings/{wid}"
    assert _flash(empty).startswith("error|")
    assert warning_row(console, wid).state == "open"

    done = dispatcher.post(f"/console/warnings/{wid}/ack", {"note": "已联系网格员上门查看"})
    assert done.status_code == 303 and _flash(done).startswith("ok|")
    row = warning_row(console, wid)
    assert row.state == "acknowledged" and row.ack_note == "已联系网格员上门查看"
    assert row.acknowledged_by == "staff:dispatcher"
    assert ("acknowledge", "staff:dispatcher", "已联系网格员上门查看") in warning_events(
        console, wid)
    page = dispatcher.get(f"/console/warnings/{wid}").text
    assert "已知悉" in page and "已联系网格员上门查看" in page
    assert f"/console/warnings/{wid}/ack" not in page  # acknowledged once
    assert f"/console/warnings/{wid}/close" in page

    # another township's dispatcher cannot reach it
    far = console.sign_in("far_dispatcher")
    assert far.post(f"/console/warnings/{wid}/close", {"note": "关闭"}).status_code in (303, 404)
    assert warning_row(console, wid).state == "acknowledged"


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(console, dispatcher):
    wid = plant_warning(console, "repeat", "warning")
    refused = dispatcher.post(f"/console/warnings/{wid}/ack", {"note": "知道了"}, csrf=False)
    assert refused.status_code == 403
    forged = dispatcher.post(f"/console/warnings/{wid}/close",
                             {"note": "关闭", "csrf_token": "x" * 43})
    assert forged.status_code == 403
    assert warning_row(console, wid).state == "open"
    assert [a for a, _, _ in warning_events(console, wid)] == ["raise"]


def test_supervisors_acknowledge_and_close_but_do_not_link(console):
    api = console.api
    numbers = [api.report(category="incident.water", description="水管爆了，楼道里全是水。")["number"]
               for _ in range(2)]
    wid = plant_warning(console, "surge", "urgent", category="incident.water",
                        orders=[(n, "member") for n in numbers],
                        details={"observed": 9, "expected": 0.4, "window_hours": 3,
                                 "usual_per_day": 1.0, "p_value": 0.00001})
    supervisor = console.sign_in("supervisor")
    page = supervisor.get(f"/console/warnings/{wid}").text
    assert "本时段反映数" in page and "平时每天约" in page and "小于万分之一" in page
    assert "合并为主工单" not in page
    # the order pages are the dispatchers': the numbers are shown, not linked
    assert numbers[0] in page and f'href="/console/orders/{numbers[0]}"' not in page
    assert supervisor.post(f"/console/warnings/{wid}/link", {}).status_code == 403
    ack = supervisor.post(f"/console/warnings/{wid}/ack", {"note": "请东镇调度员跟进"})
    assert _flash(ack).startswith("ok|")
    closed = supervisor.post(f"/console/warnings/{wid}/close", {"note": "爆管已修复"})
    assert _flash(closed).startswith("ok|")
    row = warning_row(console, wid)
    assert row.state == "closed" and row.close_note == "爆管已修复"
    assert row.closed_by == "staff:supervisor"
    again = supervisor.post(f"/console/warnings/{wid}/close", {"note": "再关一次"})
    assert _flash(again).startswith("error|")
    page = supervisor.get(f"/console/warnings/{wid}").text
    assert "已关闭" in page and "爆管已修复" in page and "请东镇调度员跟进" in page


def test_a_dispatcher_merges_a_surge_under_a_parent_order(console, dispatcher):
    api = console.api
    numbers = []
    for _ in range(3):
        numbers.append(api.report(category="incident.water",
                                  description="小区水管爆裂，到处是水。")["number"])
        api.tick(minutes=5)
    wid = plant_warning(console, "surge", "urgent", category="incident.water",
                        orders=[(n, "member") for n in numbers],
                        explanation="东镇幸福里网格 供排水问题 近3小时3件（平时每天约0.2件）")
    page = dispatcher.get(f"/console/warnings/{wid}").text
    assert "合并为主工单" in page and "最早的未办结工单" in page
    assert all(f'<option value="{n}"' in page for n in numbers)
    merged = dispatcher.post(f"/console/warnings/{wid}/link", {"parent_number": numbers[1]})
    assert merged.status_code == 303 and _flash(merged).startswith("ok|"), _flash(merged)
    row = warning_row(console, wid)
    parent = api.row(numbers[1])
    assert row.order_id == parent.id
    children = [api.row(n) for n in (numbers[0], numbers[2])]
    assert all(isinstance(c, WorkOrder) and c.parent_id == parent.id for c in children)
    assert "link" in [a for a, _, _ in warning_events(console, wid)]
    after = dispatcher.get(f"/console/warnings/{wid}").text
    assert "主工单" in after and f'href="/console/orders/{numbers[1]}"' in after
    assert f"/console/warnings/{wid}/link" not in after  # linked once


def test_more_reports_after_a_merge_are_offered_to_the_same_parent(console, dispatcher):
    api = console.api
    numbers = []
    for _ in range(3):
        numbers.append(api.report(category="incident.water",
                                  description="小区水管爆裂，到处是水。")["number"])
        api.tick(minutes=5)
    wid = plant_warning(console, "surge", "urgent", category="incident.water",
                        orders=[(n, "member") for n in numbers[:2]])
    first = dispatcher.post(f"/console/warnings/{wid}/link", {"parent_number": ""})
    assert _flash(first).startswith("ok|"), _flash(first)
    parent = api.row(numbers[0])  # the earliest open one by default
    assert api.row(numbers[1]).parent_id == parent.id
    assert f"/console/warnings/{wid}/link" not in dispatcher.get(f"/console/warnings/{wid}").text

    with api.world.db.session() as s:  # the scan adds the third report to the surge
        s.add(WarningOrder(warning_id=wid, order_id=api.row(numbers[2]).id, role="member",
                           added_at=api.world.clock))
        s.add(WarningEvent(warning_id=wid, action="update", actor="system",
                           at=api.world.clock, level="urgent", note=None))
        s.commit()
    page = dispatcher.get(f"/console/warnings/{wid}").text
    assert "又有新的反映加入" in page and f"/console/warnings/{wid}/link" in page
    again = dispatcher.post(f"/console/warnings/{wid}/link", {})
    assert _flash(again).startswith("ok|"), _flash(again)
    assert api.row(numbers[2]).parent_id == parent.id


def test_a_surge_of_disputes_is_not_offered_for_merging(console, dispatcher):
    api = console.api
    numbers = [api.report()["number"] for _ in range(2)]
    wid = plant_warning(console, "surge", "warning", orders=[(n, "member") for n in numbers])
    page = dispatcher.get(f"/console/warnings/{wid}").text
    assert "合并为主工单" not in page
    refused = dispatcher.post(f"/console/warnings/{wid}/link", {})
    assert _flash(refused).startswith("error|")  # the service says why
    assert all(api.row(n).parent_id is None for n in numbers)
