"""The lifecycle table, checked over every (status, action) pair."""

import itertools

import pytest

from integrations.workorders.domain import (
    ACTION_LABELS,
    OPEN_STATUSES,
    RESIDENT_LABELS,
    STATUS_LABELS,
    TERMINAL,
    TRANSITIONS,
    Action,
    DomainError,
    IllegalTransition,
    Status,
    allowed_actions,
    apply,
)

# Written out independently of the implementation: a new transition in the
# table, or a missing one, fails these tests.
EXPECTED = {
    ("new", "dispatch"): "assigned",
    ("new", "queue"): "pending",
    ("new", "cancel"): "cancelled",
    ("pending", "dispatch"): "assigned",
    ("pending", "cancel"): "cancelled",
    ("reopened", "dispatch"): "assigned",
    ("reopened", "queue"): "pending",
    ("assigned", "accept"): "accepted",
    ("assigned", "decline"): "pending",
    ("assigned", "accept_timeout"): "pending",
    ("assigned", "escalate"): "pending",
    ("assigned", "cancel"): "cancelled",
    ("accepted", "progress"): "in_progress",
    ("accepted", "resolve"): "resolved",
    ("accepted", "escalate"): "pending",
    ("accepted", "cancel"): "cancelled",
    ("in_progress", "progress"): "in_progress",
    ("in_progress", "resolve"): "resolved",
    ("in_progress", "escalate"): "pending",
    ("resolved", "satisfied"): "closed",
    ("resolved", "no_answer"): "closed",
    ("resolved", "unsatisfied"): "reopened",
    ("closed", "archive"): "archived",
    ("pending", "reclassify"): "pending",
    ("assigned", "reclassify"): "pending",
    ("accepted", "reclassify"): "pending",
    ("in_progress", "reclassify"): "pending",
    ("reopened", "reclassify"): "pending",
    ("new", "withdraw"): "cancelled",
    ("pending", "withdraw"): "cancelled",
    ("reopened", "withdraw"): "cancelled",
    ("assigned", "withdraw"): "cancelled",
    ("accepted", "withdraw"): "cancelled",
    ("in_progress", "withdraw"): "cancelled",
    # 合并办理: linked under a parent order, resolved with it or released
    ("new", "link"): "pending",
    ("pending", "link"): "pending",
    ("reopened", "link"): "pending",
    ("assigned", "link"): "pending",
    ("accepted", "link"): "pending",
    ("in_progress", "link"): "pending",
    ("pending", "resolve_linked"): "resolved",
    ("pending", "unlink"): "pending",
}

ALL_PAIRS = list(itertools.product(Status, Action))


def test_enums_have_exactly_the_designed_values():
    assert {s.value for s in Status} == {
        "new", "pending", "assigned", "accepted", "in_progress",
        "resolved", "closed", "archived", "reopened", "cancelled",
    }
    assert {a.value for a in Action} == {
        "dispatch", "queue", "accept", "decline", "accept_timeout", "progress",
        "resolve", "escalate", "satisfied", "no_answer", "unsatisfied", "cancel", "archive",
        "reclassify", "withdraw", "link", "unlink", "resolve_linked",
    }


def test_table_is_exactly_the_expected_one():
    actual = {(s.value, a.value): t.value for (s, a), t in TRANSITIONS.items()}
    assert actual == EXPECTED


@pytest.mark.parametrize(("status", "action"), ALL_PAIRS, ids=lambda x: x.value)
def test_every_pair(status, action):
    expected = EXPECTED.get((status.value, action.value))
    if expected is None:
        with pytest.raises(IllegalTransition) as info:
            apply(status, action)
        assert info.value.status is status
        assert info.value.action is action
    else:
        assert apply(status, action) is Status(expected)


def test_legal_pairs_are_exactly_those_that_do_not_raise():
    legal = set()
    for status, action in ALL_PAIRS:
        try:
            apply(status, action)
        except IllegalTransition:
            continue
        legal.add((status.value, action.value))
    assert legal == set(EXPECTED)


def test_plain_strings_are_accepted():
    assert apply("assigned", "accept") is Status.ACCEPTED


@pytest.mark.parametrize(("status", "action"), [("new", "explode"), ("lost", "dispatch")])
def test_unknown_strings_are_illegal_transitions(status, action):
    with pytest.raises(IllegalTransition):
        apply(status, action)


def test_illegal_transition_messages():
    with pytest.raises(DomainError) as info:
        apply(Status.RESOLVED, Action.CANCEL)
    err = info.value
    assert err.reason == "action 'cancel' is not allowed in status 'resolved'"
    assert err.reason_zh == "工单当前状态为“已办结”，不能执行“撤销”操作。"
    assert str(err) == err.reason


def test_allowed_actions_agree_with_the_table():
    for status in Status:
        expected = {Action(a) for (s, a) in EXPECTED if s == status.value}
        assert allowed_actions(status) == expected
        assert allowed_actions(status.value) == expected


def test_terminal_and_open_statuses():
    assert TERMINAL == {Status.ARCHIVED, Status.CANCELLED}
    assert OPEN_STATUSES == {Status.ASSIGNED, Status.ACCEPTED, Status.IN_PROGRESS}
    for status in TERMINAL:
        assert allowed_actions(status) == frozenset()


def test_every_status_reachable_from_new_and_can_end():
    edges = {}
    for (s, _), t in EXPECTED.items():
        edges.setdefault(s, set()).add(t)
    seen, todo = {"new"}, ["new"]
    while todo:
        for nxt in edges.get(todo.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    assert seen == {s.value for s in Status}
    # every status can reach a terminal one
    for start in Status:
        reach, todo = {start.value}, [start.value]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt not in reach:
                    reach.add(nxt)
                    todo.append(nxt)
        assert reach & {s.value for s in TERMINAL}


def test_resident_labels():
    assert RESIDENT_LABELS == {
        Status.NEW: "已受理",
        Status.PENDING: "已受理",
        Status.REOPENED: "已受理",
        Status.ASSIGNED: "已派单",
        Status.ACCEPTED: "已签收",
        Status.IN_PROGRESS: "处理中",
        Status.RESOLVED: "已办结",
        Status.CLOSED: "已回访",
        Status.ARCHIVED: "已回访",
        Status.CANCELLED: "已撤销",
    }
    # only DESIGN's seven labels reach residents
    assert set(RESIDENT_LABELS.values()) == {
        "已受理", "已派单", "已签收", "处理中", "已办结", "已回访", "已撤销"
    }


def test_every_status_and_action_has_a_label():
    assert set(STATUS_LABELS) == set(Status)
    assert set(ACTION_LABELS) == set(Action)
    assert len(set(STATUS_LABELS.values())) == len(Status)
    assert Status.ACCEPTED.label == "已签收"
    assert Action.RESOLVE.label == "办结"


def test_table_is_read_only():
    with pytest.raises(TypeError):
        TRANSITIONS[(Status.ARCHIVED, Action.DISPATCH)] = Status.ASSIGNED
