"""Work-order numbers: 8 digits, read aloud digit by digit, not guessable in sequence.

Seven random digits (the first never 0) and a Damm check digit, which catches
every single wrong digit and every swap of two adjacent digits: the usual
mistakes of a number read over the phone. 9 000 000 numbers exist: the
service relies on a unique constraint and draws again on a collision.
"""

from __future__ import annotations

import secrets
from typing import Protocol

LENGTH = 8

# Damm's totally anti-symmetric quasigroup of order 10.
_DAMM = (
    (0, 3, 1, 7, 5, 9, 8, 6, 4, 2),
    (7, 0, 9, 2, 1, 5, 4, 8, 6, 3),
    (4, 2, 0, 6, 8, 7, 1, 3, 5, 9),
    (1, 7, 5, 0, 9, 8, 3, 4, 2, 6),
    (6, 1, 2, 3, 0, 4, 5, 9, 7, 8),
    (3, 6, 7, 4, 2, 0, 9, 5, 8, 1),
    (5, 8, 6, 9, 7, 2, 0, 1, 3, 4),
    (8, 9, 4, 5, 3, 6, 2, 0, 1, 7),
    (9, 4, 3, 8, 6, 1, 7, 2, 0, 5),
    (2, 5, 8, 1, 4, 3, 6, 7, 9, 0),
)

_ASCII_DIGITS = frozenset("0123456789")

# Full-width digits, and the Chinese digits an ASR or a typist produces when a
# number is read digit by digit (幺 is the phone reading of 1).
_TO_ASCII = str.maketrans(
    {**{chr(0xFF10 + i): str(i) for i in range(10)},
     **dict(zip("〇零一幺二两三四五六七八九", "0011223456789", strict=False))}
)
_SEPARATORS = frozenset("-‐‑‒–—―－﹣_")


class RandomSource(Protocol):
    """Anything with ``randrange(start, stop)``: ``secrets.SystemRandom``, ``random.Random``."""

    def randrange(self, start: int, stop: int) -> int: ...


_SYSTEM_RANDOM: RandomSource = secrets.SystemRandom()


def damm_digit(digits: str) -> str:
    """The Damm check digit of a string of ASCII digits."""
    interim = 0
    for ch in digits:
        interim = _DAMM[interim][ord(ch) - 48]
    return str(interim)


def new_number(rand: RandomSource | None = None) -> str:
    """A fresh number; ``rand`` defaults to the OS's CSPRNG (inject one in tests)."""
    if rand is None:
        rand = _SYSTEM_RANDOM
    body = str(rand.randrange(1, 10)) + "".join(
        str(rand.randrange(0, 10)) for _ in range(LENGTH - 2)
    )
    return body + damm_digit(body)


def is_valid(number: str) -> bool:
    """True for 8 ASCII digits, no leading 0, with a correct check digit."""
    return (
        isinstance(number, str)
        and len(number) == LENGTH
        and set(number) <= _ASCII_DIGITS
        and number[0] != "0"
        and damm_digit(number) == "0"
    )


def normalize(text: str) -> str | None:
    """The canonical number in what someone typed or said, or None if not valid.

    Drops whitespace (full-width too) and dashes; reads full-width and
    Chinese digits (一二三, 幺 for 1).
    """
    if not isinstance(text, str):
        return None
    cleaned = "".join(
        ch for ch in text.translate(_TO_ASCII) if not ch.isspace() and ch not in _SEPARATORS
    )
    return cleaned if is_valid(cleaned) else None
