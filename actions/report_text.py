"""Pure rules about the report text itself: is there enough to act on, and
which emergency number fits."""
from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable

# words that carry no content in "我想反映个事" / "喂，我要投诉"
_GENERIC = re.compile(
    r"喂|你好|您好|请问|麻烦|帮我|帮忙|我们|我要|我想|想要|要|想|我|俺|这边|那个|这个|"
    r"反映|反应|投诉|举报|报告|报修|咨询|建议|意见|提|报|说|讲|问|一下|一个|个|件|点|有|事情|事儿|事|问题|情况|"
    r"了|的|呢|吧|啊|呀|嗯|哦|一|下"
)


# what residents say before the problem: greetings, fillers, "is this the
# community office?"; dropped from the start of the stored description
_PREAMBLE = re.compile(
    r"^(?:[\s，。、,.!！?？~…：:]+|喂+|哈喽|你好|您好|你们好|大家好|嗯+|啊+|哎+|唉+|呃+|那个|这个|就是说?|"
    r"我跟你说[啊呀哈吧]?|跟你说[啊呀哈吧]?|我跟您说[啊呀]?|是这样的?|这样的|同志|领导|工作人员|"
    r"(?:请问)?(?:是|这里是|这是)?(?:社区|居委会|村委会|街道|热线)(?:吗|是吧|吧)|打扰一下|麻烦问一下)"
)


def strip_preamble(text: str) -> str:
    """"喂，你好，我跟你说啊，楼上又漏水了" → "楼上又漏水了": the problem, every word of it."""
    clean = (text or "").strip()
    while True:
        shorter = _PREAMBLE.sub("", clean, count=1)
        if shorter == clean:
            break
        clean = shorter
    return clean if len(clean) >= 2 else (text or "").strip()


def is_vague(text: str, location: str | None = None) -> bool:
    """True when the message says that there is a problem but not what it is."""
    clean = unicodedata.normalize("NFKC", text or "")
    if location:
        clean = clean.replace(location, "")
    clean = re.sub(r"[\W\d_]+", "", clean)
    return len(_GENERIC.sub("", clean)) < 3


# which number fits which danger; several may apply (a fire with someone hurt)
_NUMBERS = (
    ("119", ("火", "烟", "燃气", "煤气", "天然气", "液化气", "爆炸", "煤气罐", "漏气", "困在",
             "被困", "塌", "倒塌", "触电", "电线")),
    ("120", ("晕", "昏", "倒地", "摔倒", "不省人事", "叫不醒", "没反应", "没气", "心脏", "抽搐",
             "流血", "出血", "受伤", "伤了", "砍伤", "中毒", "喘不上", "呼吸", "救护")),
    ("110", ("打架", "斗殴", "打人", "持刀", "拿刀", "菜刀", "刀", "砍", "抢", "偷", "盗",
             "闯", "威胁", "绑", "走失", "不见了", "找不到", "失踪", "跳楼", "轻生", "杀",
             "家暴", "动手", "棍", "报警")),
)
_CATEGORY_DEFAULT = {
    "incident.safety": "119",
    "incident.care": "120",
    "incident.order": "110",
}


def emergency_numbers(text: str, category: str | None, cues: Iterable[str] = ()) -> list[str]:
    """110 / 119 / 120 in that order of mention, from the words of the report
    and the danger cues the NLU found; by category when no word decides."""
    haystack = (text or "") + " " + " ".join(cues)
    found = [number for number, words in _NUMBERS if any(w in haystack for w in words)]
    if not found:
        found = [_CATEGORY_DEFAULT.get(category or "", "110")]
    return sorted(found, key=lambda n: ("110", "119", "120").index(n))
