"""How residents' text is normalised before the tokenizer, as pure functions.

Residents write traditional characters (繁體), full-width letters and digits
(３號樓), and the phone line's recogniser writes speech as words separated by
spaces with Chinese numerals ("幺 三 八 …"). The model sees all of these as the
simplified, half-width, unspaced text it was trained on:

- line breaks, tabs and ideographic spaces become spaces, runs collapse;
- full-width letters and digits become ASCII (punctuation is kept: the bot
  reads descriptions back and they should look as typed);
- traditional characters and Taiwan/Hong Kong forms become simplified, with
  OpenCC (`tw2sp`, which also converts Taiwan phrasings, then `hk2s` for Hong
  Kong variants such as 衞);
- a speech transcript (no punctuation, short space-separated words) loses the
  spaces between Chinese characters;
- seven or more Chinese digit numerals in a row (a phone or order number read
  out: 幺三八…) become Arabic digits.

`normalize` also returns, for every character of the result, the index of the
character of the input it came from, so entity annotations of training
examples can follow the text.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

WHITESPACE = re.compile(r"[\s\u3000]+")
CJK_PUNCTUATION = "，。！？；：、“”‘’（）《》…—,.!?;:()"
# digits as read aloud: 幺 is "one" on the phone
NUMERALS = {"零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "三": "3", "四": "4",
            "五": "5", "六": "6", "七": "7", "八": "8", "九": "9"}
NUMERAL_RUN = re.compile(f"[{''.join(NUMERALS)}]{{7,}}")
# a transcript's words are short; typed text with spaces has long stretches
TRANSCRIPT_MAX_MEAN_WORD = 3.2
TRANSCRIPT_MIN_SPACES = 2


@dataclass(frozen=True)
class Normalized:
    text: str
    # origin[i]: index in the input of the character text[i] came from
    origin: tuple[int, ...]

    def span(self, start: int, end: int) -> tuple[int, int] | None:
        """The span of the result covering input span [start, end), or None
        if nothing of it is left."""
        inside = [i for i, o in enumerate(self.origin) if start <= o < end]
        if not inside:
            return None
        return inside[0], inside[-1] + 1


Chars = list[tuple[str, int]]


def _is_cjk(char: str) -> bool:
    code = ord(char)
    return (0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF
            or 0xF900 <= code <= 0xFAFF or 0x20000 <= code <= 0x2FA1F)


def _half_width(char: str) -> str:
    code = ord(char)
    if 0xFF10 <= code <= 0xFF19 or 0xFF21 <= code <= 0xFF3A or 0xFF41 <= code <= 0xFF5A:
        return chr(code - 0xFEE0)
    return char


def _spaces(chars: Chars) -> Chars:
    """Whitespace runs become one space; none at the ends."""
    out: Chars = []
    for char, origin in chars:
        if WHITESPACE.fullmatch(char):
            if out and out[-1][0] != " ":
                out.append((" ", origin))
        else:
            out.append((_half_width(char), origin))
    while out and out[-1][0] == " ":
        out.pop()
    return out


@lru_cache(maxsize=1)
def _converters():
    import opencc

    return opencc.OpenCC("tw2sp"), opencc.OpenCC("hk2s")


def to_simplified(text: str) -> str:
    for converter in _converters():
        text = converter.convert(text)
    return text


def _simplified(chars: Chars) -> Chars:
    text = "".join(c for c, _ in chars)
    converted = to_simplified(text)
    if converted == text:
        return chars
    if len(converted) == len(text):
        return [(new, origin) for new, (_, origin) in zip(converted, chars, strict=False)]
    # a phrase changed length: convert character by character to keep the map
    out: Chars = []
    for char, origin in chars:
        new = to_simplified(char)
        out.append((new if len(new) == 1 else char, origin))
    return out


def looks_like_transcript(text: str) -> bool:
    """Speech as a recogniser writes it: no punctuation, short words between spaces."""
    if text.count(" ") < TRANSCRIPT_MIN_SPACES or any(p in text for p in CJK_PUNCTUATION):
        return False
    words = text.split(" ")
    if not any(_is_cjk(c) for c in text):
        return False
    return sum(len(w) for w in words) / len(words) <= TRANSCRIPT_MAX_MEAN_WORD


def _joined(chars: Chars) -> Chars:
    """Drop a transcript's word breaks: the spaces between Chinese characters,
    and between a Chinese character and a digit (3 号 楼)."""
    out: Chars = []
    for i, (char, origin) in enumerate(chars):
        if char == " " and 0 < i < len(chars) - 1:
            before, after = chars[i - 1][0], chars[i + 1][0]
            if (_is_cjk(before) or _is_cjk(after)) and all(
                    _is_cjk(c) or c.isdigit() for c in (before, after)):
                continue
        out.append((char, origin))
    return out


def _digits(chars: Chars) -> Chars:
    text = "".join(c for c, _ in chars)
    out = list(chars)
    for match in NUMERAL_RUN.finditer(text):
        for i in range(match.start(), match.end()):
            out[i] = (NUMERALS[out[i][0]], out[i][1])
    return out


def normalize(text: str) -> Normalized:
    chars: Chars = [(c, i) for i, c in enumerate(text or "")]
    chars = _spaces(chars)
    chars = _simplified(chars)
    if looks_like_transcript("".join(c for c, _ in chars)):
        chars = _joined(chars)
    chars = _digits(chars)
    return Normalized("".join(c for c, _ in chars), tuple(o for _, o in chars))
