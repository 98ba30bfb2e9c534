"""What dispatchers and admins do at the desk: priority, notes, cancel with a reason, contact.

Each is an event of the order's hash chain with ``actor`` as given (``staff:alice``);
callers check the role and the order's area first (``api.access``). Events that
change no status (``priority``, ``staff_note``, ``resident_note``,
``contact_revealed``) are recorded with ``from_status == to_status``; those in
``STAFF_ONLY_ACTIONS`` never appear in the resident's history.
"""

from __future__ import annotations

from datetime import datetime

from ..adapters.orm import Handler, WorkOrder
from ..domain.lifecycle import OPEN_STATUSES, Action, Status
from ..domain.taxonomy import Priority
from . import messages, outbox
from .audit_trail import record, transition
from .common import MAX_NOTE, category_label, clean_text, lock_order, order_view, require_aware
from .dispatching import after_capacity_freed
from .errors import Conflict
from .linking import release_children
from .orders import CONTACT_CONTEXT
from .uow import UnitOfWork
from .views import OrderView

#: Event actions of this module (no status change).
PRIORITY = "priority"
STAFF_NOTE = "staff_note"
RESIDENT_NOTE = "resident_note"
CONTACT_REVEALED = "contact_revealed"
#: Events the reporter never sees in their history (internal to the office).
STAFF_ONLY_ACTIONS = frozenset({PRIORITY, STAFF_NOTE, CONTACT_REVEALED})
#: Events whose note the reporter reads in their history (they were sent it).
RESIDENT_NOTE_ACTIONS = frozenset({RESIDENT_NOTE, Action.WITHDRAW.value})

#: Statuses in which an order is finished: no priority to change.
FINISHED = frozenset({Status.RESOLVED.value, Status.CLOSED.value, Status.ARCHIVED.value,
                      Status.CANCELLED.value})
_OPEN = frozenset(s.value for s in OPEN_STATUSES)


def _actor(actor: str) -> str:
    who = clean_text(actor, "actor", limit=80, required=True)
    assert who is not None
    return who


def set_priority(
    uow: UnitOfWork,
    number: str,
    priority: str,
    actor: str,
    now: datetime,
    *,
    reason: str | None = None,
) -> OrderView:
    """Make an order ``normal`` or ``urgent`` (event ``priority``, note ``from:x to:y [reason]``).

    The time limits follow as when an order is opened or assigned
    (``Taxonomy.deadlines``), counted from now: becoming urgent an assigned
    order's accept limit and the resolve limit tighten (never loosen);
    becoming normal the accept limit loosens (the resolve limit stays). The
    assignee is told when it becomes urgent; its load weight changes with it
    (becoming normal may free room for queued orders), and a pending order
    made urgent is dispatched at once by the urgent rule. ``UnknownPriority``
    (422); ``Conflict`` (409) if it already has that priority or is finished
    (resolved, closed, archived, cancelled).
    """
    require_aware(now)
    who = _actor(actor)
    target = Priority.parse(priority)
    why = clean_text(reason, "reason", limit=MAX_NOTE, required=False)
    with uow:
        session, cfg = uow.session, uow.config
        order = lock_order(session, number)
        if order.status in FINISHED:
            raise Conflict(f"order {order.number} is {order.status}: its priority stays",
                           "该工单已办结或已撤销，不能调整紧急程度。")
        if order.priority == target.value:
            raise Conflict(f"order {order.number} is {target.value} already",
                           "该工单已是此紧急程度。")
        previous = order.priority
        note = f"from:{previous} to:{target.value}" + (f" {why}" if why else "")
        event = record(session, order, action=PRIORITY, actor=who, at=now,
                       from_status=order.status, to_status=order.status, note=note)
        order.priority = target.value
        retime(uow, order, target, now)
        if target is Priority.URGENT and order.assignee_id is not None \
                and order.status in _OPEN:
            handler = session.get_one(Handler, order.assignee_id)
            due = (messages.clock(order.accept_by, now, cfg.display_tz)
                   if order.status == Status.ASSIGNED.value and order.accept_by else None)
            outbox.to_handler(
                session, cfg, order, handler, seq=event.seq, now=now,
                topic=outbox.TOPIC_PRIORITY,
                text=messages.made_urgent(order.number, category_label(cfg.taxonomy, order.category),
                                          order.location_text, due),
                fields={"accept_by": order.accept_by.isoformat() if order.accept_by else None,
                        "resolve_by": order.resolve_by.isoformat()},
            )
        # lighter load may make room for queued orders; an urgent one never waits for room
        redispatch = (target is Priority.NORMAL and order.status in _OPEN) or (
            target is Priority.URGENT and order.status == Status.PENDING.value)
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    if redispatch:
        after_capacity_freed(uow, now)
    return view


def retime(uow: UnitOfWork, order: WorkOrder, target: Priority, now: datetime) -> None:
    """The limits of ``order`` become ``target``'s, counted from now: urgent tightens the
    accept limit of an assigned order and the resolve limit, normal loosens the accept limit."""
    limits = uow.config.taxonomy.deadlines(order.category, target, now)
    if order.status == Status.ASSIGNED.value and order.accept_by is not None:
        accept_by = (min(order.accept_by, limits.accept_by) if target is Priority.URGENT
                     else max(order.accept_by, limits.accept_by))
        if accept_by != order.accept_by:
            order.accept_by = accept_by
            order.accept_reminded_at = None
    if target is Priority.URGENT and limits.resolve_by < order.resolve_by:
        order.resolve_by = limits.resolve_by
        order.resolve_reminded_at = None
        order.overdue_notified_at = None


def add_staff_note(
    uow: UnitOfWork,
    number: str,
    actor: str,
    note: str,
    now: datetime,
    *,
    to_resident: bool,
) -> OrderView:
    """A staff member's note on the order, in any status.

    ``to_resident`` False: an internal note (event ``staff_note``), never shown
    to the reporter. True: event ``resident_note``, queued to the reporter on
    their channel like a status message (``outbox.to_resident``, event
    ``note``) and shown in their history. ``InvalidInput`` for an empty or
    over-long note.
    """
    require_aware(now)
    who = _actor(actor)
    text = clean_text(note, "note", limit=MAX_NOTE, required=True)
    assert text is not None
    with uow:
        session, cfg = uow.session, uow.config
        order = lock_order(session, number)
        event = record(session, order, action=RESIDENT_NOTE if to_resident else STAFF_NOTE,
                       actor=who, at=now, from_status=order.status, to_status=order.status,
                       note=text)
        if to_resident:
            outbox.to_resident(session, cfg, order, seq=event.seq, now=now,
                               event=messages.NOTE_EVENT,
                               text=messages.staff_note(order.number, text),
                               fields={"note": text})
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    return view


def cancel_by_staff(
    uow: UnitOfWork, number: str, actor: str, reason: str, now: datetime
) -> OrderView:
    """Staff cancel the order with a reason (event ``withdraw``, status ``cancelled``).

    Allowed until it is resolved (``domain.lifecycle``: new, pending,
    reopened, assigned, accepted, in progress; ``IllegalTransition`` 409
    otherwise). The reporter is told with the reason; the assignee, if the
    order was on their hands, that they need not go on (their capacity
    frees). ``InvalidInput`` without a reason.
    """
    require_aware(now)
    who = _actor(actor)
    why = clean_text(reason, "reason", limit=MAX_NOTE, required=True)
    assert why is not None
    with uow:
        session, cfg = uow.session, uow.config
        order = lock_order(session, number)
        held = order.status in _OPEN
        event = transition(session, order, Action.WITHDRAW, actor=who, at=now, note=why,
                           handler_id=order.assignee_id if held else None)
        if held and order.assignee_id is not None:
            handler = session.get_one(Handler, order.assignee_id)
            outbox.to_handler(session, cfg, order, handler, seq=event.seq, now=now,
                              topic=outbox.TOPIC_WITHDRAWN,
                              text=messages.withdrawn_by_staff(order.number))
        outbox.to_resident(session, cfg, order, seq=event.seq, now=now, event="cancelled",
                           text=messages.cancelled_by_staff(order.number, why),
                           fields={"reason": why})
        release_children(uow, order, now=now)  # orders merged into it are handled on their own
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    if held:
        after_capacity_freed(uow, now)
    return view


def reveal_contact(uow: UnitOfWork, number: str, actor: str, now: datetime) -> str | None:
    """The reporter's phone number in clear, None if they left none; the reveal is an event.

    Event ``contact_revealed`` by ``actor`` (status unchanged, no number in
    it, never shown to the reporter), written whether or not there is a
    number. Callers decide who may (dispatchers in their areas, admins).
    Never log the result.
    """
    require_aware(now)
    who = _actor(actor)
    with uow:
        session, cfg = uow.session, uow.config
        order = lock_order(session, number)
        token = order.reporter_contact_enc
        updated = order.updated_at
        record(session, order, action=CONTACT_REVEALED, actor=who, at=now,
               from_status=order.status, to_status=order.status,
               note="had_contact" if token is not None else "no_contact")
        order.updated_at = updated  # a read, not a change of the order
        uow.commit()
    return None if token is None else cfg.vault.decrypt(token, context=CONTACT_CONTEXT)
