"""Staff accounts as admins manage them (never a token or a password hash)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Literal

from pydantic import BaseModel, Field

from ...service import StaffView
from .common import Input

Role = Literal["handler", "dispatcher", "supervisor", "admin"]
AreaCodes = list[str]


class StaffPublic(BaseModel):
    id: int
    username: str
    role: Role
    handler_id: int | None
    areas: list[str]
    active: bool
    telegram_chat_id: str | None
    has_password: bool = Field(description="Whether a sign-in password is set")

    @classmethod
    def from_view(cls, view: StaffView) -> StaffPublic:
        return cls(**asdict(view))


class StaffCreate(Input):
    username: str = Field(min_length=1, max_length=64)
    role: Role
    areas: AreaCodes = Field(default_factory=list, max_length=256)
    handler_id: int | None = Field(default=None, description="Required for role handler")
    password: str | None = Field(
        default=None, min_length=10, max_length=256,
        description="The sign-in password (optional; can be set later). The account's API "
        "token is random and never shown: machines get theirs from the CLI",
    )


class StaffUpdate(Input):
    role: Role | None = None
    areas: AreaCodes | None = Field(default=None, max_length=256)
    handler_id: int | None = None


class PasswordUpdate(Input):
    password: str = Field(min_length=10, max_length=256)


class ActiveUpdate(Input):
    active: bool
