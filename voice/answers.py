"""What a caller's words mean to the line, and the short-answer grammar.

Pure helpers on recognised text (no audio, no Rasa), and ``AnswerGrammar``:
the phrases a closed question listens for, checked once against the speech
model's vocabulary.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Protocol

from .prompts import COMMON_ANSWERS, DIGIT_WORDS, REPEAT_PHRASES

log = logging.getLogger(__name__)

_CJK = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_SPACE_NEAR_CJK = re.compile(rf"(?<=[{_CJK}])\s+|\s+(?=[{_CJK}])")
_FILLERS = re.compile(r"[\s，。、！？,.!?]|\[unk\]")
_REPEAT_SLACK = 4  # "请你再说一遍好吗" still asks to repeat; a long sentence does not


def clean_transcript(text: str) -> str:
    """Vosk's "我 要 反映 噪音" as "我要反映噪音" (spaces kept between Latin words)."""
    text = text.replace("[unk]", " ")
    return re.sub(r"\s+", " ", _SPACE_NEAR_CJK.sub("", text)).strip()


def _bare(text: str) -> str:
    return _FILLERS.sub("", text)


def asks_to_repeat(text: str) -> bool:
    """"再说一遍", "请您重复一遍": the caller wants the last answer again."""
    bare = _bare(text)
    return any(p in bare and len(bare) <= len(p) + _REPEAT_SLACK for p in REPEAT_PHRASES)


def chosen_option(text: str, titles: Sequence[str]) -> int | None:
    """The option (1-based) a caller named: its title ("不对") or its number ("二")."""
    bare = _bare(text)
    for index, title in enumerate(titles, 1):
        if bare == _bare(title):
            return index
    return spoken_choice(text, len(titles))


def spoken_choice(text: str, options: int) -> int | None:
    """The option (1-based) a caller chose by saying its number: "一", "第二个", "3"."""
    bare = _bare(text).removeprefix("第").removesuffix("个")
    number = DIGIT_WORDS.get(bare) or (int(bare) if bare.isascii() and bare.isdigit() else None)
    return number if number and 1 <= number <= options else None


class PhraseChecker(Protocol):
    def check_phrases(self, phrases: list[str]) -> tuple[list[str], list[str]]: ...


class AnswerGrammar:
    """Phrases for a closed question: its buttons' titles, yes/no words, digits.

    The common answers are checked against the model when this is built (the
    words the model lacks are logged once); button titles when first seen.
    """

    def __init__(self, model: PhraseChecker, common: Sequence[str] = COMMON_ANSWERS) -> None:
        self._model = model
        self._usable: dict[str, bool] = {}
        self.common = self._check(list(dict.fromkeys(common)))

    def _check(self, phrases: list[str]) -> list[str]:
        new = [p for p in phrases if p not in self._usable]
        if new:
            usable, missing = self._model.check_phrases(new)
            kept = set(usable)
            for phrase in new:
                self._usable[phrase] = phrase in kept
            if missing:
                log.warning("speech model lacks words %s: phrases %s are not listened for",
                            ", ".join(missing), ", ".join(p for p in new if p not in kept))
        return [p for p in phrases if self._usable[p]]

    def for_options(self, titles: Sequence[str]) -> list[str]:
        """The grammar while a question with these button titles is open."""
        return list(dict.fromkeys(self._check(list(titles)) + self.common))
