"""GET /api/v1/metrics/conversations: residents' conversations with the bot, from the
``conversations`` table (planted rows; the clock is 2025-03-03 09:00 China time)."""

from __future__ import annotations

import pytest
from api_support import BOT_ROLES
from conversation_rows import add_conversation, plant_conversations

PATH = "/api/v1/metrics/conversations"
PERIOD = {"since": "2025-03-01", "until": "2025-03-02"}


def close(rate: float):
    """Rates come rounded to 4 decimals."""
    return pytest.approx(rate, abs=1e-4)


def test_supervisors_and_admins_read_it_nobody_else(api):
    api.link_staff_chats()
    for who in ("supervisor", "admin"):
        response = api.get(who, PATH)
        assert response.status_code == 200, (who, response.text)
    for who in ("dispatcher", "far_dispatcher", "handler", "actions", "telegram", *BOT_ROLES):
        response = api.get(who, PATH)
        assert response.status_code == 403, (who, response.text)
        assert response.json()["detail"]["reason_zh"], who
    anonymous = api.get(None, PATH)
    assert anonymous.status_code == 401
    assert anonymous.headers["WWW-Authenticate"] == "Bearer"


@pytest.mark.parametrize(("params", "field", "reason_zh"), [
    ({"since": "2025-13-01"}, "since", "开始日期不是有效的日期，格式应为YYYY-MM-DD"),
    ({"until": "yesterday"}, "until", "结束日期不是有效的日期，格式应为YYYY-MM-DD"),
    ({"since": "2025-03-02", "until": "2025-03-01"}, "since", "开始日期不能晚于结束日期。"),
    ({"since": "2024-03-01", "until": "2025-03-02"}, "until", "查询范围不能超过366天。"),
    ({"since": "2024-03-02", "until": "2025-03-03"}, "until", "查询范围不能超过366天。"),
    ({"channel": "sms"}, "channel", "渠道的取值不正确，可选：web、tg、voice"),
    ({"channel": ""}, "channel", "渠道的取值不正确，可选：web、tg、voice"),
])
def test_wrong_periods_and_channels_are_422_with_a_reason(api, params, field, reason_zh):
    response = api.get("supervisor", PATH, params=params)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert detail["field"] == field
    assert detail["reason_zh"] == reason_zh
    assert detail["reason"]  # English, for developers


def test_a_year_of_366_days_is_allowed_and_the_default_is_the_last_7_days(api):
    leap = api.get("supervisor", PATH, params={"since": "2024-03-03", "until": "2025-03-03"})
    assert leap.status_code == 200, leap.text
    default = api.get("supervisor", PATH).json()
    assert (default["since"], default["until"]) == ("2025-02-25", "2025-03-03")
    only_until = api.get("supervisor", PATH, params={"until": "2025-01-31"}).json()
    assert (only_until["since"], only_until["until"]) == ("2025-01-25", "2025-01-31")
    assert default["totals"]["conversations"] == 0
    assert default["totals"]["completion_rate"] is None and default["totals"]["median_turns"] is None


def test_the_figures_of_planted_conversations(any_api):
    api = any_api
    plant_conversations(api.world.db)
    response = api.get("supervisor", PATH, params=PERIOD)
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["since"], body["until"], body["channel"]) == ("2025-03-01", "2025-03-02", None)
    totals = body["totals"]
    assert (totals["conversations"], totals["reports_started"], totals["reports_opened"]) == (9, 7, 5)
    assert totals["completion_rate"] == close(5 / 7)
    assert totals["dropouts"] == {"location": 1, "contact": 1}
    assert totals["fallback_rate"] == close(7 / 35)
    assert totals["handoff_rate"] == close(2 / 9)
    assert totals["median_turns"] == 4
    assert totals["median_seconds_to_order"] == 90
    per_day = {(d["day"], d["channel"]): d for d in body["days"] if d["conversations"]}
    assert {k: d["conversations"] for k, d in per_day.items()} == {
        ("2025-03-01", "tg"): 3, ("2025-03-01", "voice"): 1,
        ("2025-03-02", "tg"): 2, ("2025-03-02", "web"): 3}
    assert per_day[("2025-03-01", "tg")]["dropouts"] == {"location": 1}
    assert per_day[("2025-03-02", "web")]["handoff_rate"] == close(1 / 3)
    # the Chinese labels come along
    assert body["labels_zh"]["completion_rate"] == "报事完成率"
    assert body["questions_zh"]["location"] == "具体地点"
    assert body["channels_zh"]["tg"] == "Telegram"

    tg = api.get("admin", PATH, params={**PERIOD, "channel": "tg"}).json()
    assert tg["channel"] == "tg" and {d["channel"] for d in tg["days"]} == {"tg"}
    t = tg["totals"]
    assert (t["conversations"], t["reports_started"], t["reports_opened"]) == (5, 4, 3)
    assert t["completion_rate"] == close(0.75)
    assert t["dropouts"] == {"location": 1}
    assert t["fallback_rate"] == close(0.2)
    assert t["handoff_rate"] == close(0.2)
    assert (t["median_turns"], t["median_seconds_to_order"]) == (4, 120)

    web = api.get("supervisor", PATH, params={**PERIOD, "channel": "web"}).json()["totals"]
    assert (web["conversations"], web["completion_rate"], web["dropouts"]) == (3, 0.5, {"contact": 1})
    assert web["fallback_rate"] == close(0.25)
    assert (web["median_turns"], web["median_seconds_to_order"]) == (4, 90)

    # the caller's earlier conversation counts once the period reaches back to it
    wider = api.get("supervisor", PATH, params={"since": "2025-02-20", "until": "2025-03-02",
                                                "channel": "voice"}).json()["totals"]
    assert wider["conversations"] == 2 and wider["dropouts"] == {"danger": 1}
    assert wider["completion_rate"] == 0.5
    # the default period (the last 7 days) holds the 9 of March
    assert api.get("supervisor", PATH).json()["totals"]["conversations"] == 9


def test_a_conversation_counts_on_its_china_day(api):
    # 23:30 China time on 2 March is still 2 March (15:30 UTC)
    add_conversation(api.world.db, "tg:late", "2025-03-02 23:30", turns=2)
    add_conversation(api.world.db, "tg:early", "2025-03-03 00:10", turns=2)
    second = api.get("supervisor", PATH, params={"since": "2025-03-02", "until": "2025-03-02"})
    assert second.json()["totals"]["conversations"] == 1
    both = api.get("supervisor", PATH, params={"since": "2025-03-02", "until": "2025-03-03"})
    assert both.json()["totals"]["conversations"] == 2


def test_the_endpoint_is_in_the_openapi_schema(api):
    schema = api.client.get("/openapi.json").json()
    operation = schema["paths"][PATH]["get"]
    params = {p["name"]: p for p in operation["parameters"]}
    assert set(params) >= {"since", "until", "channel"}
    assert {"401", "403", "422"} <= set(operation["responses"])
