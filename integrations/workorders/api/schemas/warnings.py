"""研判预警 warnings out, and the notes staff send with them.

Every code comes with its Chinese label (``kind_label``, ``level_label``,
``state_label``...), as supervisors read it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from ...domain.lifecycle import STATUS_LABELS, Status
from ...domain.warnings import KIND_LABELS, LEVEL_LABELS, STATE_LABELS
from ...service.warning_actions import MAX_WARNING_NOTE
from ...service.warning_queries import WarningEventView, WarningOrderView, WarningView
from .common import Input

WarningKind = Literal["repeat", "dispute_risk", "surge", "hotspot"]
WarningLevel = Literal["attention", "warning", "urgent"]
WarningState = Literal["open", "acknowledged", "closed"]

#: How the orders behind a warning are named.
ROLE_LABELS = {"trigger": "触发工单", "earlier": "此前工单", "member": "相关工单",
               "parent": "主工单"}
#: The actions of a warning's history.
EVENT_LABELS = {"raise": "发出预警", "update": "预警更新", "acknowledge": "知悉",
                "close": "关闭", "link": "合并工单", "reopen": "重新打开"}


def _status_label(code: str) -> str:
    try:
        return STATUS_LABELS[Status(code)]
    except ValueError:
        return code


class WarningOrderPublic(BaseModel):
    """An order behind a warning."""

    number: str
    role: str = Field(description="trigger (the order it is about), earlier (a repeat's "
                      "predecessors), member (a surge's reports), parent (a surge's main order)")
    role_label: str = Field(examples=["触发工单"])
    status: str
    status_label: str = Field(examples=["处理中"])
    category: str
    category_name: str
    location_text: str
    created_at: datetime

    @classmethod
    def of(cls, view: WarningOrderView) -> WarningOrderPublic:
        return cls(
            number=view.number, role=view.role, role_label=ROLE_LABELS.get(view.role, view.role),
            status=view.status, status_label=_status_label(view.status),
            category=view.category, category_name=view.category_name or view.category,
            location_text=view.location_text, created_at=view.created_at,
        )


class WarningEventPublic(BaseModel):
    """One entry of a warning's history, oldest first."""

    action: str = Field(description="raise, update, acknowledge, close, link, reopen")
    action_label: str = Field(examples=["知悉"])
    actor: str = Field(description="system (the detectors) or staff:<username>")
    at: datetime
    level: WarningLevel = Field(description="The warning's level at that moment")
    level_label: str
    note: str | None

    @classmethod
    def of(cls, view: WarningEventView) -> WarningEventPublic:
        return cls(
            action=view.action, action_label=EVENT_LABELS.get(view.action, view.action),
            actor=view.actor, at=view.at, level=view.level,  # type: ignore[arg-type]
            level_label=LEVEL_LABELS.get(view.level, view.level), note=view.note,
        )


class WarningPublic(BaseModel):
    """A warning as a listing shows it (``GET /api/v1/warnings/{id}`` adds its orders and
    history)."""

    id: int
    kind: WarningKind = Field(description="repeat 重复诉求, dispute_risk 矛盾激化风险, "
                              "surge 激增, hotspot 热点")
    kind_label: str = Field(examples=["重复诉求"])
    level: WarningLevel = Field(description="attention 关注 < warning 预警 < urgent 紧急")
    level_label: str = Field(examples=["预警"])
    state: WarningState = Field(description="open 待处理 → acknowledged 已知悉 → closed 已关闭")
    state_label: str = Field(examples=["待处理"])
    area_code: str
    area_name: str
    category: str | None = Field(description="A taxonomy category; null for a finding about "
                                 "several (a hotspot place)")
    category_name: str | None
    explanation: str = Field(description="One Chinese sentence a supervisor can act on")
    details: dict[str, Any] = Field(description="What the detector measured: a risk score and "
                                    "its reasons, counts against the usual, earlier orders...")
    order_number: str | None = Field(description="The order it is about (repeat, dispute_risk) "
                                     "or a surge's main order once linked")
    created_at: datetime
    updated_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None
    ack_note: str | None
    closed_at: datetime | None
    closed_by: str | None
    close_note: str | None

    @classmethod
    def fields_of(cls, view: WarningView) -> dict[str, Any]:
        return {
            "id": view.id, "kind": view.kind, "kind_label": KIND_LABELS.get(view.kind, view.kind),
            "level": view.level, "level_label": LEVEL_LABELS.get(view.level, view.level),
            "state": view.state, "state_label": STATE_LABELS.get(view.state, view.state),
            "area_code": view.area_code, "area_name": view.area_name,
            "category": view.category, "category_name": view.category_name,
            "explanation": view.explanation, "details": view.details,
            "order_number": view.order_number, "created_at": view.created_at,
            "updated_at": view.updated_at, "acknowledged_at": view.acknowledged_at,
            "acknowledged_by": view.acknowledged_by, "ack_note": view.ack_note,
            "closed_at": view.closed_at, "closed_by": view.closed_by,
            "close_note": view.close_note,
        }

    @classmethod
    def of(cls, view: WarningView) -> WarningPublic:
        return cls(**cls.fields_of(view))


class WarningDetailPublic(WarningPublic):
    """A warning with the orders behind it and its history."""

    orders: list[WarningOrderPublic] = Field(
        description="The order it is about first, then earlier orders (newest first), then "
                    "the other reports in the order they came")
    events: list[WarningEventPublic] = Field(description="Its history, oldest first")

    @classmethod
    def of(cls, view: WarningView) -> WarningDetailPublic:
        return cls(**cls.fields_of(view),
                   orders=[WarningOrderPublic.of(o) for o in view.orders],
                   events=[WarningEventPublic.of(e) for e in view.events])


class WarningNote(Input):
    """What the person acknowledging or closing a warning says (kept in its history)."""

    note: str = Field(min_length=1, max_length=MAX_WARNING_NOTE,
                      description="Required, at most 500 characters: what is being done, or "
                      "why the warning needs nothing more",
                      examples=["已安排网格员上门核实。"])
