"""矛盾激化风险: scoring open disputes, and acting on those at risk.

``find_at_risk`` scores a batch of open disputes in one read-only
transaction with a few set queries (the orders, the notes of their events),
by ``domain.dispute_risk.score_dispute`` from their texts (description and
the notes of reports, progress, staff notes and 不满意 answers), reopenings,
co-reporters, waiting time and the other disputes at the same place within
``lookback_days`` (``domain.places.same_place``; counted only for a dispute
that could reach the threshold with them, the place keys of an area's
disputes read once per batch). Disputes already warned at that level, urgent
and above the grid are left alone (nothing to do).

``act_on`` handles one dispute at risk in its own transaction: the order is
claimed (``SKIP LOCKED``) and still open; a ``dispute_risk`` warning
(``dispute_risk:<order id>``, upgraded, never duplicated); once, the order
becomes urgent (event ``priority``) and moves from the grid to the township
tier, taken back from its grid handler (who is told) and dispatched there,
like an overdue escalation but not marked breached; its chain gets a
``risk`` event (note ``score:<n>``). The resident is told once that the
matter went up a tier (when it moves), never on every scan; the dispatchers
and supervisors hear of it by the warning.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..adapters import store
from ..adapters.orm import Area, OrderEvent, RiskWarning, WorkOrder
from ..domain.dispute_risk import DisputeFacts, RiskScore, explain_risk, score_dispute
from ..domain.lifecycle import Action, Status, allowed_actions
from ..domain.places import same_place
from ..domain.taxonomy import Priority
from ..domain.warnings import Level, WarningKind
from .audit_trail import REPORT, record
from .common import category_label
from .desk_actions import PRIORITY, retime
from .dispatching import dispatch, escalate_to
from .repeat_check import place_key_of
from .uow import UnitOfWork
from .warnings import raise_warning

#: The order event of a dispute found at risk (no status change); note ``score:<n>``.
RISK = "risk"
CO_REPORTER = "co-reporter"
#: Event actions whose notes are words of people (scored for threats).
TEXT_ACTIONS = (REPORT, Action.PROGRESS.value, "staff_note", Action.UNSATISFIED.value)
#: Statuses of an open order (a dispute to score).
OPEN = (Status.NEW.value, Status.PENDING.value, Status.ASSIGNED.value, Status.ACCEPTED.value,
        Status.IN_PROGRESS.value, Status.REOPENED.value)
BATCH = 500


@dataclass(frozen=True)
class AtRisk:
    order_id: int
    score: RiskScore
    facts: DisputeFacts


def open_disputes(session: Session) -> list[int]:
    """Every open dispute's id (index ``ix_work_orders_status_created``)."""
    return list(session.scalars(select(WorkOrder.id).where(
        WorkOrder.status.in_(OPEN), WorkOrder.kind == "dispute")))


def find_at_risk(uow: UnitOfWork, order_ids: Collection[int], now: datetime) -> list[AtRisk]:
    """The disputes of ``order_ids`` at or above the threshold that need acting on."""
    rules = uow.config.warning_rules.dispute_risk
    found: list[AtRisk] = []
    with uow.read_only():
        session = uow.session
        places = _Places(session, now - timedelta(days=rules.lookback_days))
        for chunk in _chunks(sorted(order_ids), BATCH):
            orders = session.execute(
                select(WorkOrder.id, WorkOrder.area_code, WorkOrder.location_text,
                       WorkOrder.description, WorkOrder.created_at)
                .where(WorkOrder.id.in_(chunk), WorkOrder.kind == "dispute",
                       WorkOrder.status.in_(OPEN))).all()
            notes: dict[int, list[Any]] = {o.id: [] for o in orders}
            for row in session.execute(
                    select(OrderEvent.order_id, OrderEvent.action, OrderEvent.actor,
                           OrderEvent.note)
                    .where(OrderEvent.order_id.in_(list(notes)),
                           OrderEvent.action.in_(TEXT_ACTIONS))
                    .order_by(OrderEvent.order_id, OrderEvent.seq)):
                notes[row.order_id].append(row)
            for o in orders:
                rows = notes[o.id]
                facts = DisputeFacts(
                    texts=(o.description, *(r.note for r in rows if r.note)),
                    same_place_disputes=0,
                    reopened=sum(1 for r in rows if r.action == Action.UNSATISFIED.value),
                    co_reporters=sum(1 for r in rows
                                     if r.action == REPORT and r.actor == CO_REPORTER),
                    waited_hours=max(0.0, (now - o.created_at) / timedelta(hours=1)))
                score = score_dispute(facts, rules)
                if score.level is None and score.score + rules.repeat_max < rules.threshold:
                    continue  # cannot reach the threshold even with earlier disputes
                same = places.others_at(o.area_code, o.id, o.location_text)
                if same:
                    facts = DisputeFacts(facts.texts, same, facts.reopened, facts.co_reporters,
                                         facts.waited_hours)
                    score = score_dispute(facts, rules)
                if score.level is not None:
                    found.append(AtRisk(o.id, score, facts))
        done = _settled(session, [a.order_id for a in found], uow.config.taxonomy.tiers[0])
    return [a for a in found if done.get(a.order_id, -1) < _rank(a.score)]


def act_on(uow: UnitOfWork, at_risk: AtRisk, now: datetime) -> tuple[str, str | None]:
    """Warn about one dispute at risk and, once, move it up; the outcome (``raised``:
    new or a higher level, ``updated``, ``""``) and its number if it moved."""
    session, cfg = uow.session, uow.config
    order = store.claim_order(session, at_risk.order_id, WorkOrder.status.in_(OPEN))
    if order is None:
        return "", None  # finished meanwhile, or another scan has it
    score = at_risk.score
    assert score.level is not None
    area_name = session.scalar(select(Area.name).where(Area.code == order.area_code)) or ""
    explanation = explain_risk(score, area_name=area_name,
                               category_name=category_label(cfg.taxonomy, order.category),
                               number=order.number)
    _, told = raise_warning(
        session, cfg, kind=WarningKind.DISPUTE_RISK.value, dedupe_key=f"dispute_risk:{order.id}",
        level=score.level.value, area_code=order.area_code, category=order.category,
        explanation=explanation, details=risk_details(score, at_risk.facts), order_id=order.id,
        orders=[(order.id, "trigger")], now=now)
    moved = _act(uow, order, score, now)
    return ("raised" if told else "updated"), (order.number if moved else None)


def risk_details(score: RiskScore, facts: DisputeFacts) -> dict[str, Any]:
    return {
        "score": score.score,
        "reasons": [{"code": r.code, "points": r.points, "text": r.text} for r in score.reasons],
        "same_place_disputes": facts.same_place_disputes, "reopened": facts.reopened,
        "co_reporters": facts.co_reporters, "waited_hours": round(facts.waited_hours, 1),
    }


# ------------------------------------------------------------------- reading


def _chunks(items: Sequence[int], size: int) -> Iterator[list[int]]:
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


def _rank(score: RiskScore) -> int:
    assert score.level is not None
    return score.level.rank


def _settled(session: Session, order_ids: list[int], grid: str) -> dict[int, int]:
    """Orders already warned, made urgent and moved above the grid: their warning's rank
    (a dispute at risk at that level or lower needs nothing more)."""
    if not order_ids:
        return {}
    rows = session.execute(
        select(WorkOrder.id, RiskWarning.level)
        .join(RiskWarning, RiskWarning.order_id == WorkOrder.id)
        .where(WorkOrder.id.in_(order_ids), RiskWarning.kind == WarningKind.DISPUTE_RISK.value,
               WorkOrder.priority == Priority.URGENT.value, WorkOrder.tier != grid)).all()
    return {oid: Level(level).rank for oid, level in rows}


class _Places:
    """The place keys of each area's disputes within the lookback, read once per batch."""

    def __init__(self, session: Session, since: datetime) -> None:
        self._session = session
        self._since = since
        self._areas: dict[str, tuple[list[str], Counter[str], dict[int, str]]] = {}

    def others_at(self, area_code: str, order_id: int, location_text: str) -> int:
        """Other disputes (not cancelled) of the area at the same place within the lookback."""
        names, keys, by_id = self._area(area_code)
        key = place_key_of(location_text, tuple(names))
        count = sum(n for k, n in keys.items() if same_place(key, k))
        if order_id in by_id and same_place(key, by_id[order_id]):
            count -= 1  # itself
        return count

    def _area(self, area_code: str) -> tuple[list[str], Counter[str], dict[int, str]]:
        if area_code not in self._areas:
            session = self._session
            codes = sorted(set(store.area_chain_cached(session, area_code).values())
                           | {area_code})
            names = list(session.scalars(select(Area.name).where(Area.code.in_(codes))))
            by_id = {
                oid: place_key_of(text, tuple(names)) for oid, text in session.execute(
                    select(WorkOrder.id, WorkOrder.location_text)
                    .where(WorkOrder.area_code == area_code, WorkOrder.kind == "dispute",
                           WorkOrder.status != Status.CANCELLED.value,
                           WorkOrder.created_at >= self._since))}
            self._areas[area_code] = (names, Counter(by_id.values()), by_id)
        return self._areas[area_code]


# ------------------------------------------------------------------- acting


def _act(uow: UnitOfWork, order: WorkOrder, score: RiskScore, now: datetime) -> bool:
    """Make the order urgent and move it from the grid to the township tier (each once);
    whether it moved."""
    session, cfg = uow.session, uow.config
    taxonomy = cfg.taxonomy
    grid = taxonomy.tiers[0]
    upper = taxonomy.next_tier(grid)
    urgent = order.priority != Priority.URGENT.value
    move = upper is not None and order.tier == grid
    if not urgent and not move:
        return False
    record(session, order, action=RISK, actor="system", at=now, from_status=order.status,
           to_status=order.status, note=f"score:{score.score}")
    if urgent:
        record(session, order, action=PRIORITY, actor="system", at=now,
               from_status=order.status, to_status=order.status,
               note=f"from:{order.priority} to:{Priority.URGENT.value}")
        order.priority = Priority.URGENT.value
        retime(uow, order, Priority.URGENT, now)
    if not move:
        if urgent and order.status == Status.PENDING.value:
            session.flush()
            dispatch(uow, order, now, notify_if_queued=False)  # the urgent rule may place it
        return False
    assert upper is not None
    _move_up(uow, order, upper, now)
    return True


def _move_up(uow: UnitOfWork, order: WorkOrder, upper: str, now: datetime) -> None:
    """Take the order back from its grid handler and dispatch it at ``upper`` (like an
    overdue escalation, but not breached; supervisors hear of it by the warning)."""
    if Action.ESCALATE in allowed_actions(order.status):
        escalate_to(uow, order, upper, now, reason="risk")
    else:  # pending or reopened: nobody holds it; it waits at the upper tier
        order.tier = upper
    uow.session.flush()
    dispatch(uow, order, now, notify_if_queued=False)
