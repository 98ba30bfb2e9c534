"""Plain dataclasses going into and out of the use cases (no ORM objects leak)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

T = TypeVar("T")

#: Residents' channels (``reporter_channel``) and the ``reporter_ref`` prefix of each.
REPORTER_CHANNELS = ("tg", "voice", "web", "open311")

#: Satisfaction answers (回访) and what residents see.
SATISFACTION_LABELS = {
    "satisfied": "满意",
    "basically_satisfied": "基本满意",
    "unsatisfied": "不满意",
}


@dataclass(frozen=True)
class OrderCreate:
    """A resident's report, as the channel collected it.

    ``kind`` may be left out (it follows from the category). ``reporter_ref``
    is the channel's sender id as given (``"tg:123"``); ``reporter_contact``
    an optional phone number (stored encrypted). ``client_ref`` makes the call
    idempotent: the same value returns the order made the first time.
    """

    category: str
    description: str
    location_text: str
    area_code: str
    reporter_channel: str
    reporter_ref: str
    priority: str = "normal"
    kind: str | None = None
    reporter_contact: str | None = None
    anonymous: bool = False
    client_ref: str | None = None
    latitude: float | None = None
    longitude: float | None = None


@dataclass(frozen=True)
class OrderView:
    """A work order as staff see it.

    ``reporter_ref`` is None for anonymous reports; the contact is never in a
    view (``reporter_contact`` reveals it, masked by default).
    """

    number: str
    kind: str
    category: str
    category_name: str
    priority: str
    description: str
    location_text: str
    area_code: str
    latitude: float | None
    longitude: float | None
    status: str
    status_label: str
    resident_label: str
    tier: str
    assignee_id: int | None
    accept_by: datetime | None
    resolve_by: datetime
    breached: bool
    anonymous: bool
    reporter_channel: str
    reporter_ref: str | None
    has_contact: bool
    satisfaction: str | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None

    def for_resident(self) -> ResidentOrderView:
        """What the reporter may see of their own order."""
        return ResidentOrderView(
            number=self.number,
            category_name=self.category_name,
            description=self.description,
            location_text=self.location_text,
            status=self.status,
            label=self.resident_label,
            created_at=self.created_at,
            resolved_at=self.resolved_at,
            awaiting_satisfaction=self.status == "resolved",
        )


@dataclass(frozen=True)
class ResidentOrderView:
    """A work order as its reporter sees it (no staff, no internal states)."""

    number: str
    category_name: str
    description: str
    location_text: str
    status: str
    label: str
    created_at: datetime
    resolved_at: datetime | None
    awaiting_satisfaction: bool


@dataclass(frozen=True)
class EventView:
    """One audit event of an order."""

    seq: int
    action: str
    action_label: str
    actor: str
    at: datetime
    from_status: str | None
    to_status: str
    note: str | None


@dataclass(frozen=True)
class OrderFilters:
    """Filters of ``list_orders``; None means any.

    ``area_codes``: orders whose grid lies in any of these areas (any tier).
    ``statuses``: any of these statuses. ``created_from`` inclusive,
    ``created_to`` exclusive.
    """

    statuses: Sequence[str] | None = None
    category: str | None = None
    area_codes: Sequence[str] | None = None
    assignee_id: int | None = None
    tier: str | None = None
    priority: str | None = None
    breached: bool | None = None
    reporter_ref: str | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, newest first."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class HandlerCreate:
    """A new mediator or grid worker; ``name`` and ``phone`` are stored encrypted."""

    name: str
    role: str
    tier: str
    skills: Sequence[str]
    areas: Sequence[str]
    capacity: int
    phone: str | None = None
    on_duty: bool = True
    is_supervisor: bool = False
    telegram_chat_id: str | None = None


@dataclass(frozen=True)
class HandlerUpdate:
    """A partial update of a handler: None leaves a field as it is.

    ``clear_phone`` / ``clear_telegram`` remove those (None cannot say so).
    """

    name: str | None = None
    phone: str | None = None
    clear_phone: bool = False
    skills: Sequence[str] | None = None
    areas: Sequence[str] | None = None
    tier: str | None = None
    capacity: int | None = None
    on_duty: bool | None = None
    is_supervisor: bool | None = None
    telegram_chat_id: str | None = None
    clear_telegram: bool = False


@dataclass(frozen=True)
class HandlerView:
    """A handler as staff see them: the phone masked, the load computed."""

    id: int
    name: str
    phone_masked: str | None
    role: str
    tier: str
    skills: list[str]
    areas: list[str]
    capacity: int
    load: int
    on_duty: bool
    is_supervisor: bool
    telegram_chat_id: str | None
    last_assigned_at: datetime | None


@dataclass(frozen=True)
class StaffView:
    """A staff account (never its token)."""

    id: int
    username: str
    role: str
    handler_id: int | None
    areas: list[str] = field(default_factory=list)
    active: bool = True
    telegram_chat_id: str | None = None


@dataclass(frozen=True)
class AreaView:
    code: str
    name: str
    tier: str
    parent_code: str | None
