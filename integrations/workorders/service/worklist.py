"""The dispatcher's inbox (待办): what waits for a person, newest first.

``worklist(uow, area_codes, now)`` reads seven sections, each over the
orders still open through an index (never the whole history). Sections that
depend on the history read their candidates a batch at a time, most recently
changed first, with the batch's events, and stop once the newest items are
certain (an order entered a section at or before its last change):

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

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, select, text
from sqlalchemy.orm import InstrumentedAttribute, Session

from ..adapters import store
from ..adapters.orm import Area, CallbackRequest, OrderEvent, WorkOrder
from ..domain.lifecycle import Action, Status
from ..domain.places import best_match
from . import messages
from .callbacks import OPEN
from .common import category_label, require_aware
from .linked import LINKED
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
#: A title's place is cut to this many characters.
TITLE_PLACE = 20

UNACCEPTED = (S.NEW.value, S.PENDING.value, S.ASSIGNED.value)
WAITING = (S.PENDING.value, S.ASSIGNED.value)
ESCALATIONS = (Action.ESCALATE.value, Action.ACCEPT_TIMEOUT.value)
#: What ends an escalation's stay in the inbox: someone accepted it, or it began anew.
ESCALATION_ENDS = (Action.ACCEPT.value, Action.RECLASSIFY.value, Action.UNSATISFIED.value)
STAFF_ACTOR = "staff:"


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
        if session.get_bind().dialect.name == "postgresql":
            # short queries on an index each: compiling them (JIT) costs more than it saves
            session.execute(text("SET LOCAL jit = off"))
        version = _version(session)
        within = None if area_codes is None else sorted(store.areas_within(session, area_codes))
        reader = _Reader(uow, session, within, now, limit)
        found: dict[str, list[WorkItem]] = {
            PENDING: reader.orders(PENDING, _pending()),
            URGENT: reader.orders(URGENT, _urgent()),
            TRIAGE: reader.triage(),
            ESCALATED: reader.orders(ESCALATED, _escalated()),
            OVERDUE: reader.orders(OVERDUE, _overdue(now)),
            CALLBACKS: reader.callbacks(),
            DISSATISFIED: reader.orders(DISSATISFIED, _dissatisfied()),
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
# Each section: conditions on the order (SQL), and when it entered. Sections
# that look at the history name "marks": the seq of the order's newest event
# that passes a test (read in Python from the candidates' events, a batch at a
# time); ``keep`` decides on the marks, and ``entered`` may name one of them.

Moment = ColumnElement[datetime] | InstrumentedAttribute[datetime]
EventTest = Callable[[Any], bool]  # given an event row (action, actor, from/to_status)
Marks = dict[str, int | None]


@dataclass(frozen=True)
class Section:
    conditions: list[ColumnElement[bool]]
    #: when it entered: a column of the order, or the name of a mark (that event's time)
    entered: Moment | str
    #: name -> which events: the seq of the newest such event of the order (None: none)
    marks: dict[str, EventTest] = field(default_factory=dict)
    #: whether an order with these marks belongs to the section
    keep: Callable[[Marks], bool] | None = None


def _pending() -> Section:
    return Section(
        [WorkOrder.status == S.PENDING.value], "entry",
        # what put it into pending (not an overdue mark or a reclassification while waiting)
        marks={"entry": lambda ev: ev.to_status == S.PENDING.value
               and ev.from_status != S.PENDING.value},
    )


def _urgent() -> Section:
    accepted = exists().where(OrderEvent.order_id == WorkOrder.id,
                              OrderEvent.action == Action.ACCEPT.value)
    return Section([WorkOrder.priority == "urgent", WorkOrder.status.in_(UNACCEPTED), ~accepted],
                   WorkOrder.created_at)


def _triage(fallback: str) -> Section:
    return Section(
        [WorkOrder.area_code == fallback, WorkOrder.status.in_(UNACCEPTED)], WorkOrder.created_at,
        marks={"staff": _by_staff},
        keep=lambda m: m["staff"] is None,
    )


def _escalated() -> Section:
    escalated = select(OrderEvent.order_id).where(OrderEvent.action.in_(ESCALATIONS))
    return Section(
        [WorkOrder.status.in_(WAITING), WorkOrder.id.in_(escalated)], "escalation",
        marks={"escalation": lambda ev: ev.action in ESCALATIONS,
               "ended": lambda ev: ev.action in ESCALATION_ENDS},
        keep=lambda m: _after(m["escalation"], m["ended"]),
    )


def _overdue(now: datetime) -> Section:
    accept_first = and_(WorkOrder.status == S.ASSIGNED.value, WorkOrder.accept_by.is_not(None),
                        WorkOrder.accept_by < WorkOrder.resolve_by)
    since = case((accept_first, WorkOrder.accept_by), else_=WorkOrder.resolve_by)
    return Section([overdue_condition(now)], since)


def _dissatisfied() -> Section:
    return Section(
        [WorkOrder.satisfaction == "unsatisfied", WorkOrder.status.in_(BEING_HANDLED)], "answer",
        marks={"answer": lambda ev: ev.action == Action.UNSATISFIED.value, "staff": _by_staff},
        keep=lambda m: _after(m["answer"], m["staff"]),
    )


def _by_staff(ev: Any) -> bool:
    return str(ev.actor).startswith(STAFF_ACTOR)


def _after(seq: int | None, other: int | None) -> bool:
    """An event ``seq`` happened, and no ``other`` event since."""
    return seq is not None and (other is None or other < seq)


# ------------------------------------------------------------------------- reading

#: Candidates read at a time in a section that looks at the history.
BATCH = 200


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

    def _columns(self) -> tuple:
        return (WorkOrder.id, WorkOrder.number, WorkOrder.category, WorkOrder.location_text,
                WorkOrder.status, WorkOrder.priority, WorkOrder.area_code, WorkOrder.updated_at)

    def orders(self, section: str, spec: Section,
               place: Callable[[str], bool] | None = None) -> list[WorkItem]:
        """Up to limit + 1 items, newest first (one more tells that the section was cut).

        ``place``: keeps only orders whose place text passes (read in Python).
        """
        # an order linked under a parent (合并办理) waits for it: nothing for the desk to do
        conditions = [*spec.conditions, *self._scope(), not_(LINKED)]
        if not spec.marks and place is None:
            assert not isinstance(spec.entered, str)
            entered_at = spec.entered.label("entered_at")
            stmt = (select(*self._columns(), entered_at).where(*conditions)
                    .order_by(entered_at.desc(), WorkOrder.id.desc()).limit(self.limit + 1))
            return [self._item(section, row, row.entered_at)
                    for row in self.session.execute(stmt)]
        # Candidates by their last change, newest first: an order entered a section at
        # or before its last change, so once limit + 1 items are newer than the next
        # candidate's last change, no later candidate can displace them.
        column = None if isinstance(spec.entered, str) else spec.entered.label("entered_at")
        columns = (*self._columns(), *((column,) if column is not None else ()))
        base = (select(*columns).where(*conditions)
                .order_by(WorkOrder.updated_at.desc(), WorkOrder.id.desc()))
        found: list[tuple[datetime, int, WorkItem]] = []
        offset = 0
        while True:
            batch = self.session.execute(base.limit(BATCH).offset(offset)).all()
            offset += len(batch)
            if place is not None:
                batch_kept = [row for row in batch if place(row.location_text)]
            else:
                batch_kept = list(batch)
            events = self._events([row.id for row in batch_kept]) if spec.marks else {}
            for row in batch_kept:
                entered = self._entered(spec, row, events.get(row.id, []))
                if entered is not None:
                    found.append((entered, row.id, self._item(section, row, entered)))
            found.sort(key=lambda f: (f[0], f[1]), reverse=True)
            del found[self.limit + 1:]
            if len(batch) < BATCH:
                break
            if len(found) > self.limit and found[-1][0] > batch[-1].updated_at:
                break
        return [item for _, _, item in found]

    def _events(self, order_ids: list[int]) -> dict[int, list[Any]]:
        by_order: dict[int, list[Any]] = {}
        if not order_ids:
            return by_order
        rows = self.session.execute(
            select(OrderEvent.order_id, OrderEvent.seq, OrderEvent.action, OrderEvent.actor,
                   OrderEvent.from_status, OrderEvent.to_status, OrderEvent.at)
            .where(OrderEvent.order_id.in_(order_ids))
        )
        for row in rows:
            by_order.setdefault(row.order_id, []).append(row)
        return by_order

    def _entered(self, spec: Section, row: Any, events: list[Any]) -> datetime | None:
        """When the order entered the section, None if it does not belong there."""
        marks: Marks = {name: max((e.seq for e in events if test(e)), default=None)
                        for name, test in spec.marks.items()}
        if spec.keep is not None and not spec.keep(marks):
            return None
        if not isinstance(spec.entered, str):
            return row.entered_at
        seq = marks[spec.entered]
        if seq is None:
            return None
        return next(e.at for e in events if e.seq == seq)

    def triage(self) -> list[WorkItem]:
        fallback = self.session.scalar(select(Area.code).where(Area.fallback.is_(True)))
        if fallback is None or (self.within is not None and fallback not in self.within):
            return []
        index = store.place_index_cached(self.session, self.taxonomy.tiers[0])

        def unplaced(text: str) -> bool:
            match = best_match(text, index.names)
            # the resident named the fallback grid itself: it is where it belongs
            return match is None or match.area_code != fallback

        return self.orders(TRIAGE, _triage(fallback), place=unplaced)

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

    def _item(self, section: str, row: Any, entered: datetime) -> WorkItem:
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
    # every change of an order appends an event: the newest event's id changes even
    # when two changes carry the same time stamp
    newest_event = session.scalar(select(func.max(OrderEvent.id)))
    newest_callback = session.scalar(select(func.max(CallbackRequest.id)))
    open_callbacks = session.scalar(
        select(func.count()).select_from(CallbackRequest).where(CallbackRequest.status == OPEN))
    stamp = changed.isoformat() if changed is not None else "-"
    return f"{stamp}|{newest_event or 0}|{newest_callback or 0}|{open_callbacks or 0}"
