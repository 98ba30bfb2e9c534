"""near_pairs (tests/rasa/near_copies.py) finds exactly what comparing every pair finds."""
from __future__ import annotations

import random

from tests.rasa.near_copies import near_pairs


def brute_force(left, right=None, threshold=0.8):
    others = left if right is None else right
    return sorted((i, j) for i, a in enumerate(left) for j, b in enumerate(others)
                  if (right is not None or i < j) and a and b
                  and len(a & b) / len(a | b) >= threshold)


def sets(rng: random.Random, n: int) -> list[set[str]]:
    alphabet = "abcdefghij"
    base = [{rng.choice(alphabet) + rng.choice(alphabet) for _ in range(rng.randint(0, 14))}
            for _ in range(n // 2)]
    # near copies: one element dropped or added, so that many pairs sit at the threshold
    copies = [(s - {min(s)} if s and rng.random() < 0.5 else s | {"zz"}) for s in base]
    return base + copies


def test_the_same_pairs_as_comparing_every_pair():
    rng = random.Random(12)
    for threshold in (0.8, 0.5, 0.75):
        left, right = sets(rng, 120), sets(rng, 80)
        assert near_pairs(left, threshold=threshold) == brute_force(left, threshold=threshold)
        assert (near_pairs(left, right, threshold=threshold)
                == brute_force(left, right, threshold=threshold))
    assert brute_force(left, right), "the sets do have near pairs"


def test_a_copy_with_one_bigram_changed_is_near_three_is_not():
    a = {"小区", "区门", "门口", "口的", "的路", "路灯", "灯坏", "坏了", "了好", "好几"}
    one = (a - {"好几"}) | {"好多"}  # 9 / 11 = 0.82
    three = (a - {"好几", "了好", "坏了"}) | {"好多", "了很", "坏得"}  # 7 / 13 = 0.54
    assert near_pairs([a], [one, three]) == [(0, 0)]
    assert near_pairs([a, one, three]) == [(0, 1)]
