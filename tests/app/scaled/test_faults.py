"""Faults the scaled system must survive (issue 15), on one ScaledStack for the module.

Residents are driven through the balancer the way the channels drive Rasa:
integrations/rasa_rest.py's RasaRelay (it retries a 5xx a few times), and a
turn that still fails is sent again a little later, as Telegram's inbox does.
Every test leaves the stack as it found it: a killed process is started again,
a cut server is restored.

- kill -9 of one action server, one API process, one notifier, each while four
  residents complete reports at once, at a moment it is at work (haproxy has a
  request on it; the notifier holds leases): every resident gets an order
  number and has exactly that one order; every outbox row is delivered, and
  sent once (the notifier's log sender writes one line per send; lines are
  counted per row) - but a row the killed notifier held may be sent twice:
  delivery is at least once, a send made just before the kill is not recorded
  and is made again after the lease, with the same dedupe key.
- PostgreSQL cut for 10 s: the API answers 503 with a reason through the
  balancer (haproxy keeps the instances in), Rasa's REST channel answers 503
  with a polite Chinese reason, the resident's report keeps its answers and
  completes after the cut with one order.
- Redis (the lock store) cut for 10 s: a message is refused with 503 and a
  reason, Rasa logs it, and it is served after the cut; in normal operation
  one sender's concurrent messages are served one at a time.
- RabbitMQ cut for 10 s: residents get their answers; after the cut the
  analytics consumer has the facts of the conversations held during the cut.

The stack is the package's one (tests/app/scaled/conftest.py); killing a
phone-line gateway during calls: test_gateway_faults.py.
"""
from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import httpx
import pytest
from sqlalchemy import create_engine, text

from integrations.rasa_rest import RasaRelay, RasaUnavailable
from tests.app.e2e.e2e_support import orders_for
from tests.app.scaled.conftest import NOTIFIER_LEASE_S
from tests.app.scaled.test_scaled_system import tracker_events
from tools.scaled import analytics_installed
from tools.scaled_stack import BACKENDS, ScaledStack

pytestmark = pytest.mark.slow

FIRST = "楼上邻居天天半夜装修，吵得睡不着"
PLACE = "阳光花园小区6号楼"
NO_PHONE = "不用"
CONFIRM = "对"
#: each turn of a report and what its answer must contain
REPORT = [(FIRST, "什么地方"), (PLACE, "手机号"), (NO_PHONE, "对吗"), (CONFIRM, None)]
RESIDENTS = 4
#: waves of RESIDENTS residents at most while a strike waits for its victim to be at work
MAX_WAVES = 4
CUT_S = 10.0
#: the notifiers' lease in the shared stack: a killed one's rows wait this long
LEASE_S = NOTIFIER_LEASE_S
#: how long a strike waits for its victim to be at work (the waves of reports go on meanwhile)
AIM_S = 60.0
UNAVAILABLE_ZH = "系统暂时无法处理您的消息，请稍后再发一次。"


@pytest.fixture(scope="module")
def stack(scaled: ScaledStack) -> ScaledStack:
    """The package's one stack (tests/app/scaled/conftest.py: notifiers on a short lease)."""
    return scaled


@pytest.fixture(scope="module")
def may_repeat() -> set[int]:
    """Outbox ids a killed notifier held a lease on: they may be sent twice (see below)."""
    return set()


@pytest.fixture(autouse=True)
def whole_again(stack: ScaledStack) -> Iterator[None]:
    """After each test: every proxy forwarding, every process running."""
    yield
    for proxy in (stack.pg_proxy, stack.redis_proxy, stack.rabbit_proxy):
        if proxy is not None and proxy.is_cut:
            proxy.restore()
    for service in stack.plan:
        if service.process is None or service.process.poll() is not None:
            stack.start_service(service.name)


# ------------------------------------------------------------------------- residents


@dataclass
class Resident:
    sender: str
    turns: list[tuple[str, str]] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    def transcript(self) -> str:
        lines = [f"{self.sender} > {said}\n    " + answer.replace("\n", "\n    ")
                 for said, answer in self.turns]
        return "\n".join(lines + [f"  (failed: {f})" for f in self.failures])


def relay_for(stack: ScaledStack, http: httpx.AsyncClient) -> RasaRelay:
    return RasaRelay(stack.rasa_url, http, token=stack.channel_token("web:x"), timeout=30)


async def say(relay: RasaRelay, resident: Resident, said: str, *, resend: int = 3) -> str:
    """One turn; sent again (up to ``resend`` times, 1 s apart) if the relay gave up."""
    for attempt in range(resend + 1):
        try:
            replies = await relay.send(resident.sender, said)
        except RasaUnavailable as exc:
            resident.failures.append(f"{said!r}: {exc}")
            if attempt == resend:
                raise
            await asyncio.sleep(1.0)
            continue
        answer = "\n".join(r.text for r in replies)
        resident.turns.append((said, answer))
        return answer
    raise AssertionError("unreachable")


async def report(relay: RasaRelay, resident: Resident, turns: list[tuple[str, str | None]],
                 on_turn: Callable[[], None] = lambda: None) -> str:
    """The turns of a report; the last answer."""
    answer = ""
    for said, expected in turns:
        answer = await say(relay, resident, said)
        if expected is not None and expected not in answer:
            raise AssertionError(f"{said!r} was answered without {expected!r}\n"
                                 + resident.transcript())
        on_turn()
    return answer


def residents(name: str, count: int = RESIDENTS) -> list[Resident]:
    stamp = int(time.time() * 1000) % 10**8
    return [Resident(f"web:faults-{name}-{stamp}-{i}") for i in range(count)]


def reports_during(stack: ScaledStack, people: list[Resident], fault: Callable[[], None],
                   after_turns: int, more: Callable[[int], list[Resident]] | None = None,
                   on_load_end: Callable[[], None] | None = None) -> list[BaseException | str]:
    """Every resident completes a report at once; ``fault()`` runs once ``after_turns``
    turns (of all residents) are done. Each resident's last answer, or its error.

    With ``more``: while ``fault()`` has not run yet when they are done (it waits for a
    moment the victim is at work, and a loaded machine can leave it no such moment
    during one wave), ``more(wave)`` gives a new wave of residents, appended to
    ``people``, up to ``MAX_WAVES`` in all."""

    async def main() -> list[BaseException | str]:
        done = 0
        reached = asyncio.Event()

        def on_turn() -> None:
            nonlocal done
            done += 1
            if done >= after_turns:
                reached.set()

        if after_turns <= 0:
            reached.set()

        async def strike() -> None:
            await asyncio.wait_for(reached.wait(), 120)
            await asyncio.to_thread(fault)

        outcomes: list[BaseException | str] = []
        async with httpx.AsyncClient() as http:
            relay = relay_for(stack, http)
            struck = asyncio.ensure_future(strike())
            wave = list(people)
            for number in range(1, MAX_WAVES + 1):
                outcomes += await asyncio.gather(*(report(relay, r, REPORT, on_turn) for r in wave),
                                                 return_exceptions=True)
                if struck.done() or more is None or number == MAX_WAVES:
                    break
                wave = more(number)
                people.extend(wave)
            if on_load_end is not None:
                on_load_end()
            await struck  # raises what the fault raised
        return outcomes

    return asyncio.run(main())


def assert_one_order_each(stack: ScaledStack, people: list[Resident],
                          outcomes: list[BaseException | str]) -> None:
    for resident, outcome in zip(people, outcomes, strict=True):
        assert not isinstance(outcome, BaseException), (
            f"{resident.sender} did not complete: {outcome!r}\n{resident.transcript()}")
        orders = orders_for(stack.database_url, resident.sender)
        assert len(orders) == 1, (f"{resident.sender} has {len(orders)} orders\n"
                                  + resident.transcript())
        assert orders[0]["number"] in outcome, resident.transcript()


# --------------------------------------------------------------------- notifications


def outbox_rows(stack: ScaledStack) -> list[dict]:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            return [dict(r._mapping) for r in connection.execute(text(
                "SELECT id, status, channel, attempts, next_attempt_at FROM outbox ORDER BY id"))]
    finally:
        engine.dispose()


def sends_in_logs(stack: ScaledStack) -> Counter[int]:
    """Outbox id -> how many times a notifier sent it (the log sender's lines, all notifiers)."""
    sent: Counter[int] = Counter()
    for path in stack.log_dir.glob("notifier-*.log"):
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            at = line.find('{"event":"outbox.message"')
            if at >= 0:
                sent[json.loads(line[at:])["id"]] += 1
    return sent


def assert_notifications_sent_once(stack: ScaledStack, may_repeat: set[int],
                                   timeout_s: float = LEASE_S + 25) -> None:
    """Every outbox row is delivered (waiting for the due ones), and sent exactly once
    (``may_repeat``: at most twice)."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = outbox_rows(stack)
        pending = [r for r in rows if r["status"] == "pending"]
        if not pending or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert rows, "no notification at all: the outbox is empty"
    assert pending == [], f"{len(pending)} notifications not delivered: {pending[:5]}"
    assert [r for r in rows if r["status"] != "delivered"] == []
    sent = sends_in_logs(stack)
    unsent = [r["id"] for r in rows if sent[r["id"]] == 0]
    twice = {i: n for i, n in sent.items() if n > (2 if i in may_repeat else 1)}
    assert unsent == [], f"delivered but never sent: {unsent[:10]}"
    assert twice == {}, f"sent more than once: {twice}"


# ------------------------------------------------------------------------ kill -9


def busy_behind_balancer(stack: ScaledStack, name: str) -> bool:
    """haproxy has a request in flight on this instance right now."""
    kind, _, n = name.rpartition("-")
    backend = BACKENDS[kind]
    return any(row["pxname"] == backend and row["svname"] == f"{backend}-{n}"
               and int(row["scur"] or 0) > 0 for row in stack.balancer_stats())


def leases_held(stack: ScaledStack, pid: int) -> list[int]:
    """The outbox rows the notifier with this pid holds a lease on (its worker id host:pid:x)."""
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(text(
                "SELECT id FROM outbox WHERE status = 'pending' AND leased_by LIKE :me"),
                {"me": f"%:{pid}:%"}).scalars())
    finally:
        engine.dispose()


@dataclass
class Strike:
    """A kill -9 aimed at a moment the victim is at work (within ``aim_s``)."""

    stack: ScaledStack
    victim: str
    aim_s: float = 10.0
    at_work: bool = False
    held: list[int] = field(default_factory=list)  # a notifier's leases at the kill
    #: set when no more reports come: the victim will not be at work any more
    load_over: threading.Event = field(default_factory=threading.Event)

    def __call__(self) -> None:
        process = self.stack.service(self.victim).process
        assert process is not None
        deadline = time.monotonic() + self.aim_s
        while time.monotonic() < deadline and not self.at_work and not self.load_over.is_set():
            if self.victim.startswith("notifier-"):
                self.at_work = bool(leases_held(self.stack, process.pid))
            else:
                self.at_work = busy_behind_balancer(self.stack, self.victim)
        self.stack.kill(self.victim)
        if self.victim.startswith("notifier-"):
            self.held = leases_held(self.stack, process.pid)


@pytest.mark.parametrize("victim", ["actions-1", "workorders-api-1", "notifier-1"])
def test_a_process_killed_at_work_loses_no_report_and_no_notification(stack, victim, may_repeat):
    kind = victim.rsplit("-", 1)[0]
    people = residents(kind)
    # aimed through every wave of reports: new residents report until it struck
    strike = Strike(stack, victim, aim_s=AIM_S)
    try:
        # aimed from the start (the notifier: once orders are being opened)
        after = 3 * RESIDENTS if victim.startswith("notifier-") else 0
        outcomes = reports_during(stack, people, strike, after,
                                  more=lambda wave: residents(f"{kind}-w{wave}"),
                                  on_load_end=strike.load_over.set)
        assert not stack.running(victim)
        assert_one_order_each(stack, people, outcomes)
    finally:
        if not stack.running(victim):
            stack.start_service(victim)
    assert stack.running(victim) and stack.dead_services() == []
    if not victim.startswith("notifier-"):
        # haproxy had a request on it when it died (so the test proved something)
        assert strike.at_work, f"{victim} was never caught at work"
    # a row the killed notifier held may have been sent just before the kill and is sent
    # again after its lease (at least once; the same dedupe key lets the receiver drop it)
    may_repeat.update(strike.held)
    assert_notifications_sent_once(stack, may_repeat)


# ------------------------------------------------------------------------ PostgreSQL


def api_get(stack: ScaledStack, path: str) -> httpx.Response:
    return httpx.get(f"{stack.api_url}{path}", timeout=10,
                     headers={"Authorization": f"Bearer {stack.actions_token}"})


def test_a_postgresql_outage_is_a_503_with_a_reason_and_the_report_goes_on_after(stack, may_repeat):
    assert stack.pg_proxy is not None
    (resident,) = residents("pg", 1)
    path = f"/api/v1/orders/latest?reporter_ref={resident.sender}"
    assert api_get(stack, path).status_code in (200, 404)

    async def before() -> None:
        async with httpx.AsyncClient() as http:
            await report(relay_for(stack, http), resident, REPORT[:2])

    asyncio.run(before())
    cut_at = time.monotonic()
    stack.pg_proxy.cut()
    try:
        # the API: its own 503 with a reason, also once haproxy has checked /health a few times
        for wait_s in (0.0, 3.5):
            time.sleep(wait_s)
            answer = api_get(stack, path)
            assert answer.status_code == 503, answer.text
            detail = answer.json()["detail"]
            assert detail["reason"] == "the database is unavailable", detail
            assert detail["reason_zh"] == "服务暂时不可用，请稍后重试。"
            assert answer.headers.get("retry-after") == "5"
        assert all(stack.balancer_status(n) == "UP" for n in stack.instances("api"))
        # Rasa: the turn is refused with a polite reason, not answered with silence
        refused = stack.say_raw(resident.sender, NO_PHONE)
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"] == {"reason": "the conversation store is unavailable",
                                            "reason_zh": UNAVAILABLE_ZH}

        async def during() -> None:
            async with httpx.AsyncClient() as http:
                with pytest.raises(RasaUnavailable, match="HTTP 503"):
                    await relay_for(stack, http).send(resident.sender, NO_PHONE)

        asyncio.run(during())
        time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
    finally:
        stack.pg_proxy.restore()

    # the report kept its answers: the resident sends the refused message again
    async def after() -> str:
        async with httpx.AsyncClient() as http:
            return await report(relay_for(stack, http), resident, REPORT[2:])

    done = asyncio.run(after())
    summary = resident.turns[-2][1]
    assert PLACE in summary, resident.transcript()
    assert_one_order_each(stack, [resident], [done])
    # afterwards a new resident reports as usual, and the notifiers caught up
    people = residents("pg-after", 2)
    assert_one_order_each(stack, people, reports_during(stack, people, lambda: None, 1))
    assert_notifications_sent_once(stack, may_repeat)
    said = [t for kind, t in tracker_events(stack, resident.sender) if kind == "user"]
    assert said == [FIRST, PLACE, NO_PHONE, CONFIRM], said  # the refused turns left no trace


# ------------------------------------------------------------------------------ Redis


def test_a_redis_outage_refuses_turns_clearly_and_they_are_served_after(stack, may_repeat):
    assert stack.redis_proxy is not None
    (resident,) = residents("redis", 1)

    async def turns(part: list[tuple[str, str | None]]) -> str:
        async with httpx.AsyncClient() as http:
            return await report(relay_for(stack, http), resident, part)

    asyncio.run(turns(REPORT[:1]))
    cut_at = time.monotonic()
    stack.redis_proxy.cut()
    try:
        refused = stack.say_raw(resident.sender, PLACE)
        assert refused.status_code == 503, refused.text
        assert refused.json()["detail"] == {
            "reason": "the conversation lock store is unavailable", "reason_zh": UNAVAILABLE_ZH}
        assert refused.headers.get("retry-after") == "2"
        logs = "\n".join(stack.log_tail(n, 200) for n in stack.instances("rasa"))
        assert "lock store (Redis) unavailable" in logs
        time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
    finally:
        stack.redis_proxy.restore()
    done = asyncio.run(turns(REPORT[1:]))
    assert_one_order_each(stack, [resident], [done])
    said = [t for kind, t in tracker_events(stack, resident.sender) if kind == "user"]
    assert said == [FIRST, PLACE, NO_PHONE, CONFIRM], said
    assert_notifications_sent_once(stack, may_repeat)


def test_one_senders_concurrent_messages_are_served_one_at_a_time(stack):
    (resident,) = residents("serial", 1)
    messages = ["你好", "在吗", "谢谢", "请问", "有人吗", "你好呀"]

    async def main() -> list[BaseException | str]:
        async with httpx.AsyncClient() as http:
            relays = [relay_for(stack, http) for _ in messages]
            return await asyncio.gather(
                *(say(relay, resident, m, resend=0) for relay, m in zip(relays, messages,
                                                                         strict=True)),
                return_exceptions=True)

    answers = asyncio.run(main())
    assert all(isinstance(a, str) and a for a in answers), (answers, resident.transcript())
    events = turn_events(stack, resident.sender)
    said = [t for kind, _, t in events if kind == "user"]
    assert sorted(said) == sorted(messages), f"a message was lost or doubled: {said}\n{events}"
    # turns never interleave: each user message comes after the bot went back to listening,
    # and the bot acted on it before the next one came
    users = [i for i, (kind, _, _) in enumerate(events) if kind == "user"]
    for at in users[1:]:
        actions = [name for kind, name, _ in events[:at] if kind == "action"]
        assert actions and actions[-1] == "action_listen", f"two turns interleaved: {events}"
    for a, b in zip(users, users[1:], strict=False):
        acted = [name for kind, name, _ in events[a + 1:b]
                 if kind == "action" and name != "action_listen"]
        assert acted, f"a message was not acted on before the next one: {events}"


def turn_events(stack: ScaledStack, sender: str) -> list[tuple[str, str | None, str | None]]:
    """(type, action name, user text) of the sender's tracker events, in order."""
    import psycopg
    with psycopg.connect(stack.tracker_database_url) as conn:
        rows = conn.execute(
            "SELECT type_name, action_name, data::json->>'text' FROM events "
            "WHERE sender_id = %s ORDER BY id", (sender,)).fetchall()
    return [(kind, name, said) for kind, name, said in rows]


# --------------------------------------------------------------------------- RabbitMQ


def conversation_facts(stack: ScaledStack, senders: list[str]) -> dict[str, dict]:
    engine = create_engine(stack.database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text(
                "SELECT sender_id, turns, report_opened, order_number FROM conversations "
                "WHERE sender_id = ANY(:senders)"), {"senders": senders})
            return {r.sender_id: dict(r._mapping) for r in rows}
    finally:
        engine.dispose()


def test_a_rabbitmq_outage_does_not_stop_conversations_and_analytics_catch_up(stack, may_repeat):
    assert stack.rabbit_proxy is not None
    people = residents("rabbit", 2)
    cut_at = time.monotonic()
    stack.rabbit_proxy.cut()
    try:
        outcomes = reports_during(stack, people, lambda: None, 1)
        assert_one_order_each(stack, people, outcomes)
        time.sleep(max(0.0, CUT_S - (time.monotonic() - cut_at)))
    finally:
        stack.rabbit_proxy.restore()
    assert_notifications_sent_once(stack, may_repeat)
    senders = [p.sender for p in people]
    numbers = {p.sender: orders_for(stack.database_url, p.sender)[0]["number"] for p in people}
    if not analytics_installed():
        pytest.skip("the analytics consumer is not installed: nothing reads the queue")
    deadline = time.monotonic() + 60
    while True:
        facts = conversation_facts(stack, senders)
        complete = [s for s in senders if facts.get(s, {}).get("order_number") == numbers[s]]
        if len(complete) == len(senders) or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert len(complete) == len(senders), (
        f"analytics did not catch up: {facts}\n{stack.log_tail('conversations-1', 30)}")
    for sender in senders:
        assert facts[sender]["report_opened"] and facts[sender]["turns"] == len(REPORT), facts
