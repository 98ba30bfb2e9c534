"""Chinese labels of the service's codes, as the console shows them (Jinja filters)."""

from __future__ import annotations

from datetime import datetime

from ...domain.lifecycle import ACTION_LABELS, STATUS_LABELS, Action, Status
from ...service import CHINA_TZ
from ...service.messages import CHANNEL_NAMES, ROLE_NAMES, TIER_NAMES
from ...service.views import SATISFACTION_LABELS

PRIORITY_NAMES = {"normal": "一般", "urgent": "紧急"}
STAFF_ROLE_NAMES = {"handler": "处理人员", "dispatcher": "调度员", "supervisor": "数据监督员",
                    "admin": "管理员"}
#: statuses whose badge is drawn as needing attention / finished
ATTENTION = {"pending", "reopened"}
DONE = {"resolved", "closed", "archived"}


def status_zh(code: str | None) -> str:
    if not code:
        return ""
    try:
        return STATUS_LABELS[Status(code)]
    except ValueError:
        return code


def action_zh(code: str | None) -> str:
    if not code:
        return ""
    try:
        return ACTION_LABELS[Action(code)]
    except ValueError:
        return ACTION_EXTRA.get(code, code)


#: audit actions added outside the lifecycle table (notes, reveals, priority)
ACTION_EXTRA = {
    "note": "内部备注", "resident_note": "告知居民", "contact_revealed": "查看联系电话",
    "priority_changed": "调整优先级", "priority": "调整优先级", "withdraw": "撤销工单",
    "attach": "补充反映", "location": "补充位置",
    "create": "受理",
}


def priority_zh(code: str | None) -> str:
    return PRIORITY_NAMES.get(code or "", code or "")


def tier_zh(code: str | None) -> str:
    return TIER_NAMES.get(code or "", code or "")


def handler_role_zh(code: str | None) -> str:
    return ROLE_NAMES.get(code or "", code or "")


def staff_role_zh(code: str | None) -> str:
    return STAFF_ROLE_NAMES.get(code or "", code or "")


def channel_zh(code: str | None) -> str:
    return CHANNEL_NAMES.get(code or "", code or "")


def satisfaction_zh(code: str | None) -> str:
    if not code:
        return "未评价"
    return SATISFACTION_LABELS.get(code, code)


def status_tone(code: str | None) -> str:
    """A CSS modifier for a status badge."""
    if code in ATTENTION:
        return "warn"
    if code in DONE:
        return "done"
    if code == "cancelled":
        return "muted"
    return "open"


def local_time(at: datetime | None) -> str:
    """``2026-12-06 14:03`` in China time; empty for None."""
    if at is None:
        return ""
    return at.astimezone(CHINA_TZ).strftime("%Y-%m-%d %H:%M")


def age(at: datetime | None, now: datetime) -> str:
    """How long ago, in the largest sensible unit: 刚刚, 5分钟前, 3小时前, 2天前."""
    if at is None:
        return ""
    seconds = max(0, int((now - at).total_seconds()))
    if seconds < 60:
        return "刚刚"
    if seconds < 3600:
        return f"{seconds // 60}分钟前"
    if seconds < 86400:
        return f"{seconds // 3600}小时前"
    return f"{seconds // 86400}天前"


def duration(minutes: float | None) -> str:
    """``45分钟``, ``3.5小时``, ``2.1天``; a dash for None."""
    if minutes is None:
        return "—"
    if minutes < 60:
        return f"{minutes:.0f}分钟"
    if minutes < 60 * 48:
        return f"{minutes / 60:.1f}小时"
    return f"{minutes / 1440:.1f}天"


def percent(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"
