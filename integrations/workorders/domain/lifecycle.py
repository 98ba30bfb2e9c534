"""The work-order lifecycle: statuses, actions and ONE transition table.

Every applied transition becomes an audit event (see ``audit``); the service
runs ``apply`` under the order's row lock and writes the event in the same
transaction.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
from enum import StrEnum
from types import MappingProxyType

from .errors import IllegalTransition


class Status(StrEnum):
    """Status of a work order (stored as its string value)."""

    NEW = "new"
    PENDING = "pending"
    ASSIGNED = "assigned"
    ACCEPTED = "accepted"
    IN_PROGRESS = "in_progress"
    RESOLVED = "resolved"
    CLOSED = "closed"
    ARCHIVED = "archived"
    REOPENED = "reopened"
    CANCELLED = "cancelled"

    @property
    def label(self) -> str:
        """Staff-facing Chinese label (residents see ``RESIDENT_LABELS``)."""
        return STATUS_LABELS[self]


class Action(StrEnum):
    """Something that happens to a work order."""

    DISPATCH = "dispatch"
    QUEUE = "queue"
    ACCEPT = "accept"
    DECLINE = "decline"
    ACCEPT_TIMEOUT = "accept_timeout"
    PROGRESS = "progress"
    RESOLVE = "resolve"
    ESCALATE = "escalate"
    SATISFIED = "satisfied"
    NO_ANSWER = "no_answer"
    UNSATISFIED = "unsatisfied"
    CANCEL = "cancel"
    ARCHIVE = "archive"
    RECLASSIFY = "reclassify"
    WITHDRAW = "withdraw"
    LINK = "link"
    UNLINK = "unlink"
    RESOLVE_LINKED = "resolve_linked"

    @property
    def label(self) -> str:
        """Chinese label of the action."""
        return ACTION_LABELS[self]


_S, _A = Status, Action

#: (status, action) -> next status. Anything not in here is illegal.
TRANSITIONS: Mapping[tuple[Status, Action], Status] = MappingProxyType({
    (_S.NEW, _A.DISPATCH): _S.ASSIGNED,
    (_S.NEW, _A.QUEUE): _S.PENDING,            # nobody eligible at any tier
    (_S.NEW, _A.CANCEL): _S.CANCELLED,
    (_S.PENDING, _A.DISPATCH): _S.ASSIGNED,    # capacity freed
    (_S.PENDING, _A.CANCEL): _S.CANCELLED,
    (_S.REOPENED, _A.DISPATCH): _S.ASSIGNED,
    (_S.REOPENED, _A.QUEUE): _S.PENDING,
    (_S.ASSIGNED, _A.ACCEPT): _S.ACCEPTED,     # 签收
    (_S.ASSIGNED, _A.DECLINE): _S.PENDING,     # the service re-dispatches at once
    (_S.ASSIGNED, _A.ACCEPT_TIMEOUT): _S.PENDING,
    (_S.ASSIGNED, _A.ESCALATE): _S.PENDING,
    (_S.ASSIGNED, _A.CANCEL): _S.CANCELLED,
    (_S.ACCEPTED, _A.PROGRESS): _S.IN_PROGRESS,
    (_S.ACCEPTED, _A.RESOLVE): _S.RESOLVED,
    (_S.ACCEPTED, _A.ESCALATE): _S.PENDING,
    (_S.ACCEPTED, _A.CANCEL): _S.CANCELLED,
    (_S.IN_PROGRESS, _A.PROGRESS): _S.IN_PROGRESS,  # a progress note
    (_S.IN_PROGRESS, _A.RESOLVE): _S.RESOLVED,      # 办结
    (_S.IN_PROGRESS, _A.ESCALATE): _S.PENDING,
    (_S.RESOLVED, _A.SATISFIED): _S.CLOSED,         # 回访
    (_S.RESOLVED, _A.NO_ANSWER): _S.CLOSED,         # after FOLLOW_UP_WINDOW
    (_S.RESOLVED, _A.UNSATISFIED): _S.REOPENED,
    (_S.CLOSED, _A.ARCHIVE): _S.ARCHIVED,
    # 重新分类: another kind or category; released from its assignee, dispatched again
    (_S.PENDING, _A.RECLASSIFY): _S.PENDING,
    (_S.ASSIGNED, _A.RECLASSIFY): _S.PENDING,
    (_S.ACCEPTED, _A.RECLASSIFY): _S.PENDING,
    (_S.IN_PROGRESS, _A.RECLASSIFY): _S.PENDING,
    (_S.REOPENED, _A.RECLASSIFY): _S.PENDING,
    # staff cancel with a reason (a duplicate, a mistaken or unlawful report) until resolved
    (_S.NEW, _A.WITHDRAW): _S.CANCELLED,
    (_S.PENDING, _A.WITHDRAW): _S.CANCELLED,
    (_S.REOPENED, _A.WITHDRAW): _S.CANCELLED,
    (_S.ASSIGNED, _A.WITHDRAW): _S.CANCELLED,
    (_S.ACCEPTED, _A.WITHDRAW): _S.CANCELLED,
    (_S.IN_PROGRESS, _A.WITHDRAW): _S.CANCELLED,
    # 合并: a surge's report goes under a parent order (``parent_id``) and waits as
    # pending (never dispatched, queued or marked overdue on its own) until the parent
    # is resolved (resolved with it, then 回访 as usual) or cancelled (released, dispatched)
    (_S.NEW, _A.LINK): _S.PENDING,
    (_S.PENDING, _A.LINK): _S.PENDING,
    (_S.REOPENED, _A.LINK): _S.PENDING,
    (_S.ASSIGNED, _A.LINK): _S.PENDING,
    (_S.ACCEPTED, _A.LINK): _S.PENDING,
    (_S.IN_PROGRESS, _A.LINK): _S.PENDING,
    (_S.PENDING, _A.RESOLVE_LINKED): _S.RESOLVED,
    (_S.PENDING, _A.UNLINK): _S.PENDING,
})

#: Statuses that count toward a handler's load.
OPEN_STATUSES: frozenset[Status] = frozenset({_S.ASSIGNED, _S.ACCEPTED, _S.IN_PROGRESS})

#: Statuses with no way out (derived from the table).
TERMINAL: frozenset[Status] = frozenset(
    s for s in Status if not any(src is s for src, _ in TRANSITIONS)
)

#: How long a resident has to answer the follow-up (回访) before ``no_answer``.
FOLLOW_UP_WINDOW = timedelta(hours=72)

STATUS_LABELS: Mapping[Status, str] = MappingProxyType({
    _S.NEW: "新建",
    _S.PENDING: "待派单",
    _S.ASSIGNED: "已派单",
    _S.ACCEPTED: "已签收",
    _S.IN_PROGRESS: "处理中",
    _S.RESOLVED: "已办结",
    _S.CLOSED: "已结案",
    _S.ARCHIVED: "已归档",
    _S.REOPENED: "重新办理",
    _S.CANCELLED: "已撤销",
})

#: What a resident is told; internal queueing and re-dispatch stay invisible.
RESIDENT_LABELS: Mapping[Status, str] = MappingProxyType({
    _S.NEW: "已受理",
    _S.PENDING: "已受理",
    _S.REOPENED: "已受理",
    _S.ASSIGNED: "已派单",
    _S.ACCEPTED: "已签收",
    _S.IN_PROGRESS: "处理中",
    _S.RESOLVED: "已办结",
    _S.CLOSED: "已回访",
    _S.ARCHIVED: "已回访",
    _S.CANCELLED: "已撤销",
})

ACTION_LABELS: Mapping[Action, str] = MappingProxyType({
    _A.DISPATCH: "派单",
    _A.QUEUE: "转入待派单",
    _A.ACCEPT: "签收",
    _A.DECLINE: "退回",
    _A.ACCEPT_TIMEOUT: "超时收回",
    _A.PROGRESS: "反馈进展",
    _A.RESOLVE: "办结",
    _A.ESCALATE: "上报升级",
    _A.SATISFIED: "回访满意",
    _A.NO_ANSWER: "回访未答复",
    _A.UNSATISFIED: "回访不满意",
    _A.CANCEL: "撤销",
    _A.ARCHIVE: "归档",
    _A.RECLASSIFY: "重新分类",
    _A.WITHDRAW: "工作人员撤销",
    _A.LINK: "并入主工单",
    _A.UNLINK: "解除合并",
    _A.RESOLVE_LINKED: "随主工单办结",
})


def apply(status: Status | str, action: Action | str) -> Status:
    """The status after ``action``; raise ``IllegalTransition`` if not allowed.

    Plain strings are accepted (as stored or received); an unknown status or
    action string is an illegal transition too.
    """
    try:
        key = (Status(status), Action(action))
    except ValueError:
        raise IllegalTransition(status, action) from None
    try:
        return TRANSITIONS[key]
    except KeyError:
        raise IllegalTransition(*key) from None


def allowed_actions(status: Status | str) -> frozenset[Action]:
    """The actions allowed from ``status`` (empty for ``TERMINAL`` ones)."""
    status = Status(status)
    return frozenset(action for src, action in TRANSITIONS if src is status)
