"""Which grid a place a resident names lies in: loose text keys and the best match.

A resident says "人民路菜市场门口" or "幸福里小区3号楼"; each grid is known by its
own name and by aliases (streets, landmarks, the names people use). Texts are
compared loosely (``location_key``); a name matches when its key is a
substring of the text's key; the longest match wins, ties by area code (and
then by the name itself), so the answer is deterministic and testable.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


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


def repeat_place_key(text: str, area_names: Iterable[str] = ()) -> str:
    """A key under which two wordings of one place are equal (for repeat complaints)."""
    return place_key(text)


def same_place(a_key: str, b_key: str) -> bool:
    """Do two ``repeat_place_key`` keys name the same place?"""
    return bool(a_key) and a_key == b_key
