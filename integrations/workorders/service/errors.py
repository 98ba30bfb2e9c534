"""Errors the use cases raise (besides the domain's own, which pass through).

Like ``domain.errors``, each carries an English ``reason`` (logs, API
``detail``) and a Chinese ``reason_zh`` (what a person is shown). The HTTP
layer maps them by type: NotFound 404, Forbidden 403, Conflict 409,
InvalidInput 422; domain errors (``IllegalTransition`` 409,
``UnknownCategory`` etc. 422).
"""

from __future__ import annotations

from ..domain.errors import DomainError


class ServiceError(DomainError):
    """Base class of the service's own errors."""


class NotFound(ServiceError):
    """No such order, handler, area or account (or not one the caller may see)."""

    def __init__(
        self, what: str, key: object, reason_zh: str | None = None, *, reason: str | None = None
    ) -> None:
        self.what = what
        self.key = key
        super().__init__(
            reason or f"{what} {key!r} not found",
            reason_zh or f"未找到{_WHAT_ZH.get(what, what)}：{key}",
        )


class Forbidden(ServiceError):
    """The caller may not do this to this order (e.g. not its assignee)."""

    def __init__(self, reason: str, reason_zh: str = "您无权执行此操作。") -> None:
        super().__init__(reason, reason_zh)


class Conflict(ServiceError):
    """The request clashes with the current state (a lost race, a full handler...)."""

    def __init__(self, reason: str, reason_zh: str = "操作冲突，请刷新后重试。") -> None:
        super().__init__(reason, reason_zh)


class InvalidInput(ServiceError):
    """A field is missing, too long or malformed."""

    def __init__(self, field: str, reason: str, reason_zh: str) -> None:
        self.field = field
        super().__init__(f"{field}: {reason}", reason_zh)


_WHAT_ZH = {
    "order": "工单",
    "handler": "处理人员",
    "area": "区域",
    "staff user": "工作人员账号",
    "callback request": "回拨请求",
}
