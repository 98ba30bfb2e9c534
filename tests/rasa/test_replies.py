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


def test_readback_mentions_the_shared_location_and_photos():
    text = replies.readback("公共设施损坏", "路灯坏了", "幸福里小区3号楼", "none", None,
                            photos=2, located=True)
    assert text == ("我核对一下：您反映的是公共设施损坏：路灯坏了；地点：幸福里小区3号楼；附定位；"
                    "附照片2张；不留联系方式。对吗？")
    assert "照片" not in replies.readback(None, "吵", "2号楼", "none", None)


def test_photo_and_location_texts():
    assert replies.PHOTO_KEPT == "收到照片，会随工单一起提交。"
    assert replies.LOCATION_KEPT == "收到您的定位，会随工单一起提交。"
    assert replies.LOCATION_ASK_PLACE == "收到您的定位。请再说一下是哪个小区、哪栋楼，方便派给当地工作人员。"
    assert replies.PHOTO_STARTS_REPORT == "收到照片。请问发生了什么事？在哪里？"
    assert replies.photo_added("38291047") == "照片已补充到工单 38291047。如果是新的问题，请直接告诉我。"
    assert replies.location_added("38291047") == "定位已补充到工单 38291047。"
    assert replies.too_many_photos(5) == "一次反映最多附5张照片，这张就不附上了。"
    assert replies.media_not_added("照片", "38291047", "每个工单最多添加10张照片。") == (
        "抱歉，照片没能补充到工单 38291047：每个工单最多添加10张照片。如果是新的问题，请直接告诉我。")
    assert "不会丢失" in replies.media_kept_while_down("照片")
    assert replies.photos_not_sent("照片已失效，请重新发送。") == "另外，照片没能一起提交：照片已失效，请重新发送。"  # noqa: E501  (Chinese text counts double)


def test_buttons_send_their_title_as_the_payload():
    assert replies.buttons(replies.CONFIRM_BUTTONS) == [{"title": "对", "payload": "对"},
                                                        {"title": "不对", "payload": "不对"}]
    assert [b["payload"] for b in replies.buttons(replies.SATISFACTION_BUTTONS)] == [
        "满意", "基本满意", "不满意"]
