"""Shapes shared by every resource: the error body, text limits, a page."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field

T = TypeVar("T")

MAX_DESCRIPTION = 2000
MAX_LOCATION = 200
MAX_NOTE = 1000

Description = Annotated[str, Field(min_length=1, max_length=MAX_DESCRIPTION)]
Note = Annotated[str | None, Field(default=None, max_length=MAX_NOTE)]
ReporterRef = Annotated[
    str, Field(min_length=3, max_length=128, description="The resident's channel id, e.g. tg:123")
]


class Input(BaseModel):
    """Base of request bodies: unknown fields are an error (a typo must not pass silently)."""

    model_config = ConfigDict(extra="forbid")


class ErrorDetail(BaseModel):
    reason: str = Field(description="English, for logs and developers")
    reason_zh: str = Field(description="Chinese, what a person is shown")
    field: str | None = None


class ErrorBody(BaseModel):
    detail: ErrorDetail


class PagePublic(BaseModel, Generic[T]):
    items: list[T]
    total: int
    limit: int
    offset: int


#: Documented error responses of every authenticated endpoint.
AUTH_ERRORS: dict[int | str, dict] = {
    401: {"model": ErrorBody, "description": "No token, or an unknown one"},
    403: {"model": ErrorBody, "description": "The caller's role may not do this"},
}
