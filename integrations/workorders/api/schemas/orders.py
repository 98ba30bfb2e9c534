"""Work orders in and out.

Staff get ``OrderPublic``; a channel account, acting for a resident, gets
``ResidentOrderPublic``. Neither ever holds the reporter's contact (only
``GET /orders/{number}/contact`` reveals it), and handlers never see the
reporter's channel id.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ...service import EventView, OrderView, ResidentOrderView
from ...service.views import REPORTER_CHANNELS
from .common import MAX_LOCATION, Description, Input

Channel = Literal[REPORTER_CHANNELS]  # type: ignore[valid-type]
Priority = Literal["normal", "urgent"]


class OrderCreate(Input):
    """A resident's report, as the channel collected it."""

    category: str = Field(min_length=1, max_length=64, examples=["incident.facility"])
    description: Description
    location_text: str = Field(min_length=1, max_length=MAX_LOCATION)
    area_code: str = Field(min_length=1, max_length=64, examples=["grid:qy-dz-01"])
    reporter_ref: str | None = Field(
        default=None, min_length=3, max_length=128,
        description="The resident's channel id (tg:123, voice:..., web:...). Required for a "
        "channel account (one of its own channels); staff at the desk may leave it out.",
    )
    reporter_channel: Channel | None = Field(
        default=None, description="Defaults to the prefix of reporter_ref"
    )
    priority: Priority = "normal"
    kind: str | None = Field(
        default=None, max_length=16, examples=["incident"],
        description="dispute (矛盾纠纷), incident (事件隐患) or request (其他诉求); follows "
        "from the category if left out, and must match it if given",
    )
    reporter_contact: str | None = Field(
        default=None, max_length=32, description="Optional phone number; stored encrypted"
    )
    anonymous: bool = False
    caller_token: str | None = Field(
        default=None, max_length=512,
        description="A phone caller's number as the phone line encrypted it (the REST "
        "message's metadata): becomes the contact; only with a voice:h: reporter_ref, "
        "never with reporter_contact or anonymous",
    )
    client_ref: str | None = Field(
        default=None, max_length=128,
        description="Idempotency key (or send the Idempotency-Key header)",
    )
    latitude: float | None = Field(default=None, ge=-90, le=90)
    longitude: float | None = Field(default=None, ge=-180, le=180)
    attachment_ids: list[str] = Field(
        default_factory=list,
        description="Photos the reporter uploaded (POST /api/v1/attachments), attached to the "
        "new order; each must be a staged photo of the same reporter_ref",
    )


class OrderPublic(BaseModel):
    """A work order as staff see it."""

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
    reporter_ref: str | None = Field(
        description="None for anonymous reports, and always None for handlers"
    )
    has_contact: bool
    satisfaction: str | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    resolved_at: datetime | None
    closed_at: datetime | None
    attachments: int = Field(default=0, description="Photos attached to the order")
    parent_number: str | None = Field(
        default=None, description="The order it was linked under (合并办理: one matter, "
        "several reports); while pending it waits for that order and is resolved with it")

    @classmethod
    def from_view(
        cls, view: OrderView, *, hide_reporter: bool, attachments: int = 0
    ) -> OrderPublic:
        data = asdict(view)
        if hide_reporter:
            data["reporter_ref"] = None
        return cls(**data, attachments=attachments)


class ResidentOrderPublic(BaseModel):
    """A work order as its reporter sees it (no staff names, no internal states)."""

    number: str
    kind: str = Field(description="dispute (矛盾纠纷), incident (事件隐患) or request (其他诉求)")
    category_name: str
    priority: Priority
    description: str
    location_text: str
    status: str
    label: str = Field(description="已受理, 已派单, 已签收, 处理中, 已办结, 已回访, 已撤销")
    tier: str = Field(description="grid, township or county: where it is being handled")
    handler_role: str | None = Field(
        description="Who handles it, as a role: 人民调解员, 网格员 or 社区工作人员 at grid tier, "
        "乡镇（街道）工作人员 or 县级部门 above; null while nobody is assigned",
    )
    accept_by: datetime | None = Field(description="签收 deadline of the current assignment")
    resolve_by: datetime = Field(description="办结 deadline")
    latest_note: str | None = Field(
        description="The handler's newest progress or resolve note (for a request, the "
        "resolve note is the answer); null if none"
    )
    created_at: datetime
    resolved_at: datetime | None
    awaiting_satisfaction: bool
    attachments: int = Field(default=0, description="Photos attached to the order")

    @classmethod
    def from_view(cls, view: ResidentOrderView, *, attachments: int = 0) -> ResidentOrderPublic:
        return cls(**asdict(view), attachments=attachments)


class OrderSummaryPublic(BaseModel):
    """What anybody may learn of an order they did not report: that it exists and how far it is."""

    number: str
    category_name: str
    label: str
    created_at: datetime

    @classmethod
    def from_view(cls, view: OrderView) -> OrderSummaryPublic:
        return cls(number=view.number, category_name=view.category_name,
                   label=view.resident_label, created_at=view.created_at)


class EventPublic(BaseModel):
    """One audit event, as staff see it."""

    seq: int
    action: str
    action_label: str
    actor: str
    at: datetime
    from_status: str | None
    to_status: str
    note: str | None

    @classmethod
    def from_view(cls, view: EventView) -> EventPublic:
        return cls(**asdict(view))


class ResidentEventPublic(BaseModel):
    """One step of the order, as its reporter sees it: actors reduced to roles."""

    seq: int
    action: str
    action_label: str
    actor: Literal["resident", "handler", "staff", "system"]
    at: datetime
    label: str
    note: str | None = Field(description="Only the resident's own words, and what staff wrote "
                             "to them (a note to the resident, why staff cancelled)")


class ContactPublic(BaseModel):
    number: str
    contact: str | None = Field(description="The reporter's phone number; None if they left none")
