"""The dual scorecard: 办结率, 按时办结率, 签收及时率, 满意率 and average times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from integrations.workorders.service import (
    InvalidInput,
    accept,
    answer_satisfaction,
    cancel,
    metrics,
    resolve,
)

T0 = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)  # the world's start (conftest.T0)


@pytest.fixture
def scorecard_world(any_world):
    """Four orders created in the period, one cancelled, one outside it.

    a: accepted after 30 min (in time), resolved after 10 h (in time), satisfied
    b: accepted after 3 h (late), resolved after 200 h (late), unsatisfied -> reopened
    c: accepted after 60 min, resolved after 20 h, basically satisfied
    d: waits (h is full), assigned when a is resolved, never accepted
    e: cancelled (nobody has the skill; it waited)
    """
    w = any_world
    assert w.clock == T0
    h = w.handler(capacity=3)
    a = w.order(reporter_ref="tg:a")
    b = w.order(reporter_ref="tg:b")
    c = w.order(reporter_ref="tg:c")
    d = w.order(reporter_ref="tg:d")
    e = w.order(reporter_ref="tg:e", category="dispute.family")
    cancel(w.uow(), e.number, "tg:e", T0)
    accept(w.uow(), a.number, h, T0 + timedelta(minutes=30))
    accept(w.uow(), c.number, h, T0 + timedelta(minutes=60))
    accept(w.uow(), b.number, h, T0 + timedelta(hours=3))
    resolve(w.uow(), a.number, h, None, T0 + timedelta(hours=10))
    resolve(w.uow(), c.number, h, None, T0 + timedelta(hours=20))
    resolve(w.uow(), b.number, h, None, T0 + timedelta(hours=200))
    answer_satisfaction(w.uow(), a.number, "tg:a", "satisfied", None, T0 + timedelta(hours=11))
    answer_satisfaction(w.uow(), c.number, "tg:c", "basically_satisfied", None,
                        T0 + timedelta(hours=21))
    w.clock = T0 + timedelta(days=40)
    w.order(reporter_ref="tg:later")  # outside the period
    return w, h, (a, b, c, d)


def test_overall_scorecard(scorecard_world):
    w, h, (a, b, c, d) = scorecard_world
    assert w.row(d.number).assignee_id == h
    (card,) = metrics(w.uow(), T0, T0 + timedelta(days=30))
    assert card.group is None
    assert (card.created, card.cancelled) == (4, 1)
    assert (card.resolved, card.resolved_on_time) == (3, 2)
    assert (card.accepted, card.accepted_on_time) == (3, 2)
    assert (card.answered, card.satisfied) == (2, 2)
    assert card.resolution_rate == pytest.approx(3 / 4)
    assert card.on_time_rate == pytest.approx(2 / 3)
    assert card.accept_timely_rate == pytest.approx(2 / 3)
    assert card.satisfaction_rate == pytest.approx(1.0)
    assert card.avg_accept_minutes == pytest.approx((30 + 60 + 180) / 3)
    assert card.avg_resolve_minutes == pytest.approx((10 + 20 + 200) * 60 / 3)

    # the unsatisfied answer reopens b: no longer resolved, one more answer, not pleased
    answer_satisfaction(w.uow(), b.number, "tg:b", "unsatisfied", "没解决",
                        T0 + timedelta(hours=201))
    (card,) = metrics(w.uow(), T0, T0 + timedelta(days=30))
    assert (card.resolved, card.answered, card.satisfied) == (2, 3, 2)
    assert card.satisfaction_rate == pytest.approx(2 / 3)


def test_grouped_scorecards(scorecard_world):
    w, h, _ = scorecard_world
    by_category = {m.group: m for m in metrics(w.uow(), T0, T0 + timedelta(days=30), "category")}
    assert set(by_category) == {"dispute.family", "dispute.neighbor"}
    assert (by_category["dispute.family"].created, by_category["dispute.family"].cancelled) == (0, 1)
    assert by_category["dispute.family"].resolution_rate is None
    by_handler = {m.group: m for m in metrics(w.uow(), T0, T0 + timedelta(days=30), "handler")}
    assert (by_handler[str(h)].created, by_handler[str(h)].resolved) == (4, 3)
    assert (by_handler["unassigned"].created, by_handler["unassigned"].cancelled) == (0, 1)
    by_area = metrics(w.uow(), T0, T0 + timedelta(days=30), "area")
    assert [m.group for m in by_area] == ["grid:qy-dz-01"]
    with pytest.raises(InvalidInput):
        metrics(w.uow(), T0, T0 + timedelta(days=1), "weather")  # type: ignore[arg-type]


def test_empty_period(world):
    assert world.clock == T0
    (card,) = metrics(world.uow(), T0, T0 + timedelta(days=1))
    assert card.created == 0 and card.resolution_rate is None and card.avg_accept_minutes is None
