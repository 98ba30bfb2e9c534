"""The sentences built from data (actions/replies.py)."""
from __future__ import annotations

from datetime import datetime, timezone

from actions import replies

NOW = datetime(2026, 11, 22, 2, 0, tzinfo=timezone.utc)  # 10:00 in China


def test_times_read_in_china_time_relative_to_today():
    assert replies.when("2026-11-22T10:00:00+00:00", NOW) == "今天18:00"
    assert replies.when("2026-11-23T01:30:00Z", NOW) == "明天9:30"
    assert replies.when("2026-11-25T10:00:00+00:00", NOW) == "11月25日18:00"
    assert replies.when(None, NOW) is None
    assert replies.when("not a time", NOW) is None


def test_readback_names_category_place_and_contact():
    text = replies.readback("公共设施损坏", "路灯坏了", "幸福里小区3号楼", "phone", "13812345678")
    assert text == ("我核对一下：您反映的是公共设施损坏：路灯坏了；地点：幸福里小区3号楼；"
                    "联系电话：13812345678。对吗？")
    assert "匿名反映" in replies.readback(None, "吵", "2号楼", "anonymous", None)


def test_order_opened_says_number_who_and_by_when():
    order = {"number": "38291047", "priority": "normal", "handler_role": "网格员",
             "resolve_by": "2026-11-25T10:00:00+00:00"}
    assert replies.order_opened(order, NOW) == (
        "已为您登记，工单号 38291047。已安排网格员处理，预计11月25日18:00前办结，有进展会在这里通知您。")
    urgent = {**order, "priority": "urgent"}
    assert "紧急" in replies.order_opened(urgent, NOW) and "38291047" in replies.order_opened(urgent, NOW)
    queued = {**order, "handler_role": None}
    assert "工作人员会尽快安排处理" in replies.order_opened(queued, NOW)


def test_status_shows_label_role_deadline_and_latest_note():
    order = {"number": "38291047", "category_name": "公共设施损坏", "location_text": "幸福里3号楼",
             "status": "in_progress", "label": "处理中", "handler_role": "网格员",
             "resolve_by": "2026-11-22T10:00:00+00:00", "latest_note": "已联系电工，明早更换灯泡",
             "awaiting_satisfaction": False}
    assert replies.status(order, NOW) == (
        "工单 38291047（公共设施损坏，幸福里3号楼）目前处理中，由网格员处理，预计今天18:00前办结。"
        "处理人员最新说明：已联系电工，明早更换灯泡。")
    resolved = {**order, "status": "resolved", "label": "已办结", "awaiting_satisfaction": True}
    text = replies.status(resolved, NOW)
    assert "已办结" in text and "满意" in text and "预计" not in text


def test_emergency_advice_names_every_number():
    assert "119火警" in replies.emergency_advice(["119"])
    assert "110报警、120急救" in replies.emergency_advice(["110", "120"])
