"""Service views turned into what each caller may see."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

from ..domain.lifecycle import RESIDENT_LABELS, Status
from ..service import EventView, OrderView, UnitOfWork, attachment_counts, resident_view
from ..service.desk_actions import RESIDENT_NOTE_ACTIONS, STAFF_ONLY_ACTIONS
from .deps import HANDLER, Principal
from .schemas.orders import OrderPublic, ResidentEventPublic, ResidentOrderPublic

#: Events a reporter does not see: queueing, taking back and re-dispatching are internal,
#: and so are staff's internal notes, priority changes and contact reveals.
INTERNAL_ACTIONS = frozenset({"queue", "decline", "accept_timeout", "escalate", "overdue",
                              *STAFF_ONLY_ACTIONS,
                              "repeat", "risk"})  # 研判预警: staff's findings


def order_for(
    uow: UnitOfWork, view: OrderView, principal: Principal, *, new: bool = False,
    attachments: int | None = None,
) -> OrderPublic | ResidentOrderPublic:
    """The resident's view for a channel account, the staff view (minus what a
    handler must not know of the reporter) for staff. ``new``: just created.
    ``attachments``: the number of photos, if known (else counted)."""
    if principal.is_agent:
        return resident_order(uow, view, new=new, attachments=attachments)
    return staff_order_public(uow, view, principal, attachments=attachments)


def staff_order_public(
    uow: UnitOfWork, view: OrderView, principal: Principal, *, attachments: int | None = None
) -> OrderPublic:
    """The staff view of ``order_for`` (minus what a handler must not know of the
    reporter), for routes only staff reach."""
    return OrderPublic.from_view(view, hide_reporter=principal.role == HANDLER,
                                 attachments=_photos(uow, view, attachments))


def resident_order(
    uow: UnitOfWork, view: OrderView, *, new: bool = False, attachments: int | None = None
) -> ResidentOrderPublic:
    """The reporter's view: who handles it (a role), deadlines, the newest handler note."""
    return ResidentOrderPublic.from_view(resident_view(uow, view, new=new),
                                         attachments=_photos(uow, view, attachments))


def _photos(uow: UnitOfWork, view: OrderView, known: int | None) -> int:
    return known if known is not None else attachment_counts(uow, [view.number])[view.number]


def actor_role(actor: str) -> Literal["resident", "handler", "staff", "system"]:
    """``handler:3`` -> handler, ``staff:alice`` -> staff; residents and co-reporters -> resident."""
    if actor in ("resident", "co-reporter"):
        return "resident"
    if actor.startswith("handler:"):
        return "handler"
    if actor == "system":
        return "system"
    return "staff"


def resident_history(events: Iterable[EventView]) -> list[ResidentEventPublic]:
    """The reporter's view of the history: no internal steps, no names; only their own words
    and what staff wrote to them (a note to the resident, the reason of a staff cancel)."""
    return [
        ResidentEventPublic(
            seq=e.seq, action=e.action, action_label=e.action_label, actor=actor_role(e.actor),
            at=e.at, label=RESIDENT_LABELS[Status(e.to_status)],
            note=e.note if e.actor == "resident" or e.action in RESIDENT_NOTE_ACTIONS else None,
        )
        for e in events
        if e.action not in INTERNAL_ACTIONS
    ]
