"""The scaled system end to end: two of every process behind haproxy, on the servers.

The package's one stack (tests/app/scaled/conftest.py). A resident's report
through the balancer opens one order in PostgreSQL and leaves its tracker in
the PostgreSQL tracker database; both Rasa instances serve turns; and when the
Rasa instance that served a resident's turn is killed (SIGKILL) in the middle
of the report, the other one answers the next message and the form goes on
where it was, so the report still opens exactly one order.
"""
from __future__ import annotations

import time

import psycopg
import pytest

from tests.app.e2e.e2e_support import format_orders, orders_for
from tools.scaled import analytics_installed
from tools.scaled_stack import ScaledStack

pytestmark = pytest.mark.slow

FIRST = "楼上邻居天天半夜装修，吵得睡不着"
PLACE = "阳光花园小区6号楼"
NO_PHONE = "不用"
CONFIRM = "对"


def tracker_events(stack: ScaledStack, sender: str) -> list[tuple[str, str | None]]:
    """(type_name, the user's text or None) of the sender's events in the tracker database."""
    with psycopg.connect(stack.tracker_database_url) as conn:
        rows = conn.execute(
            "SELECT type_name, data::json->>'text' FROM events WHERE sender_id = %s ORDER BY id",
            (sender,)).fetchall()
    return [(t, text) for t, text in rows]


class Conversation:
    """One resident through the balancer, with what each turn answered and who served it."""

    def __init__(self, stack: ScaledStack, sender: str) -> None:
        self.stack = stack
        self.sender = sender
        self.turns: list[tuple[str, list[str], str]] = []

    def say(self, text: str) -> str:
        rasa = self.stack.instances("rasa")
        before = {n: self.stack.served(n) for n in rasa if self.stack.running(n)}
        replies = self.stack.say(self.sender, text)
        after = {n: self.stack.served(n) for n in before}
        served_by = ",".join(n for n in before if after[n] > before[n]) or "?"
        self.turns.append((text, replies, served_by))
        return "\n".join(replies)

    def context(self) -> str:
        lines = [f"{self.sender} > {text}  [{who}]\n    " + "\n    ".join(replies)
                 for text, replies, who in self.turns]
        return "\n".join([*lines, format_orders(orders_for(self.stack.database_url, self.sender)),
                          *(self.stack.log_tail(n, 12) for n in self.stack.instances("rasa"))])


def test_the_scaled_system_starts_every_process_twice_behind_haproxy(scaled):
    names = {s.name for s in scaled.plan}
    expected = {f"{kind}-{n}" for kind in ("workorders-api", "notifier", "sweeper", "actions",
                                           "rasa") for n in (1, 2)} | {"balancer"}
    if analytics_installed():
        expected.add("conversations-1")
    if scaled.settings.voice is not None:  # the shared stack's phone-line gateways
        expected |= {"voice-1", "voice-2"}
    assert names == expected
    assert scaled.dead_services() == []
    assert all(scaled.running(name) for name in names)
    for name in [*scaled.instances("rasa"), *scaled.instances("api"),
                 *scaled.instances("actions")]:
        assert scaled.balancer_status(name) == "UP", name
    # the balancer's frontends answer: the API's health, Rasa's version page
    import httpx
    assert httpx.get(f"{scaled.api_url}/health", timeout=10).status_code == 200
    assert httpx.get(scaled.rasa_url, timeout=10).status_code == 200
    # every process reaches the servers through the proxies
    assert scaled.pg_proxy is not None and scaled.pg_proxy.accepted > 0
    assert scaled.redis_proxy is not None and scaled.redis_proxy.accepted > 0
    assert scaled.rabbit_proxy is not None and scaled.rabbit_proxy.accepted > 0


def test_a_report_through_the_balancer_opens_one_order_in_postgresql(scaled):
    talk = Conversation(scaled, "web:scaled-report")
    assert "什么地方" in talk.say(FIRST), talk.context()
    assert "手机号" in talk.say(PLACE), talk.context()
    summary = talk.say(NO_PHONE)
    assert "对吗" in summary and PLACE in summary, talk.context()
    done = talk.say(CONFIRM)
    orders = orders_for(scaled.database_url, talk.sender)
    assert len(orders) == 1, talk.context()
    assert orders[0]["number"] in done, talk.context()
    assert (orders[0]["category"], orders[0]["area_code"]) == ("dispute.neighbor",
                                                               "grid:cg-yangguang"), talk.context()
    # the conversation is in the PostgreSQL tracker store, every turn of it
    said = [text for kind, text in tracker_events(scaled, talk.sender) if kind == "user"]
    assert said == [FIRST, PLACE, NO_PHONE, CONFIRM], talk.context()
    # and its events went through RabbitMQ: to the analytics consumer, else still queued
    if analytics_installed():
        deadline = time.monotonic() + 30
        while (users := [t for t, _ in analytics_events(scaled, talk.sender)].count("user")) < 4 \
                and time.monotonic() < deadline:
            time.sleep(0.5)
        assert users == 4, talk.context() + scaled.log_tail("conversations-1")
    else:
        assert scaled.queued_events() >= 4


def analytics_events(stack: ScaledStack, sender: str) -> list[tuple[str, str | None]]:
    with psycopg.connect(stack.database_url.replace("+psycopg", "")) as conn:
        return conn.execute("SELECT type, value FROM conversation_events WHERE sender_id = %s",
                            (sender,)).fetchall()


def test_both_rasa_instances_serve_turns(scaled):
    talk = Conversation(scaled, "web:scaled-both")
    for _ in range(4):
        talk.say("你好")
    served = {name: scaled.served(name) for name in scaled.instances("rasa")}
    assert all(count > 0 for count in served.values()), (served, talk.context())
    assert {who for _, _, who in talk.turns} == {"rasa-1", "rasa-2"}, talk.context()
    # the action servers and the API instances are shared the same way
    for name in [*scaled.instances("actions"), *scaled.instances("api")]:
        assert scaled.served(name) > 0, name


def test_killing_the_rasa_instance_mid_report_the_other_one_goes_on(scaled):
    talk = Conversation(scaled, "web:scaled-kill")
    assert "什么地方" in talk.say(FIRST), talk.context()
    victim = talk.turns[-1][2]
    assert victim in scaled.instances("rasa"), talk.context()
    scaled.kill(victim)
    assert not scaled.running(victim)
    # the next message through the balancer: the other instance, the same form
    asked = talk.say(PLACE)
    assert talk.turns[-1][2] not in ("?", victim), talk.context()
    assert "手机号" in asked and "什么地方" not in asked, talk.context()
    summary = talk.say(NO_PHONE)
    assert "对吗" in summary and PLACE in summary and "邻里纠纷" in summary, talk.context()
    done = talk.say(CONFIRM)
    orders = orders_for(scaled.database_url, talk.sender)
    assert len(orders) == 1, talk.context()
    assert orders[0]["number"] in done and "装修" in orders[0]["description"], talk.context()
    # haproxy's health checks have taken the dead instance out
    deadline = time.monotonic() + 10
    while not scaled.balancer_status(victim).startswith("DOWN") and time.monotonic() < deadline:
        time.sleep(0.2)
    assert scaled.balancer_status(victim).startswith("DOWN"), scaled.log_tail("balancer")
    assert scaled.dead_services() == []  # killed on purpose: not counted as died


def test_a_killed_action_server_is_started_again_and_taken_back_by_haproxy(scaled):
    # (an action server, not Rasa: one Rasa instance needs a minute or two to load again)
    scaled.kill("actions-1")
    assert not scaled.running("actions-1")
    replies = scaled.say("web:scaled-actions", "你好")  # the bot still answers
    assert replies
    scaled.start_service("actions-1")
    assert scaled.running("actions-1") and scaled.balancer_status("actions-1") == "UP"
    before = scaled.served("actions-1")
    talk = Conversation(scaled, "web:scaled-actions-back")
    talk.say(FIRST)
    talk.say(PLACE)
    assert scaled.served("actions-1") > before, talk.context()
