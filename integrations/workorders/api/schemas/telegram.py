"""Linking Telegram chats (绑定码) in and out."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ...service import LinkCodeView, LinkView
from .common import Input

ChatId = str | int


class LinkCodeCreate(Input):
    """Whom the code is for: a handler or a staff account (not both), or (empty body) the
    caller."""

    handler_id: int | None = Field(
        default=None, description="A handler: mediator, grid worker or community staff member"
    )
    username: str | None = Field(default=None, min_length=1, max_length=64,
                                 description="A staff account (dispatcher, supervisor, admin)")


class LinkCodePublic(BaseModel):
    """The code, shown this once (only its hash is kept); 8 digits, single use."""

    code: str = Field(description="8 digits; the person sends it to the bot")
    expires_at: datetime

    @classmethod
    def from_view(cls, view: LinkCodeView) -> LinkCodePublic:
        return cls(code=view.code, expires_at=view.expires_at)


class LinkCreate(Input):
    """The bot: a chat sent this code."""

    code: str = Field(min_length=1, max_length=32, description="What the person sent")
    chat_id: ChatId = Field(description="The Telegram chat id")

    def chat(self) -> str:
        return str(self.chat_id).strip()


class LinkPublic(BaseModel):
    """Whom the chat now belongs to (no names: the bot greets by role)."""

    kind: Literal["handler", "staff"]
    role: str = Field(
        description="A handler's role (mediator | grid_worker | staff) or a staff account's "
        "(dispatcher | supervisor | admin)"
    )
    handler_id: int | None
    username: str | None

    @classmethod
    def from_view(cls, view: LinkView) -> LinkPublic:
        return cls.model_validate(
            {"kind": view.kind, "role": view.role, "handler_id": view.handler_id,
             "username": view.username}
        )
