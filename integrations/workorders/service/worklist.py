"""The dispatcher's inbox (待办): what waits for a person, newest first.

``worklist(uow, area_codes, now)`` reads seven sections, each a bounded,
indexed query over the orders still open (never the whole history):

- ``pending`` (待派单): status pending, nobody eligible took it. Entered: the
  newest event that put it into pending (queue, decline, accept timeout,
  escalation, reclassification; not an ``overdue`` mark while it waits).
- ``urgent`` (紧急): priority urgent, new, pending or assigned, and never
  accepted. Entered: its creation.
- ``triage`` (待分拣): in the fallback grid (``set_fallback_area``), new,
  pending or assigned, untouched by staff (no ``staff:*`` event), and its
  place does not name the fallback grid itself (nothing matched, or another
  grid's name or alias now does): a dispatcher should move or reclassify it.
  Entered: its creation.
- ``escalated`` (已升级): pending or assigned after the sweeper moved it up a
  tier (``escalate``, or ``accept_timeout``), and not accepted, reclassified
  or reopened since. Entered: that escalation.
- ``overdue`` (已逾期): ``queries.overdue_condition`` (open and past a
  deadline). Entered: the earlier deadline that passed.
- ``callbacks`` (转人工): open callback requests. Entered: the request.
- ``dissatisfied`` (不满意): the latest answer is 不满意, the order is being
  handled again (not resolved, closed or cancelled since) and no staff member
  has acted on it since the answer. Entered: the answer.

An order may stand in several sections (an escalated order nobody could take
is ``escalated`` and ``pending``): each is a reason to look at it. Leaving is
by the same rules: accepted, handled by staff, resolved, cancelled.

``worklist_version(uow)`` is the cheap "anything new?" probe for a page that
polls: it changes whenever any order or callback request changes (one
indexed ``max`` and one count). Time alone does not change it: a deadline
passing shows once the sweeper acts on it (escalation, accept timeout,
overdue mark), i.e. within a sweep interval.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Select, and_, case, exists, func, or_, select
from sqlalchemy.orm import InstrumentedAttribute, Session, aliased

from ..adapters import store
from ..adapters.orm import Area, CallbackRequest, OrderEvent, WorkOrder
from ..domain.lifecycle import Action, Status
from ..domain.places import best_match
from . import messages
from .callbacks import OPEN
from .common import category_label, require_aware
from .queries import BEING_HANDLED, overdue_condition
from .uow import UnitOfWork

S = Status

PENDING, URGENT, TRIAGE, ESCALATED, OVERDUE, CALLBACKS, DISSATISFIED = (
    "pending", "urgent", "triage", "escalated", "overdue", "callbacks", "dissatisfied")
#: The sections, in the order a page shows their tabs.
SECTIONS = (PENDING, URGENT, TRIAGE, ESCALATED, OVERDUE, CALLBACKS, DISSATISFIED)
SECTION_LABELS = {
    PENDING: "待派单",
    URGENT: "紧急工单",
    TRIAGE: "待分拣",
    ESCALATED: "已升级",
    OVERDUE: "已逾期",
    CALLBACKS: "转人工",
    DISSATISFIED: "不满意",
}
MAX_PER_SECTION = 200
#: How many candidates of the fallback grid are read to find ``limit`` unplaced ones.
TRIAGE_SCAN_FACTOR = 4
#: A title's place is cut to this many characters.
TITLE_PLACE = 20

UNACCEPTED = (S.NEW.value, S.PENDING.value, S.ASSIGNED.value)
WAITING = (S.PENDING.value, S.ASSIGNED.value)
ESCALATIONS = (Action.ESCALATE.value, Action.ACCEPT_TIMEOUT.value)
#: What ends an escalation's stay in the inbox: someone accepted it, or it began anew.
ESCALATION_ENDS = (Action.ACCEPT.value, Action.RECLASSIFY.value, Action.UNSATISFIED.value)
STAFF_ACTOR = "staff:%"


@dataclass(frozen=True)
class WorkItem:
    """One entry of the inbox.

    ``key``: the order number, or ``"callback:<id>"``; exactly one of
    ``order_number`` and ``callback_id`` is set. ``title``: short Chinese (the
    category and the place; for a callback, why and through which channel).
    ``entered_at``: when it entered the section; ``age``: ``now - entered_at``.
    ``status``, ``priority``, ``area_code``: the order's (callbacks: None, None
    and its area if any).
    """

    section: str
    key: str
    order_number: str | None
    callback_id: int | None
    title: str
    entered_at: datetime
    age: timedelta
    status: str | None = None
    priority: str | None = None
    area_code: str | None = None

    @property
    def section_label(self) -> str:
        return SECTION_LABELS[self.section]


@dataclass(frozen=True)
class Worklist:
    """The inbox at ``now``.

    ``items``: every section's items, newest ``entered_at`` first (ties in ``SECTIONS``
    order).
    ``counts``: items shown per section (every section present, 0 if empty).
    ``truncated``: sections that had more than the limit (the oldest were left off).
    ``version``: ``worklist_version`` read with it. ``newest_at``: the newest
    ``entered_at`` (None when empty).
    """

    items: list[WorkItem]
    counts: dict[str, int]
    truncated: frozenset[str]
    version: str
    now: datetime
    newest_at: datetime | None = None
    sections: tuple[str, ...] = field(default=SECTIONS)

    def section(self, key: str) -> list[WorkItem]:
        """The items of one section, newest first."""
        return [item for item in self.items if item.section == key]

    @property
    def total(self) -> int:
        return len(self.items)


def worklist(
    uow: UnitOfWork,
    area_codes: Sequence[str] | None,
    now: datetime,
    *,
    limit_per_section: int = 50,
) -> Worklist:
    """The inbox of someone who covers ``area_codes`` (any tier; None: everywhere).

    See the module docstring for the sections. Callback requests without an
    area are everyone's (as in ``list_callbacks``). ``limit_per_section`` is
    capped at 200.
    """
    require_aware(now)
    limit = max(1, min(limit_per_section, MAX_PER_SECTION))
    with uow.read_only():
        session = uow.session
        version = _version(session)
        within = None if area_codes is None else sorted(store.areas_within(session, area_codes))
        reader = _Reader(uow, session, within, now, limit)
        found: dict[str, list[WorkItem]] = {
            PENDING: reader.orders(PENDING, *_pending()),
            URGENT: reader.orders(URGENT, *_urgent()),
            TRIAGE: reader.triage(),
            ESCALATED: reader.orders(ESCALATED, *_escalated()),
            OVERDUE: reader.orders(OVERDUE, *_overdue(now)),
            CALLBACKS: reader.callbacks(),
            DISSATISFIED: reader.orders(DISSATISFIED, *_dissatisfied()),
        }
    truncated = frozenset(k for k, items in found.items() if len(items) > limit)
    kept = {k: items[:limit] for k, items in found.items()}
    # newest first; at the same moment in the sections' order, then by key
    items = sorted((i for section in kept.values() for i in section), key=lambda i: i.key)
    items.sort(key=lambda i: SECTIONS.index(i.section))
    items.sort(key=lambda i: i.entered_at, reverse=True)
    return Worklist(
        items=items,
        counts={k: len(kept[k]) for k in SECTIONS},
        truncated=truncated,
        version=version,
        now=now,
        newest_at=items[0].entered_at if items else None,
    )


def worklist_version(uow: UnitOfWork) -> str:
    """Changes whenever an order or a callback request changes (see the module docstring)."""
    with uow.read_only():
        return _version(uow.session)


# ------------------------------------------------------------------------ sections
# Each gives the conditions on the order and the moment it entered the section.


Moment = ColumnElement[datetime] | InstrumentedAttribute[datetime]
Entry = tuple[list[ColumnElement[bool]], Moment]


def _pending() -> Entry:
    ev = aliased(OrderEvent)
    newest = (
        select(func.max(ev.seq)).where(
            ev.order_id == WorkOrder.id, ev.to_status == S.PENDING.value,
            or_(ev.from_status.is_(None), ev.from_status != S.PENDING.value))
        .correlate(WorkOrder).scalar_subquery()
    )
    return [WorkOrder.status == S.PENDING.value], _event_at(newest)


def _urgent() -> Entry:
    accepted = exists().where(OrderEvent.order_id == WorkOrder.id,
                              OrderEvent.action == Action.ACCEPT.value)
    return ([WorkOrder.priority == "urgent", WorkOrder.status.in_(UNACCEPTED), ~accepted],
            WorkOrder.created_at)


def _escalated() -> Entry:
    escalation = _newest_seq(ESCALATIONS)
    ended = _newest_seq(ESCALATION_ENDS)
    return ([WorkOrder.status.in_(WAITING), escalation.is_not(None),
             or_(ended.is_(None), ended < escalation)],
            _event_at(escalation))


def _overdue(now: datetime) -> Entry:
    accept_first = and_(WorkOrder.status == S.ASSIGNED.value, WorkOrder.accept_by.is_not(None),
                        WorkOrder.accept_by < WorkOrder.resolve_by)
    since = case((accept_first, WorkOrder.accept_by), else_=WorkOrder.resolve_by)
    return [overdue_condition(now)], since


def _dissatisfied() -> Entry:
    answer = _newest_seq((Action.UNSATISFIED.value,))
    ev = aliased(OrderEvent)
    handled = exists().where(ev.order_id == WorkOrder.id, ev.seq > answer,
                             ev.actor.like(STAFF_ACTOR))
    return ([WorkOrder.satisfaction == "unsatisfied", WorkOrder.status.in_(BEING_HANDLED),
             answer.is_not(None), ~handled],
            _event_at(answer))


def _newest_seq(actions: Sequence[str]) -> ColumnElement[int]:
    """The seq of the order's newest event of one of ``actions`` (NULL if none)."""
    ev = aliased(OrderEvent)
    return (
        select(func.max(ev.seq)).where(ev.order_id == WorkOrder.id, ev.action.in_(actions))
        .correlate(WorkOrder).scalar_subquery()
    )


def _event_at(seq: ColumnElement[int]) -> ColumnElement[datetime]:
    """When the order's event ``seq`` happened (its last change if there is no such event)."""
    ev = aliased(OrderEvent)
    at = (select(ev.at).where(ev.order_id == WorkOrder.id, ev.seq == seq)
          .correlate(WorkOrder).scalar_subquery())
    return func.coalesce(at, WorkOrder.updated_at)


# ------------------------------------------------------------------------- reading


class _Reader:
    def __init__(self, uow: UnitOfWork, session: Session, within: list[str] | None,
                 now: datetime, limit: int) -> None:
        self.taxonomy = uow.config.taxonomy
        self.session = session
        self.within = within
        self.now = now
        self.limit = limit

    def _scope(self) -> list[ColumnElement[bool]]:
        return [] if self.within is None else [WorkOrder.area_code.in_(self.within)]

    def _select(self, conditions: list[ColumnElement[bool]],
                entered: Moment, limit: int) -> Select:
        entered_at = entered.label("entered_at")
        return (
            select(WorkOrder.number, WorkOrder.category, WorkOrder.location_text,
                   WorkOrder.status, WorkOrder.priority, WorkOrder.area_code, entered_at)
            .where(*conditions, *self._scope())
            .order_by(entered_at.desc(), WorkOrder.id.desc())
            .limit(limit)
        )

    def orders(self, section: str, conditions: list[ColumnElement[bool]],
               entered: Moment) -> list[WorkItem]:
        """Up to limit + 1 items (one more tells that the section was cut)."""
        rows = self.session.execute(self._select(conditions, entered, self.limit + 1))
        return [self._item(section, row) for row in rows]

    def triage(self) -> list[WorkItem]:
        fallback = self.session.scalar(select(Area.code).where(Area.fallback.is_(True)))
        if fallback is None or (self.within is not None and fallback not in self.within):
            return []
        ev = aliased(OrderEvent)
        touched = exists().where(ev.order_id == WorkOrder.id, ev.actor.like(STAFF_ACTOR))
        conditions = [WorkOrder.area_code == fallback, WorkOrder.status.in_(UNACCEPTED),
                      ~touched]
        stmt = self._select(conditions, WorkOrder.created_at,
                            (self.limit + 1) * TRIAGE_SCAN_FACTOR)
        index = store.place_index_cached(self.session, self.taxonomy.tiers[0])
        items = []
        for row in self.session.execute(stmt):
            match = best_match(row.location_text, index.names)
            if match is not None and match.area_code == fallback:
                continue  # the resident named this grid: it is where it belongs
            items.append(self._item(TRIAGE, row))
            if len(items) > self.limit:
                break
        return items

    def callbacks(self) -> list[WorkItem]:
        conditions: list[ColumnElement[bool]] = [CallbackRequest.status == OPEN]
        if self.within is not None:
            conditions.append(CallbackRequest.area_code.is_(None)
                              | CallbackRequest.area_code.in_(self.within))
        stmt = (
            select(CallbackRequest.id, CallbackRequest.reason, CallbackRequest.reporter_channel,
                   CallbackRequest.area_code, CallbackRequest.created_at)
            .where(*conditions)
            .order_by(CallbackRequest.created_at.desc(), CallbackRequest.id.desc())
            .limit(self.limit + 1)
        )
        return [
            WorkItem(
                section=CALLBACKS, key=f"callback:{row.id}", order_number=None,
                callback_id=row.id,
                title=(f"{messages.callback_head(row.reason)}"
                       f"（{messages.channel_name(row.reporter_channel)}）"),
                entered_at=row.created_at, age=self._age(row.created_at),
                area_code=row.area_code,
            )
            for row in self.session.execute(stmt)
        ]

    def _item(self, section: str, row) -> WorkItem:
        entered = row.entered_at
        return WorkItem(
            section=section, key=row.number, order_number=row.number, callback_id=None,
            title=order_title(category_label(self.taxonomy, row.category), row.location_text),
            entered_at=entered, age=self._age(entered), status=row.status,
            priority=row.priority, area_code=row.area_code,
        )

    def _age(self, entered: datetime) -> timedelta:
        return max(self.now - entered, timedelta(0))


def order_title(category_name: str, place: str) -> str:
    """``噪音扰民 · 幸福里小区3号楼`` (the place cut to 20 characters)."""
    place = " ".join(place.split())
    if len(place) > TITLE_PLACE:
        place = place[:TITLE_PLACE - 1] + "…"
    return f"{category_name} · {place}" if place else category_name


def _version(session: Session) -> str:
    changed = session.scalar(select(func.max(WorkOrder.updated_at)))
    newest_callback = session.scalar(select(func.max(CallbackRequest.id)))
    open_callbacks = session.scalar(
        select(func.count()).select_from(CallbackRequest).where(CallbackRequest.status == OPEN))
    stamp = changed.isoformat() if changed is not None else "-"
    return f"{stamp}|{newest_callback or 0}|{open_callbacks or 0}"
