"""Chinese text made comparable: NFKC, traditional variants, Chinese numerals as digits.

``opencc`` is not a dependency; ``simplify`` maps the traditional characters
that matter to the detectors (threat words, place words, the common function
words around them) to their simplified forms. Unknown characters pass
unchanged, so the worst a missing variant does is miss a match.
"""

from __future__ import annotations

import re
import unicodedata

_TRADITIONAL = (
    "殺燒歸盡說開會沒們讓給動擔萬麼辦點顏對這個裡裏樓號棟門區鄰懼嚇傷殘頭將來過還後兒"
    "錢為時話絕報復見條槍彈氣罵幹滅瘋準備帶著誰嗎則應該實際並莊園單層間衛視電鐵鋼棍鎖"
    "燈壞漏燈車場邊裝處問題樣隻嗚斷腿學們現麵飯菜煙燒烤鬧東楊葉劉陳張趙吳鄭錢孫無聽講難"
    "鄉鎮縣區產權資勞務家庭婦兒親戚鬥毆揍惡護轉壓紛爭執雙協調經濟農藥跳橋喪亂槍種"
)
_SIMPLIFIED = (
    "杀烧归尽说开会没们让给动担万么办点颜对这个里里楼号栋门区邻惧吓伤残头将来过还后儿"
    "钱为时话绝报复见条枪弹气骂干灭疯准备带着谁吗则应该实际并庄园单层间卫视电铁钢棍锁"
    "灯坏漏灯车场边装处问题样只呜断腿学们现面饭菜烟烧烤闹东杨叶刘陈张赵吴郑钱孙无听讲难"
    "乡镇县区产权资劳务家庭妇儿亲戚斗殴揍恶护转压纷争执双协调经济农药跳桥丧乱枪种"
)
assert len(_TRADITIONAL) == len(_SIMPLIFIED)
_VARIANTS = {ord(t): s for t, s in zip(_TRADITIONAL, _SIMPLIFIED, strict=True) if t != s}


def simplify(text: str) -> str:
    """NFKC (full-width letters and digits to ASCII) and traditional to simplified characters."""
    return unicodedata.normalize("NFKC", text).translate(_VARIANTS)


_DIGITS = {"零": 0, "〇": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5,
           "六": 6, "七": 7, "八": 8, "九": 9}
_UNITS = {"十": 10, "百": 100, "千": 1000}


def chinese_number(numeral: str) -> int | None:
    """The value of a Chinese numeral (三 3, 十二 12, 二十三 23, 一百零五 105, 一零五 105)."""
    if not numeral or any(ch not in _DIGITS and ch not in _UNITS for ch in numeral):
        return None
    if not any(ch in _UNITS for ch in numeral):  # digit by digit: 一零五
        return int("".join(str(_DIGITS[ch]) for ch in numeral))
    total, digit = 0, None
    for ch in numeral:
        if ch in _DIGITS:
            digit = _DIGITS[ch]
        else:
            total += (1 if digit is None else digit) * _UNITS[ch]
            digit = None
    return total + (digit or 0)


_NUMERAL_BEFORE_UNIT = re.compile(
    "([零〇一二两三四五六七八九十百千]+)(?=号|栋|幢|楼|单元|室|层|排|组|期|座|巷|弄|区|户|网格|门)")


def numerals_to_digits(text: str) -> str:
    """Chinese numerals that count buildings, units, rooms… as digits: 三号楼 → 3号楼."""
    def digits(match: re.Match[str]) -> str:
        value = chinese_number(match.group(1))
        return match.group(1) if value is None else str(value)
    return _NUMERAL_BEFORE_UNIT.sub(digits, text)
