"""The Chinese texts people receive (short, polite, no personal data)."""

from __future__ import annotations

from datetime import datetime, tzinfo

from ..domain.lifecycle import RESIDENT_LABELS, Status
from .views import SATISFACTION_LABELS

TIER_NAMES = {"grid": "网格", "township": "乡镇（街道）", "county": "县级"}

#: Residents' channels as staff read them.
CHANNEL_NAMES = {"tg": "Telegram", "voice": "电话", "web": "网页", "open311": "Open311"}

#: Who handles an order, as its reporter is told: by role at the first tier,
#: by office above it (never a name).
ROLE_NAMES = {"mediator": "人民调解员", "grid_worker": "网格员", "staff": "社区工作人员"}
HANDLER_OFFICES = {"township": "乡镇（街道）工作人员", "county": "县级部门"}


def tier_name(tier: str) -> str:
    return TIER_NAMES.get(tier, tier)


def channel_name(channel: str) -> str:
    return CHANNEL_NAMES.get(channel, channel)


def handler_role_name(role: str, tier: str, first_tier: str) -> str:
    """"人民调解员" / "网格员" / "社区工作人员" at ``first_tier`` (the grid); the office above."""
    if tier == first_tier:
        return ROLE_NAMES.get(role, role)
    return HANDLER_OFFICES.get(tier, f"{tier_name(tier)}工作人员")


def clock(at: datetime, now: datetime, tz: tzinfo) -> str:
    """``15:30`` on the same local day as ``now``, else ``3月2日15:30``."""
    local, today = at.astimezone(tz), now.astimezone(tz)
    if local.date() == today.date():
        return local.strftime("%H:%M")
    return f"{local.month}月{local.day}日{local.strftime('%H:%M')}"


def _urgent(priority: str) -> str:
    return "【紧急】" if priority == "urgent" else ""


# ------------------------------------------------------------------- handlers


def assigned(number: str, category_name: str, location: str, priority: str, accept_by: str) -> str:
    return (
        f"{_urgent(priority)}新工单 {number}：{category_name}，{location}，"
        f"请在{accept_by}前签收。"
    )


def withdrawn_timeout(number: str) -> str:
    return f"工单 {number} 超时未签收，已收回另行派单。"


def withdrawn_reassigned(number: str) -> str:
    return f"工单 {number} 已改派他人，您无需继续处理。"


def withdrawn_cancelled(number: str) -> str:
    return f"工单 {number} 已由反映人撤销，您无需继续处理。"


def withdrawn_escalated(number: str, tier: str) -> str:
    return f"工单 {number} 已超过办结时限，已升级至{tier_name(tier)}处理。"


def withdrawn_reclassified(number: str, category_name: str) -> str:
    return f"工单 {number} 已重新分类为「{category_name}」，转由其他人员处理，您无需继续处理。"


def withdrawn_by_staff(number: str) -> str:
    return f"工单 {number} 已由工作人员撤销，您无需继续处理。"


def withdrawn_linked(number: str, parent_number: str) -> str:
    return f"工单 {number} 已并入工单 {parent_number} 合并办理，您无需继续处理。"


def made_urgent(number: str, category_name: str, location: str, accept_by: str | None) -> str:
    """The assignee's order became urgent (``accept_by`` as ``clock`` writes it, if not accepted)."""
    tail = f"请在{accept_by}前签收并尽快处理。" if accept_by else "请尽快处理。"
    return f"【紧急】工单 {number}（{category_name}，{location}）已调整为紧急，{tail}"


def report_added(number: str) -> str:
    return f"工单 {number} 收到一条补充反映，请在系统中查看。"


def remind_accept(number: str, category_name: str, location: str, accept_by: str) -> str:
    """催办: the accept limit is near (``accept_by`` as ``clock`` writes it)."""
    return f"【催办】工单 {number}（{category_name}，{location}）请在{accept_by}前签收。"


def remind_resolve(number: str, category_name: str, location: str, resolve_by: str) -> str:
    """催办: the resolve limit is near (``resolve_by`` as ``clock`` writes it)."""
    return f"【催办】工单 {number}（{category_name}，{location}）将于{resolve_by}到期，请抓紧办结。"


def attachment_added(number: str) -> str:
    return f"工单 {number} 收到居民补充的照片，请在系统中查看。"


# ---------------------------------------------------------- dispatchers, supervisors


def queued(number: str, category_name: str, location: str, priority: str) -> str:
    return (
        f"{_urgent(priority)}工单 {number}（{category_name}，{location}）"
        "暂无可派的处理人员，请尽快人工派单。"
    )


def escalated_supervisor(number: str, category_name: str, location: str, tier: str) -> str:
    return (
        f"工单 {number}（{category_name}，{location}）已超过办结时限，"
        f"升级至{tier_name(tier)}处理，请督办。"
    )


_CALLBACK_HEADS = {
    "asked": "居民请求人工服务",
    "not_understood": "智能助手未能听懂居民的诉求",
    "service_error": "系统故障，居民的诉求未能办理",
}


def callback_head(reason: str) -> str:
    """Why a resident waits for a call, in a few words (no personal data)."""
    return _CALLBACK_HEADS.get(reason, _CALLBACK_HEADS["asked"])


def callback_requested(request_id: int, reason: str, channel: str,
                       order_number: str | None = None) -> str:
    """For dispatchers: a resident waits for a call. No phone number, no transcript."""
    head = callback_head(reason)
    about = f"，涉及工单 {order_number}" if order_number else ""
    return (f"{head}（渠道：{channel_name(channel)}{about}），请尽快联系。"
            f"回拨请求 #{request_id}。")


def overdue_supervisor(number: str, category_name: str, location: str) -> str:
    return (
        f"工单 {number}（{category_name}，{location}）已超过办结时限仍未办结，"
        "已无更高层级可升级，请督办。"
    )


# ------------------------------------------------------------------ residents

#: event -> the status whose resident label the message shows
RESIDENT_EVENTS: dict[str, Status] = {
    "accepted": Status.ACCEPTED,
    "in_progress": Status.IN_PROGRESS,
    "resolved": Status.RESOLVED,
    "closed": Status.CLOSED,
    "closed_no_answer": Status.CLOSED,
    "reopened": Status.REOPENED,
    "cancelled": Status.CANCELLED,
    "escalated": Status.PENDING,
    "reclassified": Status.PENDING,
    "linked": Status.PENDING,
    "unlinked": Status.PENDING,
}


#: A staff member's note to the reporter: the message's label is the order's current status.
NOTE_EVENT = "note"


def _sentence(text: str) -> str:
    text = text.strip()
    return text if text.endswith(_SENTENCE_ENDS) else text + "。"


def staff_note(number: str, note: str) -> str:
    """A staff member writes to the reporter about their order (never naming the writer)."""
    return f"关于您反映的工单 {number}，工作人员留言：{_sentence(note)}"


def cancelled_by_staff(number: str, reason: str) -> str:
    """Staff cancelled the order (a duplicate, a mistaken report ...), with why."""
    return (f"您反映的工单 {number} 已撤销，原因：{_sentence(reason)}"
            "如有疑问，欢迎再次反映。")


#: A request (其他诉求) as its reporter is reminded of it when the answer comes.
REQUEST_SUBJECTS = {
    "request.consult": "您咨询的问题",
    "request.suggest": "您提出的意见建议",
    "request.complaint": "您的投诉举报",
}
_SENTENCE_ENDS = tuple("。！？!?…；;.")


def _satisfaction_question(about: str) -> str:
    a, b, c = (f"“{text}”" for text in SATISFACTION_LABELS.values())
    return f"请问您对{about}是否满意？请回复{a}{b}或{c}。"


def answered(number: str, category: str, answer: str) -> str:
    """A request resolved: the staff member's resolve note is the answer, quoted in full.

    ``您咨询的问题（工单 12345678）已有答复：……。请问您对答复是否满意？……``
    """
    subject = REQUEST_SUBJECTS.get(category, "您反映的问题")
    text = answer.strip()
    if not text.endswith(_SENTENCE_ENDS):
        text += "。"
    return f"{subject}（工单 {number}）已有答复：{text}{_satisfaction_question('答复')}"


def resolved_with_note(number: str, note: str) -> str:
    """A dispute or incident resolved: what the handler wrote (knowing the resident reads it).

    ``您反映的工单 12345678 已办结，处理结果：……。请问您对处理结果是否满意？……``
    """
    label = RESIDENT_LABELS[Status.RESOLVED]
    return (f"您反映的工单 {number} {label}，处理结果：{_sentence(note)}"
            f"{_satisfaction_question('处理结果')}")


def linked(number: str, parent_number: str) -> str:
    """The resident's report was merged with another order about the same matter (合并办理)."""
    return (f"您反映的工单 {number} 与工单 {parent_number} 是同一事项，已合并办理，"
            "后续进展会及时告知您。")


def unlinked(number: str) -> str:
    """The order it was merged with was cancelled: this one is handled on its own again."""
    return f"您反映的工单 {number} 将单独办理，我们会尽快安排人员处理。"


def reclassified(number: str, category_name: str, handled_by: str) -> str:
    """The order became another kind or category (重新分类); ``handled_by`` a role or office."""
    return f"您反映的问题已转为「{category_name}」，由{handled_by}处理，工单号不变：{number}。"


def resident(event: str, number: str) -> str:
    """What the reporter is told; the label is ``RESIDENT_LABELS`` of the new status."""
    label = RESIDENT_LABELS[RESIDENT_EVENTS[event]]
    head = f"您反映的工单 {number} "
    if event == "accepted":
        return f"{head}{label}，处理人员会尽快联系您。"
    if event == "in_progress":
        return f"{head}{label}，有结果会及时告知您。"
    if event == "resolved":
        return f"{head}{label}。{_satisfaction_question('处理结果')}"
    if event == "closed":
        return f"{head}{label}，感谢您的评价！"
    if event == "closed_no_answer":
        return f"{head}已结案。如问题仍未解决，欢迎再次反映。"
    if event == "reopened":
        return f"{head}已重新受理，我们会安排人员继续处理。"
    if event == "cancelled":
        return f"{head}{label}。"
    if event == "escalated":
        return f"{head}已提交上级部门协调处理，请您耐心等待。"
    raise KeyError(event)
