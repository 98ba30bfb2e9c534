"""Errors the use cases raise (besides the domain's own, which pass through).

Like ``domain.errors``, each carries an English ``reason`` (logs, API
``detail``) and a Chinese ``reason_zh`` (what a person is shown). The HTTP
layer maps them by type: NotFound 404, Forbidden 403, Conflict 409,
InvalidInput 422, TooManyAttempts 429; domain errors (``IllegalTransition`` 409,
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


class StagedPhotoQuota(Conflict):
    """A resident holds as many staged photos (or bytes) as allowed; 409."""

    def __init__(self, most: int) -> None:
        super().__init__(
            f"at most {most} staged photos (or their byte quota) per resident",
            "您已发送的照片较多，还没有提交。请先完成反映，或稍后再发送新照片，谢谢。",
        )


class TooManyAttempts(ServiceError):
    """Too many failed tries in a while (e.g. guessing link codes); try again later."""

    def __init__(self, reason: str, reason_zh: str, *, retry_after_s: int) -> None:
        self.retry_after_s = retry_after_s
        super().__init__(reason, reason_zh)


class InvalidInput(ServiceError):
    """A field is missing, too long or malformed."""

    def __init__(self, field: str, reason: str, reason_zh: str) -> None:
        self.field = field
        super().__init__(f"{field}: {reason}", reason_zh)


class UnsupportedImage(InvalidInput):
    """An upload that is not a JPEG, PNG or WebP image (by its declared type or its bytes)."""

    def __init__(self, reason: str) -> None:
        super().__init__("content_type", reason, "只能上传 JPG、PNG 或 WebP 图片。")


class ImageTooLarge(InvalidInput):
    """An upload over the size limit (``limit`` bytes)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        mib = limit / (1024 * 1024)
        size = f"{mib:g}MB" if mib >= 1 else f"{max(limit // 1024, 1)}KB"
        super().__init__("body", f"larger than {limit} bytes",
                         f"图片太大了，请发送不超过{size}的图片。")


_WHAT_ZH = {
    "order": "工单",
    "handler": "处理人员",
    "area": "区域",
    "staff user": "工作人员账号",
    "callback request": "回拨请求",
    "attachment": "照片",
    "warning": "预警",
}
