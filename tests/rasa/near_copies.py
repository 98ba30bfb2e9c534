"""Near copies by character-bigram Jaccard, without comparing every pair.

``near_pairs`` returns exactly the pairs that comparing every pair with
``len(a & b) / len(a | b) >= threshold`` returns, using prefix filtering:
with the bigrams of every set in one global order (rarest first), two sets
whose Jaccard similarity reaches t share at least ceil(t * |x|) bigrams, so
the first |x| - ceil(t * |x|) + 1 bigrams of each must have one in common.
Only pairs that do are compared. (12,000 training examples against each other:
minutes pair by pair, about a second this way.)
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Sequence


def _prefix_length(size: int, threshold: float) -> int:
    # a hair longer where t * size is an integer up to rounding: never too short
    return size - math.ceil(threshold * size - 1e-9) + 1


def near_pairs(left: Sequence[set[str]], right: Sequence[set[str]] | None = None,
               threshold: float = 0.8) -> list[tuple[int, int]]:
    """Index pairs (i, j) with Jaccard(left[i], right[j]) >= threshold, sorted.

    Without ``right``: pairs within ``left``, i < j. Empty sets match nothing.
    """
    others = left if right is None else right
    frequency = Counter(g for grams in (*left, *(() if right is None else right)) for g in grams)

    def prefix(grams: set[str]) -> list[str]:
        ordered = sorted(grams, key=lambda g: (frequency[g], g))
        return ordered[:_prefix_length(len(ordered), threshold)]

    index: dict[str, list[int]] = defaultdict(list)
    for j, grams in enumerate(others):
        for g in prefix(grams):
            index[g].append(j)
    pairs = []
    for i, grams in enumerate(left):
        if not grams:
            continue
        candidates = {j for g in prefix(grams) for j in index[g]}
        for j in candidates:
            if right is None and j <= i:
                continue
            other = others[j]
            if len(grams & other) / len(grams | other) >= threshold:
                pairs.append((i, j))
    return sorted(pairs)
