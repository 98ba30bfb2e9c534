"""Which grid a place a resident names lies in: loose text keys and the best match.

A resident says "人民路菜市场门口" or "幸福里小区3号楼"; each grid is known by its
own name and by aliases (streets, landmarks, the names people use). Texts are
compared loosely (``location_key``); a name matches when its key is a
substring of the text's key; the longest match wins, ties by area code (and
then by the name itself), so the answer is deterministic and testable.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .chinese_text import numerals_to_digits, simplify


def location_key(text: str) -> str:
    """``text`` compared loosely: NFKC, case-folded, without spaces and punctuation."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return "".join(ch for ch in folded if ch.isalnum())


# words that say where around a place, not which place: "3号楼门口" is "3号楼"
_AROUND = ("门口", "旁边", "附近", "边上", "对面", "周围", "前面", "后面", "那边", "这边",
           "一带", "跟前", "里面", "外面", "楼下", "底下")


def place_key(text: str) -> str:
    """``location_key`` without the trailing "门口/旁边/附近…": two reports of
    one place rarely word its surroundings the same way."""
    key = location_key(text)
    trimmed = True
    while trimmed:
        trimmed = False
        for word in _AROUND:
            if key.endswith(word) and len(key) > len(word) + 1:
                key = key[: -len(word)]
                trimmed = True
    return key


@dataclass(frozen=True)
class PlaceName:
    """One way to name a grid: its own name or an alias (``key`` is ``location_key(text)``)."""

    key: str
    text: str
    area_code: str
    area_name: str


def rank(names: Iterable[PlaceName]) -> tuple[PlaceName, ...]:
    """``names`` in the order ``best_match`` tries them: longest key first, then area code.

    Names with an empty key (nothing but punctuation) can never match and are left out.
    """
    return tuple(sorted((n for n in names if n.key),
                        key=lambda n: (-len(n.key), n.area_code, n.key)))


def best_match(text: str, ranked: Sequence[PlaceName]) -> PlaceName | None:
    """The first of ``ranked`` (see ``rank``) whose key occurs in ``text``'s key, or None."""
    key = location_key(text)
    if not key:
        return None
    return next((n for n in ranked if n.key in key), None)



# words for a residential compound or community that do not tell two places apart
_COMPOUND_WORDS = ("居民委员会", "居委会", "村委会", "小区", "社区")
# the suffix of an area's name that residents leave out: 幸福里社区 is 幸福里
_AREA_SUFFIXES = ("居民委员会", "居委会", "村委会", "社区", "小区", "网格", "街道", "村", "镇")
_BUILDING = re.compile(r"(\d+)(?:号楼|号栋|号幢|栋楼|幢楼|号座|栋|幢)")
_DASHED = re.compile(r"(\d+)\s*[-—－–]\s*(\d+)\s*[-—－–]\s*(\d+)")
_HASH = re.compile(r"(\d+)\s*#")
_BELOW = re.compile(r"(\d+栋)(?:楼)?(?:底下|下面|上面|下|上)$")
_SUB_PART = re.compile(r"\d+(?:单元|层|楼|室|户|号|门)")
_LEADING = ("我们", "我家", "咱们", "在")


# a street is no compound: "人民路3号" and "解放路3号" must not both become "3号"
_STREET_ENDINGS = ("路", "街", "大道", "道", "巷", "弄", "胡同", "桥", "公路")


def _area_prefixes(area_names: Iterable[str]) -> tuple[list[str], list[str]]:
    """Keys of the area's names and aliases (streets left out), longest first, and
    their short forms (幸福里社区 → 幸福里), longest first."""
    full: set[str] = set()
    short: set[str] = set()
    for name in area_names:
        key = location_key(numerals_to_digits(simplify(name)))
        if not key or key.endswith(_STREET_ENDINGS):
            continue
        full.add(key)
        for suffix in _AREA_SUFFIXES:
            if key.endswith(suffix) and len(key) > len(suffix) + 1:
                short.add(key[: -len(suffix)])
    order = lambda s: (-len(s), s)  # noqa: E731
    return sorted(full, key=order), sorted(short - full, key=order)


def _strip_area(key: str, full: list[str], short: list[str]) -> str:
    """``key`` without the area's names in front, as many as there are.

    A full name (阳光社区, 城关镇, an alias) always goes. A short name (阳光) goes
    only when what follows is not the rest of a place's own name: before
    小区/社区 (阳光小区 is the community) or a number (阳光3号楼), never in
    front of 花园 (阳光花园 is an estate of its own). So "阳光社区阳光花园3号楼"
    and "阳光花园3号楼" both keep 阳光花园, and "阳光社区阳光小区3号楼" is "3栋".
    """
    stripped = True
    while stripped:
        stripped = False
        for stem in full:
            if key.startswith(stem) and len(key) > len(stem):
                key, stripped = key[len(stem):], True
                break
        if stripped:
            continue
        for stem in short:
            rest = key[len(stem):]
            if key.startswith(stem) and rest and (rest[0].isdigit() or rest.startswith(_COMPOUND_WORDS)):
                key, stripped = rest, True
                break
    return key


def repeat_place_key(text: str, area_names: Iterable[str] = ()) -> str:
    """A key under which two wordings of one place in one area are equal (repeat complaints).

    NFKC, traditional to simplified, case-folded; Chinese numerals as digits
    (三号楼 → 3号楼, 十二栋 → 12栋); 号楼/栋/幢 one form (3栋); 3-2-101 is
    3栋2单元101室; no punctuation or spaces; no trailing 门口/旁边…; the area's
    names in front left out, as many as are written (see ``_strip_area``: a
    name's short form only where it is not part of an estate's own name; never
    a street name among its aliases, and never inside the text), and the words
    小区/社区 left out. So in the area 幸福里社区, "幸福里小区三号楼门口" and
    "3栋" have one key ("3栋"), and in 阳光社区 "阳光社区阳光花园3号楼" and
    "阳光花园三号楼门口" have one key ("阳光花园3栋").
    """
    folded = numerals_to_digits(simplify(text)).casefold()
    folded = _DASHED.sub(r"\1栋\2单元\3室", folded)
    folded = _HASH.sub(r"\1号", folded)
    key = place_key(_BUILDING.sub(r"\1栋", folded))
    key = _BELOW.sub(r"\1", _BUILDING.sub(r"\1栋", key))
    for word in _LEADING:
        if key.startswith(word) and len(key) > len(word):
            key = key[len(word):]
    full_names, short_names = _area_prefixes(area_names)
    key = _strip_area(key, full_names, short_names)
    if key in full_names or key in short_names:  # the area's name alone ("阳光")
        key = ""
    for word in _COMPOUND_WORDS:
        key = key.replace(word, "")
    key = place_key(key) if key else key
    # nothing but the area's own name ("幸福里小区"), or only words that say where
    # relative to the speaker ("我家楼下", "小区门口"): no place two reports can be
    # said to share (two broken lights "在幸福里小区" are not one light)
    return "" if is_vague_place(key) else key


def same_place(a_key: str, b_key: str) -> bool:
    """Do two ``repeat_place_key`` keys name the same place?

    Equal keys do; so does a building and a unit, floor or room in it
    (3栋 and 3栋2单元). Nothing else: 3栋 is not 13栋, 人民路 is not 人民东路,
    and an empty or vague key (``is_vague_place``) matches nothing.
    """
    if is_vague_place(a_key) or is_vague_place(b_key):
        return False
    if a_key == b_key:
        return True
    short, long = sorted((a_key, b_key), key=len)
    if not long.startswith(short) or short[-1].isdigit():
        return False
    return short.endswith(("栋", "号", "弄", "巷")) and bool(_SUB_PART.match(long[len(short):]))


# words that place something relative to the speaker or the estate as a whole,
# never one particular spot: "我家楼下" of two residents are two places
_VAGUE_WORDS = tuple(sorted({
    "我们", "我家", "咱们", "咱家", "俺家", "自家", "家里", "家", "邻居家", "隔壁", "对门",
    "楼道", "楼梯间", "楼梯", "走廊", "过道", "楼下", "楼上", "楼里", "楼顶", "单元",
    "电梯", "小区", "社区", "院子", "院里", "大院", "门口", "这里", "那里", "这边", "那边",
    "这儿", "那儿", "附近", "周边", "路边", "路上", "马路", "街上", "外面", "里面", "旁边",
    "对面", "里", "上", "下", "边", "内", "外",
}, key=lambda w: (-len(w), w)))


def is_vague_place(key: str) -> bool:
    """Is a ``repeat_place_key`` key too vague to name one spot?

    Empty keys are; so are keys made only of words that say where relative to
    the speaker or the whole estate ("我家楼下", "楼道里", "小区门口"). A key with
    a number (3栋, 5号) or a name of its own (阳光花园, 人民路, 综合市场) is not.
    """
    if not key:
        return True
    if any(ch.isdigit() for ch in key):
        return False
    rest = key
    for word in _VAGUE_WORDS:
        rest = rest.replace(word, "")
    return not rest
