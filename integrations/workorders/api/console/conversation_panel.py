"""The "居民对话" panel of the supervisors' dashboard: residents' conversations with the
bot in the chosen period, one row per channel and a total.

The figures are ``service.conversations.conversation_metrics`` (as
``GET /api/v1/metrics/conversations`` gives them), asked once per channel and
once for all channels: medians do not add up, so each row is its own query.
The ``conversations`` table is filled only by the analytics consumer of the
scaled deployment; without it the panel says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from ...service import UnitOfWork
from ...service.conversations import MAX_RANGE_DAYS, conversation_metrics
from ..schemas.conversations import CONVERSATION_CHANNELS, channel_zh, question_zh

EMPTY_ZH = ("暂无居民对话数据。居民与机器人的对话由扩展部署（make run-scaled）的事件队列汇总，"
            "单机运行时不统计。")


@dataclass(frozen=True)
class Dropout:
    question: str  # the slot name
    label: str  # its Chinese label
    count: int


@dataclass(frozen=True)
class ChannelRow:
    """One row of the panel: a channel's figures (``channel`` None: all channels)."""

    channel: str | None
    label: str
    conversations: int
    reports_started: int
    reports_opened: int
    completion_rate: float | None
    dropouts: list[Dropout]
    fallback_rate: float | None
    handoff_rate: float | None
    median_turns: float | None
    median_seconds_to_order: float | None


@dataclass(frozen=True)
class ConversationPanel:
    rows: list[ChannelRow]  # the channels with conversations
    total: ChannelRow
    #: why there are no figures though there may be conversations (a period too long)
    problem: str | None = None

    @property
    def empty(self) -> bool:
        return self.total.conversations == 0


def _row(channel: str | None, figures: dict[str, Any]) -> ChannelRow:
    dropouts = sorted(((slot, n) for slot, n in (figures.get("dropouts") or {}).items() if n),
                      key=lambda item: (-item[1], item[0]))
    return ChannelRow(
        channel=channel,
        label=channel_zh(channel) if channel else "合计",
        conversations=int(figures.get("conversations") or 0),
        reports_started=int(figures.get("reports_started") or 0),
        reports_opened=int(figures.get("reports_opened") or 0),
        completion_rate=figures.get("completion_rate"),
        dropouts=[Dropout(slot, question_zh(slot), n) for slot, n in dropouts],
        fallback_rate=figures.get("fallback_rate"),
        handoff_rate=figures.get("handoff_rate"),
        median_turns=figures.get("median_turns"),
        median_seconds_to_order=figures.get("median_seconds_to_order"),
    )


def conversation_panel(uow: UnitOfWork, first: date, last: date, now: datetime) -> ConversationPanel:
    """The panel's rows for the days ``first`` to ``last`` (both included, China time);
    for a custom period over ``MAX_RANGE_DAYS`` days none, with a ``problem``."""
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        return ConversationPanel(rows=[], total=_row(None, {}), problem=(
            f"居民对话最长统计{MAX_RANGE_DAYS}天，请选择更短的时段查看。"))
    with uow.read_only():
        session = uow.session
        overall = conversation_metrics(session, since=first, until=last, now=now)
        seen = {d["channel"] for d in overall.get("days") or () if d.get("conversations")}
        known = [c for c in CONVERSATION_CHANNELS if c in seen]
        rows = [_row(channel, conversation_metrics(session, since=first, until=last,
                                                   channel=channel, now=now)["totals"])
                for channel in known + sorted(seen - set(known))]
    return ConversationPanel(rows=rows, total=_row(None, overall["totals"]))


def seconds_zh(seconds: float | None) -> str:
    """``90秒``, ``2.5分钟``, ``1.2小时``; a dash for None."""
    if seconds is None:
        return "—"
    if seconds < 120:
        return f"{seconds:.0f}秒"
    if seconds < 120 * 60:
        return f"{seconds / 60:.1f}分钟"
    return f"{seconds / 3600:.1f}小时"


def turns_zh(turns: float | None) -> str:
    """``4轮``, ``4.5轮``; a dash for None."""
    if turns is None:
        return "—"
    return f"{turns:.0f}轮" if float(turns).is_integer() else f"{turns:.1f}轮"
