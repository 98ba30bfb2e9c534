"""Pure helpers that normalise what residents type or say into slot values.

No Rasa and no I/O here, so every rule is unit-tested on its own.
"""
from __future__ import annotations

import re
import unicodedata

DIGITS = {"零": 0, "〇": 0, "一": 1, "幺": 1, "二": 2, "两": 2, "三": 3, "四": 4,
          "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}
UNITS = {"十": 10, "百": 100, "千": 1000}
_NUMERAL = "零〇一幺二两三四五六七八九十百千"


def _to_halfwidth(text: str) -> str:
    return unicodedata.normalize("NFKC", text)


def chinese_number(token: str) -> int | None:
    """"三" → 3, "十二" → 12, "二十三" → 23, "一百零五" → 105, "三零二" → 302.

    A run without units is read digit by digit, as people say room and phone
    numbers (三零二 is 302, not 32)."""
    if not token or any(ch not in DIGITS and ch not in UNITS for ch in token):
        return None
    if not any(ch in UNITS for ch in token):
        return int("".join(str(DIGITS[ch]) for ch in token))
    total, current = 0, 0
    for ch in token:
        if ch in DIGITS:
            current = DIGITS[ch]
        else:
            unit = UNITS[ch]
            total += (current or 1) * unit
            current = 0
    return total + current


def numerals_to_digits(text: str, before: str = "号栋幢单元室层楼组队期区户排弄巷") -> str:
    """Arabic digits for Chinese numerals that count something in an address:
    "三号楼二单元五零二室" → "3号楼2单元502室". Other numerals stay ("一些人")."""
    def replace(match: re.Match) -> str:
        value = chinese_number(match.group(1))
        return f"{value}{match.group(2)}" if value is not None else match.group(0)

    return re.sub(rf"([{_NUMERAL}]+)([{before}])", replace, text)


def digits_only(text: str) -> str:
    """Every digit in the text, Chinese numerals read one by one (幺三八 → 138)."""
    out = []
    for ch in _to_halfwidth(text):
        if ch.isdigit():
            out.append(ch)
        elif ch in DIGITS:
            out.append(str(DIGITS[ch]))
    return "".join(out)


def normalize_phone(text: str | None) -> str | None:
    """A mainland mobile (11 digits, 1[3-9]...) or a landline with area code,
    from typed or spoken forms: "138 1234 5678", "+86 13812345678",
    "幺三八一二三四五六七八九"."""
    if not text:
        return None
    digits = digits_only(text)
    for prefix in ("0086", "86"):
        if digits.startswith(prefix) and len(digits) == len(prefix) + 11:
            digits = digits[len(prefix):]
    if re.fullmatch(r"1[3-9]\d{9}", digits):
        return digits
    if re.fullmatch(r"0\d{9,11}", digits):
        return digits
    return None


def normalize_order_number(text: str | None) -> str | None:
    """The 8-digit work-order number in typed or spoken form ("7392 0416",
    "七三九二零四一六"); None unless there is exactly one such number."""
    if not text:
        return None
    halfwidth = _to_halfwidth(text)
    candidates = re.findall(r"(?<!\d)\d{4}[\s-]?\d{4}(?!\d)", halfwidth)
    if not candidates:
        spoken = re.findall(rf"[{_NUMERAL}0-9\s]{{8,}}", halfwidth)
        candidates = [s for s in spoken if len(digits_only(s)) == 8]
    numbers = {digits_only(c) for c in candidates}
    numbers = {n for n in numbers if len(n) == 8 and n[0] != "0"}
    return numbers.pop() if len(numbers) == 1 else None


LEADING = re.compile(r"^(?:我家|我们|我|俺家|俺)?(?:住在|就在|是在|在|住|是)\s*")
TRAILING = re.compile(r"(?:的|那里|这里|那儿|这儿|那边|这边|那块|附近的|这块)+$")


def normalize_place(text: str | None) -> str | None:
    """A tidy place: digits for numbered parts, no filler around it, one space
    at most: "就在三号楼二单元那边" → "3号楼2单元"."""
    if not text:
        return None
    place = _to_halfwidth(text).strip(" \t，。,.!！?？、")
    place = LEADING.sub("", place)
    place = TRAILING.sub("", place)
    place = numerals_to_digits(place)
    place = re.sub(r"\s+", " ", place).strip()
    return place or None
