"""Bodies of the order transitions."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from .common import Description, Input, Note, ReporterRef


class HandlerAction(Input):
    """An assignee's action; a dispatcher or admin acting for them names them."""

    handler_id: int | None = Field(
        default=None, description="Required when a dispatcher or admin acts for a handler"
    )


class DeclineRequest(HandlerAction):
    reason: Note = None


class NoteRequest(HandlerAction):
    note: Note = None


class ReopenRequest(Input):
    reason: Note = None


class ReassignRequest(Input):
    handler_id: int | None = Field(
        default=None, description="The new assignee; None lets the dispatch policy choose"
    )
    reason: Note = None


class ReclassifyRequest(Input):
    """重新分类: the category the order really is (its kind follows), and why."""

    category: str = Field(min_length=1, max_length=64, examples=["dispute.neighbor"],
                          description="A category code of taxonomy.yml, of any kind")
    note: Note = None


class ResidentRequest(Input):
    reporter_ref: ReporterRef


class SatisfactionRequest(ResidentRequest):
    answer: Literal["satisfied", "basically_satisfied", "unsatisfied"]
    reason: Note = None


class AttachRequest(ResidentRequest):
    description: Description


class LocationUpdate(ResidentRequest):
    """Where the reported matter is, shared after the report (e.g. a Telegram location)."""

    latitude: float = Field(ge=-90, le=90)
    longitude: float = Field(ge=-180, le=180)
