"""Callback requests (转人工) in and out."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ...service import CallbackView
from .common import Input, Note, ReporterRef
from .orders import OrderPublic

Reason = Literal["asked", "not_understood", "service_error"]
Speaker = Literal["resident", "bot"]
CallbackStatus = Literal["open", "done"]


class TranscriptLineIn(Input):
    speaker: Speaker
    text: str = Field(description="Cut to 500 characters")


class CallbackCreate(Input):
    """A resident asks for a person, or the bot could not help them."""

    reporter_ref: ReporterRef
    reason: Reason = Field(description="asked: they asked for a person; not_understood: the "
                           "bot failed twice; service_error: the service failed")
    transcript: list[TranscriptLineIn] = Field(
        default_factory=list, max_length=1000,
        description="The conversation so far, oldest first; the newest 50 lines are kept",
    )
    contact: str | None = Field(default=None, max_length=32,
                                      description="Optional phone number; stored encrypted")
    caller_token: str | None = Field(
        default=None, max_length=512,
        description="A phone caller's number as the phone line encrypted it: becomes the "
        "contact; only with a voice:h: reporter_ref, never with contact",
    )
    order_number: str | None = Field(
        default=None, max_length=32,
        description="The order it concerns; linked only if reporter_ref reported it, "
        "otherwise ignored",
    )


class CallbackReceipt(BaseModel):
    """What the channel learns of a request it filed."""

    id: int
    status: CallbackStatus
    created_at: datetime
    order_number: str | None = Field(description="The linked order; null if none was linked")

    @classmethod
    def from_view(cls, view: CallbackView) -> CallbackReceipt:
        fields = asdict(view)
        return cls(**{name: fields[name] for name in cls.model_fields})


class TranscriptLinePublic(BaseModel):
    speaker: Speaker
    text: str


class CallbackPublic(BaseModel):
    """A callback request as dispatchers see it (the phone number and transcript in clear)."""

    id: int
    created_at: datetime
    status: CallbackStatus
    reason: Reason
    reporter_ref: str
    reporter_channel: str
    contact: str | None
    transcript: list[TranscriptLinePublic]
    order_number: str | None
    area_code: str | None
    done_at: datetime | None
    done_by: str | None
    note: str | None

    @classmethod
    def from_view(cls, view: CallbackView) -> CallbackPublic:
        return cls(**asdict(view))


class CallbackDone(Input):
    note: Note = None


class TranscriptPublic(BaseModel):
    """A request's transcript, revealed (the reveal is logged)."""

    id: int
    transcript: list[TranscriptLinePublic]


class CallbackToOrder(Input):
    """The order a callback request becomes, for the request's resident."""

    category: str = Field(min_length=1, max_length=64, examples=["incident.water"])
    description: str = Field(min_length=1, max_length=2000)
    location_text: str = Field(min_length=1, max_length=200)
    area_code: str = Field(min_length=1, max_length=64, examples=["grid:qy-dz-01"])
    priority: Literal["normal", "urgent"] = "normal"
    note: Note = None


class CallbackOrderPublic(BaseModel):
    """The order a callback request became, and the request (done)."""

    order: OrderPublic
    callback: CallbackPublic
