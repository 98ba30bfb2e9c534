"""Scripted conversations: loading and checking conversations.yml, replaying
them against a running stack, and checking the work order they left behind.

Used by the end-to-end tests (tests/app/e2e/) and by the dialogue benchmark
(benchmarks/dialogue.py). The file format:

    conversations:
      - name: streetlight_all_in_one        # unique; the test id
        sender: web:e2e-streetlight         # "<channel>:<id>"
        turns:
          - say: 幸福里小区3号楼门口的路灯坏了
            expect: [路灯, 对吗]            # each must occur in the turn's joined replies
            expect_not: [抱歉]              # none may occur there
        order:                              # the sender's newest order afterwards
          category: incident.facility       # a code of taxonomy.yml
          area_code: grid:cg-xingfuli       # an area of the demo data
          priority: normal                  # normal | urgent
          location_contains: 3号楼
          description_contains: 路灯
          assigned: true                    # an assignee was chosen
          status: assigned
          count: 1                          # orders of this sender (default 1)
        no_order: true                      # instead of `order`: the sender has none

Every key but `name`, `sender` and `turns` (and `say` in a turn) is optional.

Conversations run in the file's order against one stack. A sender used by an
earlier conversation continues as the same resident: same tracker, same
orders (`count` counts all of them; the other `order` checks apply to the
newest). The benchmark keeps that: in each replay of the file, the same
sender of the file becomes the same fresh sender.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

from integrations.workorders.adapters.orm import WorkOrder
from integrations.workorders.domain.lifecycle import Status
from integrations.workorders.domain.taxonomy import Priority

ROOT = Path(__file__).resolve().parents[3]
CONVERSATIONS_FILE = Path(__file__).with_name("conversations.yml")
PRIORITIES = tuple(p.value for p in Priority)
STATUSES = tuple(s.value for s in Status)
SENDER = re.compile(r"^[a-z][a-z0-9_]*:[^\s]{1,100}$")

TOP_KEYS = {"name", "sender", "turns", "order", "no_order"}
TURN_KEYS = {"say", "expect", "expect_not"}
ORDER_KEYS = {"category", "area_code", "priority", "location_contains", "description_contains",
              "assigned", "status", "count"}


# ------------------------------------------------------------------ the file


class ConversationFileError(ValueError):
    """conversations.yml does not follow the format; the message lists every problem."""


@dataclass(frozen=True)
class Turn:
    say: str
    expect: tuple[str, ...] = ()
    expect_not: tuple[str, ...] = ()


@dataclass(frozen=True)
class OrderExpectation:
    category: str | None = None
    area_code: str | None = None
    priority: str | None = None
    location_contains: str | None = None
    description_contains: str | None = None
    assigned: bool | None = None
    status: str | None = None
    count: int = 1


@dataclass(frozen=True)
class Conversation:
    name: str
    sender: str
    turns: tuple[Turn, ...]
    order: OrderExpectation | None = None
    no_order: bool = False

    @property
    def channel(self) -> str:
        """The sender's channel prefix ("web" of "web:e2e-streetlight")."""
        return self.sender.partition(":")[0]


def taxonomy_categories() -> set[str]:
    data = yaml.safe_load((ROOT / "taxonomy.yml").read_text(encoding="utf-8"))
    return set(data["categories"])


def demo_area_codes() -> set[str]:
    from integrations.workorders.demo import demo_data
    return {area.code for area in demo_data().areas}


def load_conversations(path: Path = CONVERSATIONS_FILE) -> list[Conversation]:
    """The conversations of `path`, checked; ConversationFileError lists all problems."""
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ConversationFileError(f"{path}: not valid YAML: {exc}") from exc
    return parse_conversations(data, source=str(path))


def parse_conversations(data: Any, source: str = "conversations") -> list[Conversation]:
    problems: list[str] = []
    conversations: list[Conversation] = []
    if not isinstance(data, dict) or set(data) != {"conversations"}:
        raise ConversationFileError(f"{source}: the top level must be exactly `conversations:`")
    items = data["conversations"]
    if not isinstance(items, list) or not items:
        raise ConversationFileError(f"{source}: `conversations` must be a non-empty list")
    categories, areas = taxonomy_categories(), demo_area_codes()
    names: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"conversations[{index}]"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            where += f" ({item['name']})"
        conversation = _conversation(item, where, problems, categories, areas)
        if conversation is None:
            continue
        if conversation.name in names:
            problems.append(f"{where}: name {conversation.name!r} is also used by "
                            f"conversations[{names[conversation.name]}]")
        names.setdefault(conversation.name, index)
        conversations.append(conversation)
    if problems:
        raise ConversationFileError(f"{source}: {len(problems)} problem(s):\n  "
                                    + "\n  ".join(problems))
    return conversations


def _texts(value: Any, where: str, problems: list[str]) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        problems.append(f"{where}: must be a list of non-empty strings")
        return ()
    return tuple(value)


def _unknown(item: dict, allowed: set[str], where: str, problems: list[str]) -> None:
    extra = sorted(str(k) for k in set(item) - allowed)
    if extra:
        problems.append(f"{where}: unknown key(s) {', '.join(extra)} "
                        f"(allowed: {', '.join(sorted(allowed))})")


def _conversation(item: Any, where: str, problems: list[str], categories: set[str],
                  areas: set[str]) -> Conversation | None:
    if not isinstance(item, dict):
        problems.append(f"{where}: must be a mapping")
        return None
    before = len(problems)
    _unknown(item, TOP_KEYS, where, problems)
    name, sender = item.get("name"), item.get("sender")
    if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        problems.append(f"{where}.name: required, letters, digits, _ and - only")
    if not isinstance(sender, str) or not SENDER.match(sender):
        problems.append(f"{where}.sender: required, \"<channel>:<id>\" such as web:e2e-1")
    turns = []
    raw_turns = item.get("turns")
    if not isinstance(raw_turns, list) or not raw_turns:
        problems.append(f"{where}.turns: required, a non-empty list")
        raw_turns = []
    for t, raw in enumerate(raw_turns):
        at = f"{where}.turns[{t}]"
        if not isinstance(raw, dict):
            problems.append(f"{at}: must be a mapping with `say`")
            continue
        _unknown(raw, TURN_KEYS, at, problems)
        say = raw.get("say")
        if not isinstance(say, str) or not say.strip():
            problems.append(f"{at}.say: required, a non-empty string")
            continue
        turns.append(Turn(say=say, expect=_texts(raw.get("expect"), f"{at}.expect", problems),
                          expect_not=_texts(raw.get("expect_not"), f"{at}.expect_not", problems)))
    no_order = item.get("no_order", False)
    if not isinstance(no_order, bool):
        problems.append(f"{where}.no_order: must be true or false")
        no_order = False
    order = None
    if "order" in item:
        order = _order(item["order"], f"{where}.order", problems, categories, areas)
        if no_order:
            problems.append(f"{where}: `order` and `no_order: true` exclude each other")
    if len(problems) > before:
        return None
    return Conversation(name=name, sender=sender, turns=tuple(turns), order=order,
                        no_order=no_order)


def _order(raw: Any, where: str, problems: list[str], categories: set[str],
           areas: set[str]) -> OrderExpectation | None:
    if not isinstance(raw, dict) or not raw:
        problems.append(f"{where}: must be a non-empty mapping")
        return None
    _unknown(raw, ORDER_KEYS, where, problems)
    checks: list[tuple[str, Callable[[Any], bool], str]] = [
        ("category", lambda v: v in categories, "a category code of taxonomy.yml"),
        ("area_code", lambda v: v in areas, f"an area of the demo data ({', '.join(sorted(areas))})"),
        ("priority", lambda v: v in PRIORITIES, " or ".join(PRIORITIES)),
        ("location_contains", lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
        ("description_contains", lambda v: isinstance(v, str) and bool(v), "a non-empty string"),
        ("assigned", lambda v: isinstance(v, bool), "true or false"),
        ("status", lambda v: v in STATUSES, ", ".join(STATUSES)),
        ("count", lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 1,
         "a whole number, 1 or more"),
    ]
    for key, valid, what in checks:
        if key in raw and not valid(raw[key]):
            problems.append(f"{where}.{key}: {raw[key]!r} is not {what}")
    return OrderExpectation(**{k: v for k, v in raw.items() if k in ORDER_KEYS})


# ------------------------------------------------------------------ replaying


@dataclass
class TurnResult:
    said: str
    replies: list[str]
    problems: list[str] = field(default_factory=list)


def check_replies(turn: Turn, replies: Sequence[str]) -> list[str]:
    """What is wrong with `replies` to `turn` (empty: nothing)."""
    joined = "\n".join(replies)
    problems = [f"expected {text!r} in the replies" for text in turn.expect if text not in joined]
    problems += [f"did not expect {text!r} in the replies"
                 for text in turn.expect_not if text in joined]
    if not replies and not turn.expect_not and turn.expect:
        problems.append("the bot did not reply")
    return problems


def run_conversation(say: Callable[[str, str], list[str]], conversation: Conversation,
                     sender: str | None = None) -> list[TurnResult]:
    """Say every turn (all of them, even after a wrong reply) and check each turn's replies."""
    sender = sender or conversation.sender
    results = []
    for turn in conversation.turns:
        replies = say(sender, turn.say)
        results.append(TurnResult(turn.say, replies, check_replies(turn, replies)))
    return results


def format_transcript(results: Sequence[TurnResult], sender: str = "") -> str:
    lines = [f"conversation of {sender}:" if sender else "conversation:"]
    for number, result in enumerate(results, 1):
        lines.append(f"  [{number}] resident: {result.said}")
        if not result.replies:
            lines.append("      bot: (no reply)")
        for reply in result.replies:
            lines.append(f"      bot: {reply}")
        for problem in result.problems:
            lines.append(f"      !!! {problem}")
    return "\n".join(lines)


# ------------------------------------------------------------------ orders


def orders_for(database_url: str, reporter_ref: str) -> list[dict[str, Any]]:
    """The orders `reporter_ref` reported, oldest first, read straight from the database.

    reporter_ref is stored as given (the channel's sender id, e.g. "web:e2e-1";
    only names and phone numbers are encrypted), and the service finds a
    resident's orders by comparing it as is (service/queries.py,
    latest_open_order_for_reporter): this does the same.
    """
    engine = create_engine(database_url)
    try:
        with Session(engine) as session:
            rows = session.scalars(
                select(WorkOrder)
                .where(WorkOrder.reporter_ref == reporter_ref)
                .order_by(WorkOrder.created_at, WorkOrder.id)
            ).all()
            return [{
                "number": o.number, "kind": o.kind, "category": o.category, "priority": o.priority,
                "status": o.status, "area_code": o.area_code, "location_text": o.location_text,
                "description": o.description, "assignee_id": o.assignee_id,
                "reporter_ref": o.reporter_ref, "created_at": o.created_at,
            } for o in rows]
    finally:
        engine.dispose()


def check_orders(conversation: Conversation, orders: Sequence[dict[str, Any]]) -> list[str]:
    """What is wrong with the sender's orders; field checks apply to the newest order."""
    if conversation.no_order:
        return [f"expected no order, found {len(orders)}"] if orders else []
    expected = conversation.order
    if expected is None:
        return []
    if len(orders) != expected.count:
        found = f"expected {expected.count} order(s) for {conversation.sender}, found {len(orders)}"
        if not orders:
            return [found]
        problems = [found]
    else:
        problems = []
    newest = orders[-1]
    for key in ("category", "area_code", "priority", "status"):
        want = getattr(expected, key)
        if want is not None and newest[key] != want:
            problems.append(f"order {key}: expected {want!r}, got {newest[key]!r}")
    for key, column in (("location_contains", "location_text"),
                        ("description_contains", "description")):
        want = getattr(expected, key)
        if want is not None and want not in newest[column]:
            problems.append(f"order {column}: expected to contain {want!r}, got {newest[column]!r}")
    if expected.assigned is not None and (newest["assignee_id"] is not None) != expected.assigned:
        problems.append(f"order assigned: expected {expected.assigned}, "
                        f"assignee_id is {newest['assignee_id']!r} (status {newest['status']})")
    return problems


def format_orders(orders: Sequence[dict[str, Any]]) -> str:
    if not orders:
        return "orders of this sender: none"
    lines = ["orders of this sender (oldest first):"]
    for o in orders:
        lines.append(f"  {o['number']} {o['category']} {o['priority']} {o['status']} "
                     f"area={o['area_code']} assignee={o['assignee_id']} "
                     f"location={o['location_text']!r} description={o['description']!r}")
    return "\n".join(lines)
