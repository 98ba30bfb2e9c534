"""End to end, 研判预警 on the real stack (Rasa's REST channel, the action server, the
work-order API, the sweeper that runs the warning scan, the notifier and the
Telegram channel against the Bot API emulator):

1. three residents report the same burst water pipe within minutes → exactly one
   surge warning (激增) listing the orders behind it;
2. a resident reports the broken street light a week after it was resolved, in
   other words (三号楼 vs 3号楼门口) → a repeat warning (重复诉求) naming the earlier
   order, and the new order starts at the township tier;
3. a neighbour dispute whose second message threatens violence (跟他拼了) → the bot
   asks whether it is the same matter and adds it to the resident's order → a
   dispute-at-risk warning (矛盾激化风险) that reaches the dispatcher's Telegram chat.

Everything is reported first, then each warning is polled for with a deadline,
so the waits overlap. The scan runs in the sweeper's loop (`sweep --interval 30`
in tools/run.py); the product's target is a warning within 60 s of the order,
the assertion allows 120 s on a loaded machine and prints what it measured.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from e2e_support import orders_for
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session
from telegram_stack import bot_emulator, stack_with_bots

from integrations.workorders.adapters.orm import OrderEvent, WorkOrder
from integrations.workorders.domain.audit import GENESIS, event_digest
from tests.staff_accounts import create_staff
from tests.telegram_emulator import BotApiEmulator
from tools.stack import Stack

pytestmark = pytest.mark.slow

RESIDENTS = "7400000001:e2e-warnings-residents-bot"
HANDLERS = "7400000002:e2e-warnings-handlers-bot"
DISPATCHER = "demo-dispatcher"
DISPATCHER_CHAT = 740_000_001
#: seconds a warning may take (the product's target is 60 s; the machine is loaded)
WARNING_DEADLINE_S = 120.0
WAIT_S = 60.0
POLL_S = 1.0
#: how long ago the street light's first order was resolved: "a week" (7天前), plus half a
#: day. The backdated order is the county's only history, and the surge prior's
#: hour-of-week profile, learned from that one order, puts most of a week's reports
#: into the hours of day it was made; at exactly 7 days those are the pipe reports'
#: hours, which would then look ordinary (see the report of this test's branch)
A_WEEK_AGO = timedelta(days=7, hours=12)

GRID = "grid:cg-xingfuli"
PIPE_REPORTS = (  # three residents, one burst main, said three ways
    ("web:e2e-pipe-1", "幸福里小区5号楼门口的自来水管破了，路上全是水"),
    ("web:e2e-pipe-2", "幸福里小区5号楼门口水管破裂了，水一直往外冒"),
    ("web:e2e-pipe-3", "幸福里小区6号楼旁边的供水管道破裂了，水漫到路上了"),
)
LIGHT = ("web:e2e-light-1", "幸福里小区3号楼门口的路灯坏了，晚上黑乎乎的")
LIGHT_AGAIN = ("web:e2e-light-2", "幸福里小区三号楼的路灯又不亮了，晚上走路看不见")
DISPUTE_SENDER = "web:e2e-corridor"
DISPUTE_FIRST = "对门邻居老是把鞋柜和杂物堆在楼道里，堵得过不去，说了好几次都不听"
DISPUTE_PLACE = "幸福里小区8号楼2单元"
DISPUTE_THREAT = "他再堵我就跟他拼了"


# ------------------------------------------------------------------ the stack


@pytest.fixture(scope="module")
def emu() -> Iterator[BotApiEmulator]:
    with bot_emulator(RESIDENTS, HANDLERS, "warnings_e2e") as emulator:
        yield emulator


@pytest.fixture(scope="module")
def stack(emu, tmp_path_factory) -> Iterator[Stack]:
    with stack_with_bots(emu, tmp_path_factory.mktemp("e2e-warnings"), RESIDENTS, HANDLERS) as running:
        yield running


def api(stack: Stack, username: str) -> httpx.Client:
    """A client of the work-order API signed in as a demo account."""
    return httpx.Client(base_url=stack.api_url, timeout=15,
                        headers={"Authorization": f"Bearer {stack.staff_token(username)}"})


# -------------------------------------------------------------- conversations


def converse(stack: Stack, sender: str, *turns: str) -> str:
    """Say each turn; the bot's replies to the last one, joined."""
    reply = ""
    for text in turns:
        reply = " ".join(stack.say(sender, text))
    return reply


def report(stack: Stack, sender: str, text: str, *, place: str | None = None) -> datetime:
    """A report through the REST channel up to the read-back confirmed with 对; when the
    turn that filed it was sent. A report of a place with an open order of the same
    incident is asked 同一件事吗: yes, it is added to that order (a co-report, counted
    by the surge scan). One the bot takes for an emergency is filed at once."""
    filed = datetime.now(UTC)
    reply = converse(stack, sender, text)
    if "工单号" in reply:
        return filed
    confirm = converse(stack, sender, *([place] if place else []), "不用了")
    assert "对吗" in confirm, confirm
    filed = datetime.now(UTC)
    reply = converse(stack, sender, "对")
    if "同一件事" in reply:
        filed = datetime.now(UTC)
        reply = converse(stack, sender, "是的")
        assert "补充到工单" in reply, reply
    else:
        assert "工单号" in reply, reply
    return filed


def newest_order(stack: Stack, sender: str) -> dict:
    orders = orders_for(stack.database_url, sender)
    assert orders, f"{sender} has no order"
    return orders[-1]


def order_row(stack: Stack, number: str) -> dict:
    engine = create_engine(stack.database_url)
    try:
        with Session(engine) as session:
            order = session.scalars(select(WorkOrder).where(WorkOrder.number == number)).one()
            return {"tier": order.tier, "status": order.status, "priority": order.priority,
                    "assignee_id": order.assignee_id}
    finally:
        engine.dispose()


def backdate_order(database_url: str, number: str, by: timedelta) -> None:
    """Move an order's whole history ``by`` into the past, as if it had happened then.

    The test cannot wait a week, so it rewrites the times in the test database:
    the order's timestamps (created, accepted, resolved, deadlines...) and its
    events' times. Each event's hash covers its time, so the chain is sealed
    again exactly as the service writes it (``domain.audit.event_digest`` over
    the previous hash), and ``/api/v1/audit/verify`` still finds it intact.
    """
    engine = create_engine(database_url)
    try:
        with Session(engine) as session, session.begin():
            order = session.scalars(select(WorkOrder).where(WorkOrder.number == number)).one()
            for column in ("created_at", "updated_at", "first_assigned_at", "accepted_at",
                           "resolved_at", "closed_at", "accept_by", "resolve_by",
                           "accept_reminded_at", "resolve_reminded_at", "overdue_notified_at"):
                value = getattr(order, column)
                if value is not None:
                    setattr(order, column, value - by)
            previous = GENESIS
            for event in session.scalars(select(OrderEvent).where(OrderEvent.order_id == order.id)
                                         .order_by(OrderEvent.seq)):
                event.at = event.at - by
                event.prev_hash = previous
                event.hash = event_digest(previous, {
                    "order_number": order.number, "seq": event.seq, "action": event.action,
                    "actor": event.actor, "at": event.at, "from_status": event.from_status,
                    "to_status": event.to_status, "note": event.note})
                previous = event.hash
            order.head_hash = previous
    finally:
        engine.dispose()


# ------------------------------------------------------------------- the plot


@dataclass
class Reported:
    """What the module reported, and when each warning's trigger was filed."""

    pipe_orders: set[str] = field(default_factory=set)
    pipe_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    earlier_light: str = ""
    light_resolver: str = ""
    new_light: str = ""
    light_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    dispute: str = ""
    dispute_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@pytest.fixture(scope="module")
def dispatcher_chat(stack: Stack, emu: BotApiEmulator) -> int:
    """The demo dispatcher links a Telegram chat in the handlers' bot with a one-time code
    (the real linking flow: a code for themself, /link in the chat)."""
    with api(stack, DISPATCHER) as client:
        issued = client.post("/api/v1/telegram/link-codes")
        assert issued.status_code == 201, issued.text
    before = time.monotonic()
    emu.user_sends(HANDLERS, DISPATCHER_CHAT, f"/link {issued.json()['code']}")
    emu.wait_sent_sync(lambda c: c.ok and c.at >= before and "绑定成功" in (c.text or ""),
                       token=HANDLERS, chat_id=DISPATCHER_CHAT, method="sendMessage",
                       timeout=WAIT_S)
    return DISPATCHER_CHAT


@pytest.fixture(scope="module")
def reported(stack: Stack, dispatcher_chat: int) -> Reported:
    """Every scenario's reports, before any waiting."""
    seen = Reported()

    # 2. the street light: reported, accepted and resolved by its handler, a week ago
    sender, text = LIGHT
    report(stack, sender, text)
    earlier = newest_order(stack, sender)
    handler = create_staff(stack.database_url, "e2e-warnings-handler", "handler",
                           earlier["assignee_id"])
    with httpx.Client(base_url=stack.api_url, timeout=15,
                      headers={"Authorization": f"Bearer {handler}"}) as client:
        number = earlier["number"]
        assert client.post(f"/api/v1/orders/{number}/accept").status_code == 200
        resolved = client.post(f"/api/v1/orders/{number}/resolve", json={"note": "已更换灯泡"})
        assert resolved.status_code == 200, resolved.text
    with api(stack, "demo-admin") as client:
        found = client.get(f"/api/v1/handlers/{earlier['assignee_id']}")
        assert found.status_code == 200, found.text
        seen.light_resolver = found.json()["name"]
    backdate_order(stack.database_url, number, A_WEEK_AGO)
    seen.earlier_light = number

    # 1. the burst pipe: three residents within minutes (a later one may be added to
    # the first one's order as a co-report: then that resident has no order of their own)
    for sender, text in PIPE_REPORTS:
        seen.pipe_at = report(stack, sender, text)
        seen.pipe_orders |= {o["number"] for o in orders_for(stack.database_url, sender)}

    # 2. the same light again, in other words, by someone else
    sender, text = LIGHT_AGAIN
    seen.light_at = report(stack, sender, text)
    seen.new_light = newest_order(stack, sender)["number"]

    # 3. the dispute, then the threat in the resident's second message: the bot takes it
    # as a report, asks whether it is the same matter (yes) and adds it to the order
    report(stack, DISPUTE_SENDER, DISPUTE_FIRST, place=DISPUTE_PLACE)
    seen.dispute_at = report(stack, DISPUTE_SENDER, DISPUTE_THREAT, place=DISPUTE_PLACE)
    [dispute] = orders_for(stack.database_url, DISPUTE_SENDER)
    seen.dispute = dispute["number"]
    return seen


def wait_warnings(stack: Stack, kind: str, ready: Callable[[dict], bool]) -> dict:
    """Poll ``GET /api/v1/warnings?kind=…`` as the demo dispatcher until one item is
    ``ready``; that item. The deadline counts from the first poll: the warning's own
    ``created_at`` against the trigger is what the tests measure and assert."""
    deadline = time.monotonic() + WARNING_DEADLINE_S
    with api(stack, DISPATCHER) as client:
        while True:
            page = client.get("/api/v1/warnings", params={"kind": kind})
            assert page.status_code == 200, page.text
            found = [item for item in page.json()["items"] if ready(item)]
            if found:
                [item] = found
                return item
            assert time.monotonic() < deadline, (
                f"no {kind} warning within {WARNING_DEADLINE_S:.0f} s: {page.json()}\n"
                + stack.log_tail("sweeper", 15))
            time.sleep(POLL_S)


def seconds_to(item: dict, trigger: datetime, what: str) -> float:
    """Seconds from the trigger to the warning (printed, and at most the deadline)."""
    took = (datetime.fromisoformat(item["created_at"]) - trigger).total_seconds()
    print(f"\n{what}: warning {took:.1f} s after the trigger was filed")
    assert took <= WARNING_DEADLINE_S, f"{what}: {took:.1f} s"
    return took


def warning(stack: Stack, warning_id: int) -> dict:
    with api(stack, DISPATCHER) as client:
        found = client.get(f"/api/v1/warnings/{warning_id}")
        assert found.status_code == 200, found.text
        return found.json()


# ------------------------------------------------------------------ the tests


def test_three_reports_of_one_burst_pipe_make_one_surge_warning(stack, reported):
    surge = wait_warnings(stack, "surge", lambda item: item["category"] == "incident.water")
    seconds_to(surge, reported.pipe_at, "surge (from the third report)")
    with api(stack, DISPATCHER) as client:
        assert client.get("/api/v1/warnings", params={"kind": "surge"}).json()["total"] == 1
    assert surge["area_code"] == GRID
    assert surge["details"]["observed"] >= 3
    detail = warning(stack, surge["id"])
    # every order the three residents' reports ended up in (co-reports are added to the
    # first one's order) is behind the warning, and nothing else
    assert {o["number"] for o in detail["orders"]} == reported.pipe_orders
    assert {o["role"] for o in detail["orders"]} == {"member"}
    assert "供排水" in surge["explanation"] and "幸福里社区" in surge["explanation"]


def test_the_same_light_a_week_after_it_was_resolved_is_a_repeat(stack, reported):
    repeat = wait_warnings(stack, "repeat", lambda i: i["order_number"] == reported.new_light)
    seconds_to(repeat, reported.light_at, "repeat (from the second report)")
    assert reported.earlier_light in repeat["explanation"]
    assert "7天前" in repeat["explanation"] and "疑似假性整改" in repeat["explanation"]
    assert f"由{reported.light_resolver}办结" in repeat["explanation"]  # who resolved it
    roles = {o["number"]: o["role"] for o in warning(stack, repeat["id"])["orders"]}
    assert roles == {reported.new_light: "trigger", reported.earlier_light: "earlier"}
    # handled one tier up: the township's grid worker, not the grid again
    assert order_row(stack, reported.new_light)["tier"] == "township"
    with api(stack, "demo-supervisor") as client:
        audit = client.get("/api/v1/audit/verify")
        assert audit.status_code == 200 and audit.json()["ok"], audit.text


def test_a_threat_in_the_second_message_warns_the_dispatcher_in_telegram(
        stack, emu, reported, dispatcher_chat):
    risk = wait_warnings(stack, "dispute_risk", lambda i: i["order_number"] == reported.dispute)
    seconds_to(risk, reported.dispute_at, "dispute at risk (from the threat)")
    assert risk["category"] == "dispute.neighbor"
    assert "跟他拼了" in risk["explanation"]
    reasons = [r["code"] for r in risk["details"]["reasons"]]
    assert "threat" in reasons and risk["details"]["score"] >= 60
    row = order_row(stack, risk["order_number"])
    assert (row["tier"], row["priority"]) == ("township", "urgent")

    [sent, *_] = emu.wait_sent_sync(
        lambda c: c.ok and risk["explanation"] in (c.text or ""),
        token=HANDLERS, chat_id=dispatcher_chat, method="sendMessage", timeout=WAIT_S)
    print(f"in the dispatcher's chat: {sent.text}")
    assert sent.text.startswith("【")  # the level label first: 【预警】 or 【紧急】


def test_still_exactly_one_surge_warning(stack, reported):
    """Later scans update the burst's warning; they never raise a second one."""
    with api(stack, DISPATCHER) as client:
        page = client.get("/api/v1/warnings", params={"kind": "surge"}).json()
    assert page["total"] == 1, page
