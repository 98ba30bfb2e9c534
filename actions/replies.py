"""Every sentence the bot builds from data, in short, polite Chinese.

Pure: inputs are plain values and the service's JSON; no Rasa, no I/O.
Fixed sentences that need no data live in bot/domain.yml as responses.
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

try:
    from zoneinfo import ZoneInfo

    CHINA = ZoneInfo("Asia/Shanghai")
except Exception:  # no tz database on the machine: China has no DST
    CHINA = timezone(timedelta(hours=8))

# ------------------------------------------------------------------ buttons
# Quick answers under the bot's closed questions. The payload is the title
# itself, so pressing a button is the same as typing it: each title is one
# the NLU and the answer readers (actions/answers.py) already take as meant.

CONFIRM_BUTTONS = ("对", "不对")
SAME_MATTER_BUTTONS = ("是的", "不是")
CANCEL_BUTTONS = ("确定撤销", "不撤了")
CONTACT_BUTTONS = ("不用留电话", "匿名反映")
#: the phone line takes keys 1 and 2 for these
DANGER_BUTTONS = ("有", "没有")
SATISFACTION_BUTTONS = ("满意", "基本满意", "不满意")


def buttons(titles: tuple[str, ...]) -> list[dict]:
    return [{"title": title, "payload": title} for title in titles]


# ------------------------------------------------------------------ report


def emergency_advice(numbers: list[str]) -> str:
    names = {"110": "110报警", "119": "119火警", "120": "120急救"}
    calls = "、".join(names[n] for n in numbers)
    return f"情况紧急！请先确保自身安全，立即拨打{calls}电话。我同时通知社区马上派人。"


ASK_DANGER = "现在有人受伤，或者有着火、煤气泄漏这样的危险吗？"
NO_DANGER = "好的，那我按一般情况为您登记。"
ASK_DESCRIPTION = "请您简单说说发生了什么事？"
ASK_REQUEST = "好的，请您具体说说想咨询或反映什么？"
ASK_LOCATION = "请问具体在什么地方？比如小区、楼号，或者路口、村组。"
ASK_LOCATION_ROUGHLY = "没关系，说个大概位置就行，比如附近的路名、小区或者村子。"
ASK_LOCATION_URGENT = "请马上告诉我具体地点，比如小区、楼号或路口。"
ASK_COMMUNITY = "请问这是在哪个社区或村？"
#: the community slot when the resident cannot name it (the fallback office takes it)
COMMUNITY_UNKNOWN = "不清楚"
ASK_CONTACT = "处理人员可能需要联系您，方便留个手机号吗？不方便可以说“不用”，想匿名反映请说“匿名”。"
ASK_CONTACT_CALLER = "处理人员可以打您现在这个号码联系您吗？"
#: the phone line speaks the options and takes keys 1, 2, 3 for them
CALLER_CONTACT_BUTTONS = ("可以", "不用留电话", "匿名反映")
ASK_CORRECTION = "请问哪里需要改？直接说正确的内容就行，比如“地点是幸福里3号楼”。"
NOT_UNDERSTOOD_CORRECTION = "没听明白要改哪一项。请说“地点是……”、“电话是……”或者重新说一下事情。"


def days(hours: int | None) -> str:
    """72 → "3天"; what a resident hears as the time to an answer."""
    return f"{max(1, -(-int(hours or 72) // 24))}天"


def request_acknowledged(hours: int | None) -> str:
    return f"好的，这个问题我帮您转给社区工作人员，{days(hours)}内给您答复。"


ASK_CONTACT_FOR_ANSWER = ("答复需要联系到您，方便留个手机号吗？不方便可以说“不用”，"
                          "之后用工单号来查答复。")
#: what a request is called in the read-back
REQUEST_WHAT = {"request.consult": "您要咨询的是", "request.suggest": "您的建议是",
                "request.complaint": "您要投诉举报的是"}


def contact_text(contact: str | None, phone: str | None) -> str:
    if contact == "phone" and phone:
        return f"联系电话：{phone}"
    if contact == "anonymous":
        return "匿名反映"
    return "不留联系方式"


def readback(category_name: str | None, description: str, location: str,
             contact: str | None, phone: str | None, photos: int = 0,
             located: bool = False) -> str:
    what = f"{category_name}：{description}" if category_name else description
    extras = "".join(part for part, present in (("；附定位", located),
                                                (f"；附照片{photos}张", photos > 0)) if present)
    return (f"我核对一下：您反映的是{what}；地点：{location}{extras}；"
            f"{contact_text(contact, phone)}。对吗？")


def readback_request(category: str, description: str, location: str | None,
                     contact: str | None, phone: str | None, asked_contact: bool,
                     photos: int = 0) -> str:
    """The read-back of a question, suggestion or complaint: the place and a
    contact only when there are any."""
    what = REQUEST_WHAT.get(category, "您反映的是")
    parts = [f"我核对一下：{what}：{description}"]
    if location:
        parts.append(f"地点：{location}")
    if photos:
        parts.append(f"附照片{photos}张")
    if asked_contact:
        parts.append(contact_text(contact, phone))
    return "；".join(parts) + "。对吗？"


def ask_same_matter(number: str, label: str) -> str:
    return (f"这个地方已经有人反映过同类问题（工单 {number}，{label}）。"
            "您说的是同一件事吗？")


def ask_same_own_matter(number: str, label: str) -> str:
    """The resident reported this dispute here before and it is still open."""
    return (f"您之前反映过这里的同类问题（工单 {number}，{label}）。"
            "这次说的是同一件事吗？是的话我补充到原工单。")


def when(value: str | None, now: datetime | None = None) -> str | None:
    """An ISO time from the service as "今天18:00" / "明天9:30" / "11月24日18:00"."""
    if not value:
        return None
    try:
        at = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if at.tzinfo is None:
        at = at.replace(tzinfo=timezone.utc)
    local = at.astimezone(CHINA)
    today = (now or datetime.now(timezone.utc)).astimezone(CHINA).date()
    clock = f"{local.hour}:{local.minute:02d}"
    days = (local.date() - today).days
    if days == 0:
        return f"今天{clock}"
    if days == 1:
        return f"明天{clock}"
    return f"{local.month}月{local.day}日{clock}"


#: how the answer to a request reaches the resident (order_opened's ``reach``)
ANSWER_REACHES = {
    "chat": "答复会在这里发给您",
    "phone": "答复会用短信发到您这个号码",
    "contact": "工作人员会按您留的电话答复您",
    "lookup": "您可以随时发工单号来查答复",
}


def order_opened(order: dict, now: datetime | None = None, reach: str = "chat") -> str:
    """``reach``: for a request, how its answer reaches the resident (ANSWER_REACHES)."""
    number = order["number"]
    if order.get("kind") == "request":
        deadline = when(order.get("resolve_by"), now)
        by = f"会在{deadline}前" if deadline else "会尽快"
        return (f"已为您登记，工单号 {number}。社区工作人员{by}答复您，"
                f"{ANSWER_REACHES.get(reach, ANSWER_REACHES['chat'])}。")
    role = order.get("handler_role")
    deadline = when(order.get("resolve_by"), now)
    if order.get("priority") == "urgent":
        who = f"{role}会尽快赶到现场" if role else "工作人员会尽快赶到现场"
        return f"已按紧急情况登记，工单号 {number}，{who}。"
    who = f"已安排{role}处理" if role else "工作人员会尽快安排处理"
    by = f"，预计{deadline}前办结" if deadline else ""
    return f"已为您登记，工单号 {number}。{who}{by}，有进展会在这里通知您。"


# ------------------------------------------------------------------ photos and locations
# (the chat adapter turns a shared photo or location into a payload message)

PHOTO_KEPT = "收到照片，会随工单一起提交。"
LOCATION_KEPT = "收到您的定位，会随工单一起提交。"
# when a photo or location starts a report: the first question of the form
PHOTO_STARTS_REPORT = "收到照片。请问发生了什么事？在哪里？"
LOCATION_STARTS_REPORT = "收到您的定位。请问发生了什么事？"
# the place is still needed to find the community's staff
LOCATION_ASK_PLACE = "收到您的定位。请再说一下是哪个小区、哪栋楼，方便派给当地工作人员。"
ASK_PLACE_BESIDES_LOCATION = "请再说一下是哪个小区、哪栋楼，方便派给当地工作人员。"
PHOTO_UNREADABLE = "抱歉，这张照片没有收到，请重新发送一次。"
LOCATION_UNREADABLE = "抱歉，这个定位没有收到，请重新发送一次。"


def too_many_photos(most: int) -> str:
    return f"一次反映最多附{most}张照片，这张就不附上了。"


def photo_added(number: str) -> str:
    return f"照片已补充到工单 {number}。如果是新的问题，请直接告诉我。"


def location_added(number: str) -> str:
    return f"定位已补充到工单 {number}。"


def media_not_added(what: str, number: str, reason_zh: str | None) -> str:
    """``what``: 照片 or 定位."""
    reason = reason_zh or "这个工单已经不能补充了。"
    return f"抱歉，{what}没能补充到工单 {number}：{reason}如果是新的问题，请直接告诉我。"


def media_kept_while_down(what: str) -> str:
    """``what``: 照片 or 定位; it stays with the report being taken."""
    return f"抱歉，系统暂时连不上，{what}先替您记下了，不会丢失。"


PHOTOS_ONLY_BY_REPORTER = "别人反映的工单只能由反映人补充照片。"
PHOTOS_NOT_ADDED = "系统暂时没能保存照片。"


def photos_not_sent(reason_zh: str | None) -> str:
    reason = reason_zh or "照片已失效。"
    return f"另外，照片没能一起提交：{reason}"


def report_attached(number: str) -> str:
    return f"好的，已把您的反映补充到工单 {number}，会一并处理。您可以随时发工单号查询进度。"


SERVICE_DOWN = ("抱歉，系统暂时连不上，您的反映已经记下了，不会丢失。"
                "请稍后说“再试一次”，我帮您重新提交，不用再说一遍。")
NOTHING_TO_RETRY = "您目前没有待提交的反映。有新情况请直接告诉我。"
REPORT_ABORTED = "好的，这次反映先不提交了。有需要随时找我。"


def rejected(reason_zh: str | None) -> str:
    reason = reason_zh or "信息不完整"
    return f"抱歉，提交没有成功：{reason} 需要人工帮忙请说“转人工”。"


def pending_submitted(order: dict, now: datetime | None = None) -> str:
    return "您之前的反映已经提交成功。" + order_opened(order, now)


# ------------------------------------------------------------------ status


def status(order: dict, now: datetime | None = None) -> str:
    head = f"工单 {order['number']}（{order['category_name']}，{order['location_text']}）"
    parts = [f"{head}目前{order['label']}"]
    role = order.get("handler_role")
    if role and order.get("status") not in ("resolved", "closed", "archived", "cancelled"):
        parts.append(f"由{role}处理")
    deadline = when(order.get("resolve_by"), now)
    if deadline and order.get("status") in ("pending", "assigned", "accepted", "in_progress",
                                             "reopened"):
        parts.append(f"预计{deadline}前办结")
    text = "，".join(parts) + "。"
    if order.get("latest_note"):
        text += f"处理人员最新说明：{order['latest_note']}"
        if not text.endswith(("。", "！", "？", ".")):
            text += "。"
    if order.get("awaiting_satisfaction"):
        text += "请问您对处理结果满意吗？请回复“满意”“基本满意”或“不满意”。"
    return text


NO_OPEN_ORDER = "您目前没有正在办理的反映。有新情况请直接告诉我。"

# ------------------------------------------------------------ the phone line

GREETING = ("您好！我是社区服务助手。您可以直接告诉我遇到的纠纷或问题，比如“楼上漏水”“路灯坏了”，"
            "也可以咨询政策、提建议，或查询已反映事项的进度。")
PHONE_GREETING = ("您好，这里是社区服务热线。请直接说出您要反映的问题或想咨询的事，"
                  "比如“楼上漏水”“路灯坏了”。")


def headline(order: dict, now: datetime | None = None) -> str:
    """What the phone line says of an order before the caller names its number:
    the number, the category, the status and the deadline; never the place, the
    parties or anyone's notes (the caller's number alone proves little)."""
    text = f"工单 {order['number']}（{order['category_name']}）目前{order['label']}"
    deadline = when(order.get("resolve_by"), now)
    if deadline and order.get("status") in ("pending", "assigned", "accepted", "in_progress",
                                             "reopened"):
        text += f"，预计{deadline}前办结"
    return text + "。"


#: after a headline on the phone line: the details need the order number
DETAILS_BY_NUMBER = "要听详细情况，请说出工单号，或用按键输入工单号后按井号键。"


def phone_status(order: dict, now: datetime | None = None) -> str:
    """A phone caller asking about "my order" without its number: the headline,
    how to hear the details (and the follow-up question, if the order waits for one)."""
    text = headline(order, now) + DETAILS_BY_NUMBER
    if order.get("awaiting_satisfaction"):
        text += ASK_SATISFACTION
    return text


def phone_greeting_with(order: dict, now: datetime | None = None) -> str:
    """A caller with an open order hears its headline first (and the follow-up
    question, if the order waits for one)."""
    text = f"您好，这里是社区服务热线。您反映的{phone_status(order, now)}"
    if not order.get("awaiting_satisfaction"):
        text += "还有别的事，请直接说。"
    return text
NOT_YOUR_ORDER = "没有查到您名下的这个工单，请核对一下号码。"
STATUS_DOWN = "抱歉，系统暂时连不上，查不到进度，请稍后再问我。"

# ------------------------------------------------------------------ cancel


def ask_cancel(order: dict, place: bool = True) -> str:
    where = f"，{order['location_text']}" if place else ""
    return f"确定要撤销工单 {order['number']}（{order['category_name']}{where}）吗？"


def cancelled(number: str) -> str:
    return f"工单 {number} 已撤销。如有新情况，欢迎随时反映。"


NOTHING_TO_CANCEL = "您目前没有可以撤销的工单。"
CANCEL_KEPT = "好的，工单继续办理。"
CANNOT_CANCEL_DONE = "这个工单已经办结，不能撤销了。如问题还在，可以直接告诉我重新反映。"

# ------------------------------------------------------------------ follow-up visit

ASK_SATISFACTION = "请问您对处理结果满意吗？请回复“满意”“基本满意”或“不满意”。"
ASK_SATISFACTION_REASON = "很抱歉没让您满意。能说说哪里还不满意吗？我们会重新安排处理。"
NOTHING_TO_RATE = "您目前没有需要评价的工单。有新情况请直接告诉我。"


def rated(number: str, answer: str) -> str:
    if answer == "unsatisfied":
        return f"收到，工单 {number} 已重新受理，我们会尽快安排人员继续处理。"
    return f"感谢您的评价！工单 {number} 已办结归档。"


# ------------------------------------------------------------------ people

HANDOFF = "好的，已通知工作人员，会尽快与您联系，请保持电话畅通。"
HANDOFF_AFTER_FAILURES = "抱歉，我没能理解您的意思。已请工作人员尽快与您联系。"
HANDOFF_DOWN = "抱歉，系统暂时连不上，暂时转不了人工。请稍后再试，情况紧急请直接拨打110。"
HANDOFF_WAIT = "工作人员会尽快联系您，请稍候。您也可以直接说要反映的事情。"
NOT_UNDERSTOOD = "不好意思，我没太听明白。能换个说法再说一遍吗？"
