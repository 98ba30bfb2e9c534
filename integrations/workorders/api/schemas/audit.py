"""The audit chain check."""

from __future__ import annotations

from pydantic import BaseModel, Field


class BrokenChain(BaseModel):
    number: str
    first_broken_seq: int = Field(description="The first event whose hash does not verify")


class AuditPublic(BaseModel):
    number: str | None = Field(description="The order checked; None: every order")
    ok: bool
    broken: list[BrokenChain]
