"""Threats of violence (or self-harm) in a resident's free text."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ThreatHit:
    phrase: str   # the threat as found, e.g. 要弄死他
    snippet: str  # the clause it was found in
    points: int   # how strongly it signals violence (worries are small)
    worry: bool = False  # a worry or fear ("怕他动手"), not a threat


def find_threats(text: str) -> tuple[ThreatHit, ...]:
    raise NotImplementedError
