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
    #: public ids of photos the reporter uploaded (staged, unattached): attached on creation
    attachment_ids: Sequence[str] = ()
    #: a phone caller's number, encrypted by the gateway: becomes the contact (``callers``)
    caller_token: str | None = None


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
    #: the order it was linked under (合并办理), if any
    parent_number: str | None = None

    def for_resident(
        self, *, handler_role: str | None = None, latest_note: str | None = None
    ) -> ResidentOrderView:
        """What the reporter may see of their own order.

        ``handler_role`` and ``latest_note`` need the taxonomy and the history:
        ``queries.resident_view`` fills them in.
        """
        return ResidentOrderView(
            number=self.number,
            kind=self.kind,
            category_name=self.category_name,
            priority=self.priority,
            description=self.description,
            location_text=self.location_text,
            status=self.status,
            label=self.resident_label,
            tier=self.tier,
            handler_role=handler_role,
            accept_by=self.accept_by,
            resolve_by=self.resolve_by,
            latest_note=latest_note,
            created_at=self.created_at,
            resolved_at=self.resolved_at,
            awaiting_satisfaction=self.status == "resolved",
        )


@dataclass(frozen=True)
class ResidentOrderView:
    """A work order as its reporter sees it (no staff, no internal states).

    ``handler_role``: who handles it, as a role in Chinese ("人民调解员",
    "网格员", "社区工作人员", "乡镇（街道）工作人员", "县级部门"), None while nobody is assigned;
    never a name. ``latest_note``: the newest progress or resolve note of the
    handler, None if there is none.
    """

    number: str
    kind: str
    category_name: str
    priority: str
    description: str
    location_text: str
    status: str
    label: str
    tier: str
    handler_role: str | None
    accept_by: datetime | None
    resolve_by: datetime
    latest_note: str | None
    created_at: datetime
    resolved_at: datetime | None
    awaiting_satisfaction: bool


@dataclass(frozen=True)
class Reclassified:
    """What ``reclassify`` did: the order as it is now, the kind and category it had,
    whom it was taken from (None: nobody had it) and who has it now (None: it waits
    as pending, the area's dispatchers told)."""

    order: OrderView
    from_kind: str
    from_category: str
    released_handler_id: int | None
    assigned_handler_id: int | None


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

    ``kind``: dispute | incident | request. ``overdue``: True for orders past a
    deadline and still open (``queries.overdue_condition``: not resolved and past
    ``resolve_by``, or assigned, not accepted and past ``accept_by``), False for the
    others; it needs ``now`` (``list_orders``). ``satisfaction``: the latest answer
    (satisfied, basically_satisfied, unsatisfied), or ``"dissatisfied"``: the resident
    answered 不满意 at least once (the latest answer may differ). ``q``: a search: an
    order number in any form ``domain.numbers.normalize`` reads (spoken, full-width,
    with dashes) matches that order alone; any other text matches orders whose place
    or description contains it.
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
    kind: str | None = None
    overdue: bool | None = None
    satisfaction: str | None = None
    q: str | None = None


#: ``OrderFilters.satisfaction``: every answer, and "dissatisfied" (不满意 at least once).
DISSATISFIED = "dissatisfied"
SATISFACTION_FILTERS = (*SATISFACTION_LABELS, DISSATISFIED)


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a listing, newest first."""

    items: list[T]
    total: int
    limit: int
    offset: int


@dataclass(frozen=True)
class HandlerCreate:
    """A new handler (mediator, grid worker, community staff member); ``name`` and ``phone``
    are stored encrypted."""

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
    #: whether a sign-in password is set (never the hash itself)
    has_password: bool = False


@dataclass(frozen=True)
class AreaView:
    """An area; ``fallback``: the grid that receives reports whose place matches no grid."""

    code: str
    name: str
    tier: str
    parent_code: str | None
    fallback: bool = False


@dataclass(frozen=True)
class AreaDetailView(AreaView):
    """An area with the other names residents use for it (sorted)."""

    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class AreaMatchView:
    """The grid a place lies in (``resolve_area``).

    ``matched``: the place named this grid (its own name or an alias, given as
    ``alias``); False: nothing matched and this is the fallback grid (``alias`` None).
    """

    code: str
    name: str
    matched: bool
    alias: str | None


# ------------------------------------------------------------------- callbacks

#: Why a resident is to be called back by a person (转人工).
CALLBACK_REASONS = ("asked", "not_understood", "service_error")
#: Who said a line of a callback request's transcript.
TRANSCRIPT_SPEAKERS = ("resident", "bot")


@dataclass(frozen=True)
class TranscriptLine:
    speaker: str
    text: str


@dataclass(frozen=True)
class CallbackCreate:
    """A resident's request to be called back (转人工), as the channel collected it.

    ``reason``: asked (they asked for a person), not_understood (the bot
    failed twice), service_error (the service failed). ``transcript``: the
    conversation so far (the newest 50 lines are kept, each cut to 500
    characters). ``order_number``: the order it concerns, linked only if
    ``reporter_ref`` reported it. ``client_ref``: an idempotency key.
    """

    reporter_ref: str
    reason: str
    transcript: Sequence[TranscriptLine] = ()
    contact: str | None = None
    order_number: str | None = None
    client_ref: str | None = None
    #: a phone caller's number, encrypted by the gateway: becomes the contact (``callers``)
    caller_token: str | None = None


@dataclass(frozen=True)
class CallbackView:
    """A callback request as staff see it: transcript and phone number decrypted."""

    id: int
    created_at: datetime
    status: str
    reason: str
    reporter_ref: str
    reporter_channel: str
    contact: str | None
    transcript: list[TranscriptLine]
    order_number: str | None
    area_code: str | None
    done_at: datetime | None
    done_by: str | None
    note: str | None


# ----------------------------------------------------------------- attachments


@dataclass(frozen=True)
class AttachmentView:
    """A resident's photo without its bytes; ``order_number`` None while staged."""

    id: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime
    order_number: str | None
    attached_at: datetime | None


@dataclass(frozen=True)
class AttachmentFile:
    """A photo's bytes, for staff allowed to see it (``get_attachment_file``)."""

    id: str
    content_type: str
    data: bytes
    order_number: str | None
