"""Pure helpers that turn pieces of a Chinese address into one location span.

Residents say places as runs of parts: 幸福里小区 + 3号楼 + 2单元 + 502室, or
红星村 + 三组, or 人民路 + 和 + 建设路路口. The entity model sometimes tags only
one part; these helpers extend and merge spans so the location is usable.
"""
from __future__ import annotations

import re

Span = tuple[int, int]

_NUM = r"[0-9０-９一二三四五六七八九十百零〇两幺]+"
# A numbered address part: 3号楼, 二单元, 502室, 三组, 12号, 5层, 东门, 村口 ...
ADDRESS_PART = re.compile(
    rf"(?:{_NUM}\s*(?:号楼|号院|栋楼|栋|幢|座|单元|楼层|层|楼|室|户|号|组|队|巷|弄|排|期|区)"
    rf"|[东西南北]?(?:大门|东门|西门|南门|北门|侧门|后门|门口)|村口|路口|街口|巷口|桥头)"
)
# A run of numbered parts with nothing but spaces between them.
ADDRESS_RUN = re.compile(rf"(?:{ADDRESS_PART.pattern})(?:\s*(?:{ADDRESS_PART.pattern}))*")
# Connectors between two place names that belong to one location when the
# second names a junction (人民路和建设路路口).
JUNCTION_LINK = re.compile(r"^\s*(?:和|与|跟|同)\s*$")
JUNCTION_END = re.compile(r"(?:路口|交叉口|交汇处|十字路口|丁字路口)$")
PLAIN_LINK = re.compile(r"^\s*(?:的)?\s*$")


def extend_right(text: str, span: Span) -> Span:
    """Grow a span over the numbered address parts that follow it."""
    start, end = span
    match = ADDRESS_RUN.match(text, end)
    if match and match.end() > end:
        # an address part must not be cut out of the middle of a longer number
        end = match.end()
    return start, end


def address_runs(text: str) -> list[Span]:
    """Spans of numbered address runs (3号楼2单元), for when no model tagged them."""
    spans = []
    for match in ADDRESS_RUN.finditer(text):
        part = match.group(0)
        # a lone "3号" or "5楼" is too weak to call a place on its own
        if re.fullmatch(rf"{_NUM}\s*(?:号|楼|层|区|期)", part):
            continue
        spans.append((match.start(), match.end()))
    return spans


def merge_spans(text: str, spans: list[Span]) -> list[Span]:
    """Union overlapping spans and join neighbours that form one place."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged:
            last_start, last_end = merged[-1]
            gap = text[last_end:start] if start >= last_end else ""
            touching = start <= last_end or PLAIN_LINK.match(gap)
            junction = JUNCTION_LINK.match(gap) and JUNCTION_END.search(text[start:end])
            if touching or junction:
                merged[-1] = (last_start, max(last_end, end))
                continue
        merged.append((start, end))
    return merged


# Words a tagged place may wrongly start or end with ("在幸福里", "门口的").
LEADING_NOISE = ("住在", "就在", "在", "于", "是")
TRAILING_NOISE = ("那里", "这里", "那儿", "这儿", "那块", "这块", "那边", "这边", "的", "了")
PUNCTUATION = " \t，。,.!！?？、；;：:"


def trim(text: str, span: Span) -> Span:
    """Drop punctuation and function words at either end of a span."""
    start, end = span
    changed = True
    while changed and start < end:
        changed = False
        piece = text[start:end]
        if piece[0] in PUNCTUATION:
            start, changed = start + 1, True
            continue
        if piece[-1] in PUNCTUATION:
            end, changed = end - 1, True
            continue
        for word in LEADING_NOISE:
            if piece.startswith(word) and len(piece) > len(word) + 1:
                start, changed = start + len(word), True
                break
        else:
            for word in TRAILING_NOISE:
                if piece.endswith(word) and len(piece) > len(word) + 1:
                    end, changed = end - len(word), True
                    break
    return start, end


#: a place is named with at least this many characters: a lone 路 or 村 the entity model
#: tagged ("旁边的路塌了") names no place, and counted as one it hid what the message says
MIN_PLACE_CHARS = 2


def assemble(text: str, spans: list[Span], add_runs: bool = True) -> list[Span]:
    """Extended, merged and trimmed location spans for a message."""
    grown = [extend_right(text, trim(text, s)) for s in spans]
    if add_runs:
        grown += [r for r in address_runs(text) if not any(_overlaps(r, g) for g in grown)]
    merged = merge_spans(text, [extend_right(text, s) for s in grown])
    trimmed = (trim(text, s) for s in merged)
    return [s for s in trimmed if len(text[s[0]:s[1]].strip()) >= MIN_PLACE_CHARS]


def _overlaps(a: Span, b: Span) -> bool:
    return a[0] < b[1] and b[0] < a[1]
