"""Bodies of the dispatchers' desk actions on an order (priority, notes, cancel)."""

from __future__ import annotations

from pydantic import Field

from .common import MAX_NOTE, Input, Note
from .orders import Priority


class PriorityRequest(Input):
    priority: Priority
    reason: Note = None


class StaffNoteRequest(Input):
    note: str = Field(min_length=1, max_length=MAX_NOTE)
    to_resident: bool = Field(
        default=False,
        description="false: an internal note (staff only); true: sent to the reporter on "
        "their channel and shown in their history",
    )


class WithdrawRequest(Input):
    reason: str = Field(min_length=1, max_length=MAX_NOTE,
                        description="Why; the reporter is told it")
