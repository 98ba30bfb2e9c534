"""合并办理: a surge's reports linked under one parent order (one burst main, many reports).

``link_surge`` puts the open orders behind a surge warning under a parent (the
earliest open one unless named). Each child gets ``parent_id`` and a ``link``
event, is taken back from its handler (who is told it is withdrawn), and waits
as pending: the dispatcher, the queue and the sweeper leave it alone
(``service.linked``). Its resident is told once that the report was merged and
that they will hear the parent's progress; from then on every status change
the parent's resident is told reaches them too (``outbox.to_resident``).

When the parent is resolved (``resolve_children``) the children are resolved
with the parent's note (``resolve_linked``) and their residents get the
resolved notice and, later, the follow-up (回访) as usual. When the parent is
cancelled (``release_children``) they are released (``unlink``) and
dispatched on their own.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import Handler, WorkOrder
from ..adapters.warnings_tables import RiskWarning, WarningEvent, WarningOrder
from ..domain.lifecycle import OPEN_STATUSES, Action, Status
from . import messages, outbox
from .audit_trail import record, transition
from .common import lock_order, require_aware
from .dispatching import after_capacity_freed, dispatch
from .errors import Conflict, InvalidInput, NotFound
from .linked import is_linked, linked_children
from .uow import UnitOfWork

#: The parent order's event naming the orders merged into it (no status change).
MERGE = "merge"
#: Statuses an order may be linked from (not yet resolved, not cancelled).
LINKABLE = frozenset({Status.NEW.value, Status.PENDING.value, Status.REOPENED.value,
                      Status.ASSIGNED.value, Status.ACCEPTED.value, Status.IN_PROGRESS.value})
#: Kinds whose orders are their reporter's own matter, never merged with someone else's.
PERSONAL_KINDS = frozenset({"dispute", "request"})
MEMBER_ROLES = ("trigger", "member")


@dataclass(frozen=True)
class LinkedOrder:
    number: str
    status: str


@dataclass(frozen=True)
class SurgeLinks:
    """A surge warning's parent order and the orders linked under it."""

    warning_id: int
    parent_number: str | None
    children: tuple[LinkedOrder, ...]


def in_scope(session: Session, area_code: str, scope: Collection[str] | None) -> bool:
    """Whether ``area_code`` is one of ``scope`` or lies below one (None: everything)."""
    if scope is None:
        return True
    chain = set(store.area_chain_cached(session, area_code).values()) | {area_code}
    return bool(chain & set(scope))


def _warning(session: Session, warning_id: int, scope: Collection[str] | None,
             *, lock: bool = False) -> RiskWarning:
    stmt = select(RiskWarning).where(RiskWarning.id == warning_id)
    if lock:
        stmt = stmt.with_for_update()
    warning = session.scalar(stmt)
    if warning is None or not in_scope(session, warning.area_code, scope):
        raise NotFound("warning", warning_id, f"未找到预警：{warning_id}")
    return warning


def link_surge(
    uow: UnitOfWork,
    warning_id: int,
    *,
    actor: str,
    now: datetime,
    area_codes: Collection[str] | None,
    parent_number: str | None = None,
) -> None:
    """Link the surge's open orders under one parent (see the module).

    ``area_codes``: the caller's areas (None: all); a warning or parent order
    outside them is ``NotFound``. ``InvalidInput`` for a warning that is not a
    surge or a surge of disputes or requests (a resident's own matter);
    ``Conflict`` for a closed warning, a parent that is not open (or is
    itself linked, or differs from the one the warning already has), or when
    there is nothing left to link. Linking again after more reports joined
    the surge links the new ones under the same parent.
    """
    require_aware(now)
    freed = False
    with uow:
        session = uow.session
        warning = _warning(session, warning_id, area_codes, lock=True)
        if warning.kind != "surge":
            raise InvalidInput("warning", "only a surge warning's orders are linked",
                               "只有激增预警的工单可以合并办理。")
        if warning.state == "closed":
            raise Conflict(f"warning {warning_id} is closed", "该预警已关闭，不能再合并工单。")
        roles = dict(session.execute(
            select(WarningOrder.order_id, WarningOrder.role)
            .where(WarningOrder.warning_id == warning.id)).tuples().all())
        members = list(session.scalars(
            select(WorkOrder)
            .where(WorkOrder.id.in_([i for i, r in roles.items() if r in MEMBER_ROLES]))
            .order_by(WorkOrder.created_at, WorkOrder.id)
            .with_for_update()))
        if any(m.kind in PERSONAL_KINDS for m in members):
            raise InvalidInput("warning", "disputes and requests are never merged",
                               "矛盾纠纷和个人诉求不能合并办理，请分别处理。")
        current = next((i for i, r in roles.items() if r == "parent"), None)
        parent = _parent(session, members, current, parent_number, area_codes)
        children = [m for m in members
                    if m.id != parent.id and m.status in LINKABLE and not is_linked(m)]
        if not children:
            raise Conflict(f"warning {warning_id}: no open orders left to link",
                           "没有需要合并的未办结工单。")
        for child in children:
            freed |= _link_child(uow, child, parent, actor=actor, now=now)
        numbers = "、".join(c.number for c in children)
        record(session, parent, action=MERGE, actor=actor, at=now, from_status=parent.status,
               to_status=parent.status, note="children:" + ",".join(c.number for c in children))
        if parent.id in roles:
            session.execute(
                WarningOrder.__table__.update()
                .where(WarningOrder.warning_id == warning.id, WarningOrder.order_id == parent.id)
                .values(role="parent"))
        else:
            session.add(WarningOrder(warning_id=warning.id, order_id=parent.id, role="parent",
                                     added_at=now))
        warning.order_id = parent.id
        warning.updated_at = now
        session.add(WarningEvent(warning_id=warning.id, action="link", actor=actor, at=now,
                                 level=warning.level,
                                 note=f"并入主工单 {parent.number}：{numbers}"))
        uow.commit()
    if freed:
        after_capacity_freed(uow, now)


def _parent(
    session: Session, members: list[WorkOrder], current: int | None, number: str | None,
    scope: Collection[str] | None,
) -> WorkOrder:
    """The parent order: the named one, the warning's present one, or the earliest open member."""
    if number is not None:
        parent = lock_order(session, number)
        if not in_scope(session, parent.area_code, scope):
            raise NotFound("order", number)
        if current is not None and parent.id != current:
            raise Conflict(f"the warning's orders are linked under order id {current}",
                           "该预警的工单已并入另一张主工单。")
    elif current is not None:
        parent = session.get_one(WorkOrder, current)
    else:
        open_members = [m for m in members if m.status in LINKABLE and not is_linked(m)]
        if not open_members:
            raise Conflict("no open order to link under", "没有可作为主工单的未办结工单。")
        parent = open_members[0]
    if parent.status not in LINKABLE or is_linked(parent):
        raise Conflict(f"order {parent.number} is {parent.status}: not a parent",
                       f"工单 {parent.number} 已办结、已撤销或已并入其他工单，不能作为主工单。")
    return parent


def _link_child(uow: UnitOfWork, child: WorkOrder, parent: WorkOrder, *, actor: str,
                now: datetime) -> bool:
    """One child under ``parent``; True if a handler held it (their capacity frees)."""
    session, cfg = uow.session, uow.config
    held = child.status in {s.value for s in OPEN_STATUSES} and child.assignee_id is not None
    previous = child.assignee_id if held else None
    note = f"parent:{parent.number}" + (f" handler:{previous}" if previous else "")
    event = transition(session, child, Action.LINK, actor=actor, at=now, note=note,
                       handler_id=previous)
    child.parent_id = parent.id
    child.assignee_id = None
    child.accept_by = None
    child.accepted_at = None
    child.accept_reminded_at = None
    child.resolve_reminded_at = None
    if previous is not None:
        outbox.to_handler(session, cfg, child, session.get_one(Handler, previous),
                          seq=event.seq, now=now, topic=outbox.TOPIC_WITHDRAWN,
                          text=messages.withdrawn_linked(child.number, parent.number))
    outbox.to_resident(session, cfg, child, seq=event.seq, now=now, event="linked",
                       text=messages.linked(child.number, parent.number),
                       fields={"parent_number": parent.number})
    return held


def resolve_children(uow: UnitOfWork, parent: WorkOrder, *, note: str | None,
                     now: datetime) -> list[str]:
    """The parent was resolved: its linked children are resolved with its note, their
    residents told (and asked for satisfaction, as for any resolved order). Their numbers."""
    from .handling import ANSWERED_KINDS  # handling calls this module

    session, cfg = uow.session, uow.config
    done = []
    for child in linked_children(session, parent, lock=True):
        event = transition(session, child, Action.RESOLVE_LINKED, actor="system", at=now,
                           note=note)
        child.resolved_at = now
        answered = child.kind in ANSWERED_KINDS and note is not None
        outbox.to_resident(
            session, cfg, child, seq=event.seq, now=now, event="resolved",
            answer=note if answered else None,
            text=messages.resolved_with_note(child.number, note) if note and not answered
            else None,
            fields={"parent_number": parent.number})
        done.append(child.number)
    return done


def release_children(uow: UnitOfWork, parent: WorkOrder, *, now: datetime) -> list[str]:
    """The parent was cancelled: its linked children are released and dispatched on their
    own, their residents told. Their numbers."""
    session, cfg = uow.session, uow.config
    released = []
    for child in linked_children(session, parent, lock=True):
        event = transition(session, child, Action.UNLINK, actor="system", at=now,
                           note=f"parent:{parent.number} parent_cancelled")
        child.parent_id = None
        outbox.to_resident(session, cfg, child, seq=event.seq, now=now, event="unlinked",
                           text=messages.unlinked(child.number))
        session.flush()
        dispatch(uow, child, now)
        released.append(child.number)
    return released


def surge_links(uow: UnitOfWork, warning_id: int, *,
                area_codes: Collection[str] | None) -> SurgeLinks:
    """The warning's parent order and the orders linked under it (``NotFound`` outside scope)."""
    with uow.read_only():
        session = uow.session
        warning = _warning(session, warning_id, area_codes)
        if warning.order_id is None or warning.kind != "surge":
            return SurgeLinks(warning.id, None, ())
        parent = session.get_one(WorkOrder, warning.order_id)
        rows = session.execute(
            select(WorkOrder.number, WorkOrder.status)
            .where(WorkOrder.parent_id == parent.id).order_by(WorkOrder.id)).all()
        return SurgeLinks(warning.id, parent.number,
                          tuple(LinkedOrder(n, s) for n, s in rows))
