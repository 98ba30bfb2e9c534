"""重新分类: an order that really is another kind or category becomes one.

A request that is really a neighbours' dispute, an incident filed as a dispute,
a facility filed as water: the order keeps its number and its history and
takes the new kind and category, with that category's time limits counted
from now. It is taken from its assignee (who is told they need not go on),
starts again at the first tier and is dispatched by the workload rule to a
handler of the new kind's role, or waits as pending with the dispatchers told.
The resident hears what it became and who handles it now.

Callers check who may do this (the HTTP layer: dispatchers for their areas,
admins, or the order's assignee, whom ``assignee_id`` names so the check
holds under the order's lock).
"""

from __future__ import annotations

from datetime import datetime

from ..adapters.orm import Handler
from ..domain.lifecycle import Action, apply
from . import messages, outbox
from .audit_trail import transition
from .common import MAX_NOTE, clean_text, lock_order, order_view, require_aware
from .dispatching import after_capacity_freed, dispatch
from .errors import Conflict, Forbidden
from .uow import UnitOfWork
from .views import Reclassified


def reclassify(
    uow: UnitOfWork,
    number: str,
    category: str,
    actor: str,
    now: datetime,
    *,
    note: str | None = None,
    assignee_id: int | None = None,
) -> Reclassified:
    """Turn the order into ``category`` (and its kind) and dispatch it again; see the module.

    ``actor`` is recorded as given (``staff:alice``, ``handler:3``); ``note``
    (why) goes into the audit event with the old and new category. Raises
    ``UnknownCategory`` (422), ``NotFound``, ``Forbidden`` when ``assignee_id``
    is given and the order is not theirs, ``IllegalTransition`` for a resolved,
    closed, archived or cancelled order, ``Conflict`` when it already has
    ``category``.
    """
    require_aware(now)
    who = clean_text(actor, "actor", limit=80, required=True)
    assert who is not None
    why = clean_text(note, "note", limit=MAX_NOTE, required=False)
    taxonomy = uow.config.taxonomy
    target = taxonomy.category(category)
    with uow:
        session, cfg = uow.session, uow.config
        order = lock_order(session, number)
        if assignee_id is not None and order.assignee_id != assignee_id:
            raise Forbidden(
                f"handler {assignee_id} is not the assignee of order {order.number}",
                "该工单未指派给您。",
            )
        apply(order.status, Action.RECLASSIFY)  # IllegalTransition once resolved or later
        if order.category == target.code:
            raise Conflict(f"order {order.number} is already of category {target.code!r}",
                           f"该工单已是「{target.name}」，无需重新分类。")
        from_kind, from_category, previous = order.kind, order.category, order.assignee_id
        record = f"from:{from_category} to:{target.code}"
        if previous is not None:
            record += f" handler:{previous}"
        event = transition(session, order, Action.RECLASSIFY, actor=who, at=now,
                           note=f"{record} {why}" if why else record, handler_id=previous)
        deadlines = taxonomy.deadlines(target.code, order.priority, now)
        order.kind, order.category = target.kind, target.code
        order.assignee_id = None
        order.accept_by = None
        order.accepted_at = None
        order.tier = taxonomy.tiers[0]
        order.resolve_by = deadlines.resolve_by
        order.overdue_notified_at = None
        order.accept_reminded_at = None
        order.resolve_reminded_at = None
        session.flush()
        outcome = dispatch(uow, order, now, actor=who)
        if previous is not None and outcome.handler_id != previous:
            outbox.to_handler(
                session, cfg, order, session.get_one(Handler, previous), seq=event.seq,
                now=now, topic=outbox.TOPIC_WITHDRAWN,
                text=messages.withdrawn_reclassified(order.number, target.name),
            )
        handled_by = messages.handler_role_name(
            taxonomy.handler_role(target.kind), order.tier, taxonomy.tiers[0])
        outbox.to_resident(
            session, cfg, order, seq=event.seq, now=now, event="reclassified",
            text=messages.reclassified(order.number, target.name, handled_by),
            fields={"kind": target.kind, "category": target.code,
                    "category_name": target.name, "handled_by": handled_by},
        )
        view = order_view(order, taxonomy)
        uow.commit()
    if previous is not None:
        after_capacity_freed(uow, now)
    return Reclassified(order=view, from_kind=from_kind, from_category=from_category,
                        released_handler_id=previous, assigned_handler_id=outcome.handler_id)
