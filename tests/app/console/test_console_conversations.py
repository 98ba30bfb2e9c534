"""The 居民对话 panel of the supervisors' dashboard (数据看板): residents' conversations with
the bot per channel, from planted ``conversations`` rows (see ``conversation_rows``)."""

from __future__ import annotations

import re
from datetime import timedelta

from integrations.workorders.service.conversations import record_events
from tests.app.api.conversation_rows import plant_conversations
from tests.app.console.console_support import Console
from tests.app.rasa_events import Talk, completed_report, dropped_report
from tests.app.world import T0

PERIOD = {"period": "custom", "from": "2025-03-01", "to": "2025-03-02"}


def _panel(text: str) -> str:
    found = re.search(r'<section[^>]*data-panel="conversations".*?</section>', text, re.S)
    assert found, "no 居民对话 panel"
    return found.group(0)


def _row(panel: str, channel: str) -> dict[str, str]:
    """The cells of one channel's row (``all``: the total), tags stripped."""
    found = re.search(rf'<tr data-channel="{channel}">(.*?)</tr>', panel, re.S)
    assert found, f"no row {channel}"
    cells = re.findall(r'<td(?: data-conv="([a-z_]+)")?>(.*?)</td>', found.group(1), re.S)
    return {name or "label": re.sub(r"<[^>]+>", " ", value).strip() for name, value in cells}


def test_the_panel_shows_each_channels_figures(any_console: Console):
    plant_conversations(any_console.api.world.db)
    page = any_console.sign_in("supervisor").get("/console/dashboard", params=PERIOD)
    assert page.status_code == 200, page.text
    panel = _panel(page.text)
    assert "居民对话" in panel and "暂无居民对话数据" not in panel
    for header in ("对话数", "报事完成率", "在哪一步放弃", "未听懂率", "转人工率", "中位轮数",
                   "拿到工单号的中位时间"):
        assert f"<th>{header}</th>" in panel, header
    tg = _row(panel, "tg")
    assert tg["label"] == "Telegram"
    assert tg["conversations"] == "5"
    assert tg["completion_rate"].split() == ["75.0%", "3", "/", "4"]
    assert tg["dropouts"] == "具体地点 1"
    assert (tg["fallback_rate"], tg["handoff_rate"]) == ("20.0%", "20.0%")
    assert (tg["median_turns"], tg["median_seconds_to_order"]) == ("4轮", "2.0分钟")
    web = _row(panel, "web")
    assert (web["label"], web["conversations"], web["dropouts"]) == ("网页", "3", "联系电话 1")
    assert (web["completion_rate"].split()[0], web["handoff_rate"]) == ("50.0%", "33.3%")
    assert web["median_seconds_to_order"] == "90秒"
    voice = _row(panel, "voice")
    assert (voice["label"], voice["conversations"], voice["dropouts"]) == ("电话", "1", "—")
    assert voice["median_seconds_to_order"] == "30秒"
    total = _row(panel, "all")
    assert (total["label"], total["conversations"]) == ("合计", "9")
    assert total["completion_rate"].split()[0] == "71.4%"
    assert total["dropouts"] in ("具体地点 1、联系电话 1", "联系电话 1、具体地点 1")
    assert (total["fallback_rate"], total["handoff_rate"]) == ("20.0%", "22.2%")
    assert total["median_turns"] == "4轮"
    # a wider period reaches the caller who stopped at the danger question in February
    wider = _panel(any_console.sign_in("admin").get(
        "/console/dashboard", params={"period": "month", "date": "2025-02-10"}).text)
    assert _row(wider, "voice")["dropouts"] == "是否有危险 1"
    assert 'data-channel="tg"' not in wider


def test_rasa_events_folded_by_the_analytics_service_reach_the_panel(console: Console):
    """The consumer's path (``record_events``) rather than planted rows: a report made
    on Telegram, one left at the place question, a caller handed off."""
    start = (T0 - timedelta(hours=2)).timestamp()  # 07:00 China time; the clock is 09:00
    events = [*completed_report("tg:201", start, number="57409999").events,
              *dropped_report("tg:202", start + 60).events,
              *Talk("voice:h:" + "c" * 32, start + 120).start_report().ask_human(in_form=True).events]
    assert record_events(console.api.world.db.uow(), events, now=console.api.world.clock) > 0
    page = console.sign_in("supervisor").get(
        "/console/dashboard", params={"period": "day", "date": "2025-03-03"})
    panel = _panel(page.text)
    tg = _row(panel, "tg")
    assert tg["conversations"] == "2"
    assert tg["completion_rate"].split() == ["50.0%", "1", "/", "2"]
    assert tg["dropouts"] == "具体地点 1"
    assert tg["median_seconds_to_order"] != "—" and tg["handoff_rate"] == "0.0%"
    voice = _row(panel, "voice")
    assert (voice["conversations"], voice["handoff_rate"]) == ("1", "100.0%")
    assert _row(panel, "all")["conversations"] == "3"


def test_without_conversations_the_panel_says_where_they_come_from(console: Console):
    page = console.sign_in("supervisor").get("/console/dashboard", params=PERIOD)
    panel = _panel(page.text)
    assert 'data-conversations="empty"' in panel
    assert "暂无居民对话数据" in panel and "make run-scaled" in panel
    assert "<table" not in panel
    # a custom period over 366 days (the dashboard allows three years) shows no figures
    plant_conversations(console.api.world.db)
    long = console.sign_in("admin").get("/console/dashboard", params={
        "period": "custom", "from": "2023-03-01", "to": "2025-03-02"})
    assert long.status_code == 200
    assert 'data-kpi="created"' in long.text  # the work-order figures are there
    panel = _panel(long.text)
    assert "居民对话最长统计366天" in panel and "<table" not in panel


def test_only_supervisors_and_admins_see_the_panel(console: Console):
    plant_conversations(console.api.world.db)
    for name in ("dispatcher", "handler"):
        browser = console.sign_in(name)
        refused = browser.get("/console/dashboard", params=PERIOD)
        assert refused.status_code == 403, name
        assert "居民对话" not in refused.text
        home = browser.get("/console/")
        assert home.status_code == 200 and "居民对话" not in home.text, name
    # the monthly report (printed) keeps to work orders
    monthly = console.sign_in("supervisor").get("/console/report/monthly",
                                                params={"month": "2025-03"})
    assert monthly.status_code == 200 and 'data-panel="conversations"' not in monthly.text
