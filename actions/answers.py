"""Pure readers of residents' short answers: yes or no, how to reach them,
how satisfied they are, and which part of a report they are correcting.

No Rasa and no I/O: each takes the message text (and what the NLU found)
and returns a value or None for "this is not an answer to that question".
"""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

from .normalize import normalize_phone

YES_INTENTS = frozenset({"affirm"})
NO_INTENTS = frozenset({"deny"})

_NO = re.compile(r"^(?:不对|不是|错了|不行|不要|不用|没有|否|不)")
_YES = re.compile(r"^(?:对|是|没错|没问题|可以|好|行|嗯|确认|正确|ok|yes)", re.IGNORECASE)


def _clean(text: str) -> str:
    folded = unicodedata.normalize("NFKC", text or "").strip()
    return re.sub(r"[\s，。,.!！?？~、]+", "", folded)


def yes_no(text: str, intent: str | None) -> bool | None:
    """True for "对/是的/1", False for "不对/不是/2", else None.

    The phone line lets callers answer with a key: 1 是, 2 不是."""
    clean = _clean(text)
    if clean in ("1", "一"):
        return True
    if clean in ("2", "二"):
        return False
    if intent in NO_INTENTS or _NO.match(clean):
        return False
    if intent in YES_INTENTS or _YES.match(clean):
        return True
    return None


_DANGER_NO = re.compile(r"^(?:没有|没|不是|不|否|无|都没|暂时没|目前没|还没|没事|还好|放心)")
_DANGER_YES = re.compile(r"^(?:有|是|对|快|救命|危险|着火|起火|冒烟|受伤|流血|晕|出事|煤气|燃气)")


def danger_answer(text: str, intent: str | None) -> bool | None:
    """The answer to "is anyone hurt, is there fire or gas?": True for "有/是的/1",
    False for "没有/不是/2", None when it answers neither (the caller of this
    takes None as danger: safety first)."""
    clean = _clean(text)
    if clean in ("1", "一"):
        return True
    if clean in ("2", "二"):
        return False
    if any(word in clean for word in ("不知道", "不清楚", "不确定", "说不清", "不晓得", "好像", "可能")):
        return None
    if _DANGER_NO.match(clean) or (intent in NO_INTENTS and not _DANGER_YES.match(clean)):
        return False
    if _DANGER_YES.match(clean) or intent in YES_INTENTS:
        return True
    return None


DONT_KNOW = ("不知道", "不清楚", "不晓得", "说不清", "说不上来", "不记得", "记不清", "不确定",
             "搞不清", "弄不清", "不太懂", "就在这附近", "就在附近", "就这附近", "这附近", "附近",
             "就在这", "就这里", "不知")


def dont_know(text: str) -> bool:
    """"不知道", "不清楚", "就在这附近": the resident cannot name the community."""
    clean = _clean(text)
    return len(clean) <= 12 and any(word in clean for word in DONT_KNOW)


DROP_WORDS = ("不报了", "不反映了", "不投诉了", "不举报了", "不提交了", "不想报", "不想反映",
              "不想投诉", "不登记了", "别报了", "撤回", "撤销")


def drops_report(text: str) -> bool:
    """"算了，不报了": the resident gives up the report (not a "no" to a question)."""
    clean = _clean(text)
    return any(word in clean for word in DROP_WORDS)


ANONYMOUS = ("匿名", "不留名", "不想留名", "不要留名", "不愿留名", "别留名", "不透露",
             "不想让人知道", "别让人知道", "保密")
NO_CONTACT = ("不用", "不需要", "不留", "不必", "不方便", "没有电话", "没电话", "算了",
              "不要", "不想留", "别联系", "不用联系")


#: the ``phone`` slot of a caller who accepted the number they ring from: the
#: actions never see that number (the service gets it from the gateway, encrypted)
THIS_PHONE = "本机号码"


def contact_answer(text: str, intent: str | None, phone_entity: str | None = None,
                   caller: bool = False) -> tuple[str, str | None] | None:
    """How the resident wants to be reached: ("phone", number), ("none", None)
    or ("anonymous", None); None when the text answers something else.

    ``caller``: a phone caller, for whom "可以/1" accepts the number they ring
    from (``("phone", THIS_PHONE)``)."""
    phone = normalize_phone(phone_entity) or normalize_phone(text)
    if phone:
        return "phone", phone
    if drops_report(text):
        return None
    clean = _clean(text)
    if any(word in clean for word in ANONYMOUS):
        return "anonymous", None
    if any(word in clean for word in NO_CONTACT):
        return "none", None
    answer = yes_no(text, intent)
    if caller and answer is True:
        return "phone", THIS_PHONE
    if answer is False:
        return "none", None
    return None


SATISFACTION_WORDS = (
    # checked in this order: "不满意" contains "满意"
    ("unsatisfied", ("不满意", "不太满意", "很不满意", "不行", "没解决", "没有解决", "没修好",
                     "还没好", "太差", "很差", "不好", "差评", "还在", "照样", "依旧")),
    ("basically_satisfied", ("基本满意", "还行", "还可以", "一般", "凑合", "过得去",
                             "马马虎虎", "比较满意", "还算满意", "差不多")),
    ("satisfied", ("满意", "很好", "挺好", "不错", "好评", "解决了", "修好了", "谢谢")),
)
SATISFACTION_KEYS = {"1": "satisfied", "2": "basically_satisfied", "3": "unsatisfied"}
SATISFACTION_VALUES = frozenset(value for value, _ in SATISFACTION_WORDS)


def satisfaction_answer(text: str, entity_values: Iterable[str] = ()) -> str | None:
    """satisfied | basically_satisfied | unsatisfied, or None.

    Words win over the NLU's entity when they disagree on "不": the entity
    extractor can tag just "满意" inside "不满意"."""
    clean = _clean(text)
    if clean in SATISFACTION_KEYS:
        return SATISFACTION_KEYS[clean]
    for value, words in SATISFACTION_WORDS:
        if any(word in clean for word in words):
            return value
    for value in entity_values:
        if value in SATISFACTION_VALUES:
            return value
    return None


_LEADING_RATING = re.compile(
    r"^(?:我|俺|说实话|说实在的)?(?:非常|很|太|挺|十分|相当|一点都|一点也|不太|不怎么|不是很|基本上?|还算|比较)?"
    r"(?:不满意|满意)")


def leads_with_rating(text: str) -> bool:
    """"不满意，灯还是一闪一闪的": the message opens with a rating, so it answers the
    follow-up question even when the NLU reads the rest as a new report."""
    return bool(_LEADING_RATING.match(_clean(text)))


def satisfaction_reason(text: str) -> str | None:
    """What follows the rating in "不满意，水还在漏" (None if nothing useful)."""
    clean = unicodedata.normalize("NFKC", text or "").strip()
    rest = re.sub(r"^.*?(?:不满意|不太满意|基本满意|满意)[\s，。,.!！、：:]*", "", clean, count=1)
    if rest == clean:
        return None
    rest = rest.strip(" ，。,.!！")
    return rest if len(rest) >= 2 else None


CORRECTION_TARGETS = (
    ("location", ("地点", "地址", "位置", "地方", "在哪", "门牌", "小区", "楼号")),
    ("contact", ("电话", "手机", "号码", "联系方式", "匿名")),
    ("description", ("事情", "问题", "内容", "情况", "不是这个事", "说的是")),
)
_PREFIX = re.compile(
    r"^(?:不对|不是|错了|应该是|改成|改为|改一下|更正|换成)?[\s，,。：:]*"
    r"(?:(?:地点|地址|位置|地方|电话|手机|号码|联系方式|事情|问题|内容|情况)"
    r"(?:应该|要)?(?:是|改成|改为|为|在)?)?[\s，,。：:]*"
)


def correction_target(text: str) -> str | None:
    """Which field a correction names ("地点是…" → location), or None."""
    clean = _clean(text)
    for field, words in CORRECTION_TARGETS:
        if any(word in clean for word in words):
            return field
    return None


def correction_value(text: str) -> str:
    """The corrected value without the lead-in: "不对，地点是红星村村口" → "红星村村口"."""
    clean = unicodedata.normalize("NFKC", text or "").strip()
    return _PREFIX.sub("", clean, count=1).strip(" ，。,.!！") or clean
