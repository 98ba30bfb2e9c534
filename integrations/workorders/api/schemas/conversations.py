"""Conversation analytics (``service.conversations.conversation_metrics``): what residents'
conversations with the bot came to, per day and channel, with Chinese labels."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Literal

from pydantic import BaseModel, Field

from ...service.messages import CHANNEL_NAMES

#: The residents' channels that talk to the bot (sender prefixes, ``bot/channels.py``).
ConversationChannel = Literal["web", "tg", "voice"]
CONVERSATION_CHANNELS: tuple[str, ...] = ("web", "tg", "voice")

#: The report form's questions (``requested_slot``, bot/domain.yml ``report_form``), short.
QUESTION_LABELS_ZH: Mapping[str, str] = {
    "danger": "是否有危险",
    "description": "发生了什么事",
    "location": "具体地点",
    "community": "所在社区或村",
    "contact": "联系电话",
    "confirmed": "确认登记内容",
    "same_matter": "是否同一件事",
    "cancel_number": "撤销哪张工单",
    "cancel_confirmed": "确认撤销",
    "rating_number": "评价哪张工单",
    "satisfaction": "是否满意",
    "satisfaction_reason": "不满意的原因",
}

#: The figures' Chinese names.
LABELS_ZH: Mapping[str, str] = {
    "conversations": "对话数",
    "reports_started": "开始报事",
    "reports_opened": "报事成功",
    "completion_rate": "报事完成率",
    "dropouts": "在哪一步放弃",
    "fallback_rate": "未听懂率",
    "handoff_rate": "转人工率",
    "median_turns": "中位轮数",
    "median_seconds_to_order": "拿到工单号的中位时间",
}


def question_zh(slot: str | None) -> str:
    """The Chinese label of a form question (the slot name itself if unknown)."""
    if not slot:
        return "未知"
    return QUESTION_LABELS_ZH.get(slot, slot)


def channel_zh(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


class ConversationFigures(BaseModel):
    conversations: int = Field(description="Conversations (Rasa sessions) started")
    reports_started: int = Field(description="Conversations in which a report was started")
    reports_opened: int = Field(description="... and ended with an order number")
    completion_rate: float | None = Field(description="报事完成率: reports_opened / reports_started")
    dropouts: dict[str, int] = Field(
        description="在哪一步放弃: the form question (slot name) at which unopened reports stopped")
    fallback_rate: float | None = Field(description="未听懂率: fallback turns / turns")
    handoff_rate: float | None = Field(description="转人工率: handed off / conversations")
    median_turns: float | None = Field(description="中位轮数: user messages per conversation")
    median_seconds_to_order: float | None = Field(
        description="拿到工单号的中位时间: first message to the order number, seconds")


class ConversationDay(ConversationFigures):
    day: date = Field(description="The day the conversations started (China time)")
    channel: str = Field(description="web, tg or voice")


class ConversationMetricsPublic(BaseModel):
    since: date = Field(description="First day, included (China time)")
    until: date = Field(description="Last day, included (China time)")
    channel: ConversationChannel | None = Field(default=None, description="None: all channels")
    days: list[ConversationDay] = Field(description="One entry per day and channel with conversations")
    totals: ConversationFigures = Field(description="The whole period (and channel)")
    labels_zh: dict[str, str] = Field(default_factory=lambda: dict(LABELS_ZH))
    questions_zh: dict[str, str] = Field(
        default_factory=lambda: dict(QUESTION_LABELS_ZH),
        description="The Chinese labels of the form questions in ``dropouts``")
    channels_zh: dict[str, str] = Field(
        default_factory=lambda: {c: channel_zh(c) for c in CONVERSATION_CHANNELS})
