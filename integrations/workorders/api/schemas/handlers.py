"""Handlers (mediators, grid workers, community staff) in and out."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, Field

from ...service import HandlerView
from .common import Input


class HandlerCreate(Input):
    name: str = Field(min_length=1, max_length=100)
    role: str = Field(
        min_length=1, max_length=32, examples=["mediator", "grid_worker", "staff"],
        description="The taxonomy's handler role of the kind they handle: mediator (人民调解员, "
        "disputes), grid_worker (网格员, incidents), staff (社区工作人员, other requests)",
    )
    tier: str = Field(min_length=1, max_length=16, examples=["grid"])
    skills: list[str] = Field(max_length=64)
    areas: list[str] = Field(max_length=256)
    capacity: int = Field(ge=0, le=1000)
    phone: str | None = Field(default=None, max_length=32)
    on_duty: bool = True
    is_supervisor: bool = False


class HandlerUpdate(Input):
    """Fields left out stay as they are; ``phone`` or ``telegram_chat_id`` null removes them.

    ``telegram_chat_id`` takes only null (unlink): a chat is linked with a link code."""

    name: str | None = Field(default=None, min_length=1, max_length=100)
    phone: str | None = Field(default=None, max_length=32)
    skills: list[str] | None = Field(default=None, max_length=64)
    areas: list[str] | None = Field(default=None, max_length=256)
    tier: str | None = Field(default=None, max_length=16)
    capacity: int | None = Field(default=None, ge=0, le=1000)
    on_duty: bool | None = None
    is_supervisor: bool | None = None
    telegram_chat_id: None = Field(
        default=None, description="null unlinks the chat; linking needs a link code")


class DutyUpdate(Input):
    on_duty: bool


class CapacityUpdate(Input):
    capacity: int = Field(ge=0, le=1000)


class HandlerPublic(BaseModel):
    id: int
    name: str
    phone_masked: str | None
    role: str
    tier: str
    skills: list[str]
    areas: list[str]
    capacity: int
    load: int = Field(description="Sum of the weights of their open orders (urgent 3, normal 1)")
    on_duty: bool
    is_supervisor: bool
    telegram_chat_id: str | None
    last_assigned_at: datetime | None

    @classmethod
    def from_view(cls, view: HandlerView) -> HandlerPublic:
        return cls(**asdict(view))
