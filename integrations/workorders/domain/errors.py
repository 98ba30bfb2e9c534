"""Errors the domain raises on purpose.

Every error carries an English ``reason`` (logs, API ``detail``) and a
Simplified Chinese ``reason_zh`` (what a resident or a handler is shown).
"""

from __future__ import annotations


def _value(item: object) -> str:
    """The plain string of an enum member or any other value."""
    return str(getattr(item, "value", item))


def _label(item: object) -> str:
    """The Chinese label of a ``Status``/``Action`` member, else the value."""
    label = getattr(item, "label", None)
    return label if isinstance(label, str) else _value(item)


class DomainError(Exception):
    """Base class of every domain error."""

    def __init__(self, reason: str, reason_zh: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.reason_zh = reason_zh


class IllegalTransition(DomainError):
    """The action is not allowed from the work order's current status."""

    def __init__(self, status: object, action: object) -> None:
        self.status = status
        self.action = action
        super().__init__(
            f"action {_value(action)!r} is not allowed in status {_value(status)!r}",
            f"工单当前状态为“{_label(status)}”，不能执行“{_label(action)}”操作。",
        )


class UnknownCategory(DomainError):
    """The category code is not in the taxonomy."""

    def __init__(self, code: str) -> None:
        self.code = code
        super().__init__(f"unknown category {code!r}", f"未知的事项类别：{code}")


class UnknownKind(DomainError):
    """The kind (dispute / incident) is not in the taxonomy."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        super().__init__(f"unknown kind {kind!r}", f"未知的事项类型：{kind}")


class UnknownTier(DomainError):
    """The tier is not one of the taxonomy's escalation tiers."""

    def __init__(self, tier: str) -> None:
        self.tier = tier
        super().__init__(f"unknown tier {tier!r}", f"未知的处置层级：{tier}")


class UnknownPriority(DomainError):
    """The priority is neither ``normal`` nor ``urgent``."""

    def __init__(self, priority: object) -> None:
        self.priority = priority
        super().__init__(
            f"unknown priority {priority!r}", f"未知的紧急程度：{priority}"
        )


class InvalidTaxonomy(DomainError):
    """The taxonomy document is malformed (an operator's configuration error)."""

    def __init__(self, detail: str) -> None:
        self.detail = detail
        super().__init__(
            f"invalid taxonomy: {detail}", f"事项分类配置（taxonomy.yml）有误：{detail}"
        )
