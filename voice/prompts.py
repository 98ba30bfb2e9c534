"""Every fixed sentence the voice line says itself, and the words it listens for.

Short and polite, for elderly listeners. What the bot says comes from Rasa;
these are the line's own: busy, transfer, silence, no speech model, the
spoken options after a closed question. ``ALL`` lists the fixed ones so the
speech cache can render them at start-up.
"""

from __future__ import annotations

from collections.abc import Sequence

BUSY = "线路繁忙，请稍后再拨。"
TRANSFER = "正在为您转接工作人员，请稍候。"
RASA_DOWN = "系统暂时有点忙，正在为您转接工作人员。"
STILL_THERE = "请问您还在吗？请说出您要反映的问题。"
GOODBYE_SILENCE = "没有听到您的声音，本次通话先结束了。需要时请再拨打本热线，再见。"
NOT_HEARD = "不好意思，没有听清。请您再说一遍。"
NO_MODEL = "您好，这里是社区服务热线。语音登记暂时无法使用，请按0转接工作人员，或稍后再拨。"
NO_MODEL_REMINDER = "需要转接工作人员，请按0。"

ALL: tuple[str, ...] = (BUSY, TRANSFER, RASA_DOWN, STILL_THERE, GOODBYE_SILENCE, NOT_HEARD,
                        NO_MODEL, NO_MODEL_REMINDER)

#: The bot's own "I did not understand" sentences (actions/replies.py:
#: NOT_UNDERSTOOD, NOT_UNDERSTOOD_CORRECTION, HANDOFF_AFTER_FAILURES,
#: HANDOFF_WAIT). A turn answered with one of them is a failed turn; two in a
#: row bring in a person. tests/app/voice/test_call.py keeps them in step.
BOT_NOT_UNDERSTOOD: frozenset[str] = frozenset({
    "不好意思，我没太听明白。能换个说法再说一遍吗？",
    "没听明白要改哪一项。请说“地点是……”、“电话是……”或者重新说一下事情。",
    "抱歉，我没能理解您的意思。已请工作人员尽快与您联系。",
    "工作人员会尽快联系您，请稍候。您也可以直接说要反映的事情。",
})

#: Said by a caller who wants the last answer again.
REPEAT_PHRASES = ("再说一遍", "重复一遍", "再说一次", "重复一下", "再讲一遍", "没听清")
#: Short answers heard while a closed question is open, besides its buttons.
YES_NO_WORDS = ("是", "是的", "对", "对的", "没错", "不是", "不对", "好", "好的", "可以",
                "不可以", "不用", "不要", "行", "不行")
#: A button chosen by saying its number: "一" is the first.
DIGIT_WORDS = {"一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7,
               "八": 8, "九": 9}
#: What a closed question's grammar always holds (checked against the model at start-up).
COMMON_ANSWERS: tuple[str, ...] = YES_NO_WORDS + tuple(DIGIT_WORDS) + REPEAT_PHRASES

MAX_KEYED_OPTIONS = 9


def _keys(count: int) -> str:
    if count == 1:
        return "1"
    if count == 2:
        return "1或2"
    if count == 3:
        return "1、2或3"
    return f"1到{count}"


def options(titles: Sequence[str]) -> str:
    """How a closed question's answers are spoken: "请说“对”或“不对”，也可以按1或2。"."""
    quoted = [f"“{t}”" for t in titles]
    if not quoted:
        return ""
    said = quoted[0] if len(quoted) == 1 else "".join(quoted[:-1]) + "或" + quoted[-1]
    return f"请说{said}，也可以按{_keys(min(len(titles), MAX_KEYED_OPTIONS))}。"
