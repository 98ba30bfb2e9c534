"""Work-order numbers: Damm check digit, normalization, unpredictability."""

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integrations.workorders.domain import is_valid, new_number, normalize

SEEDED = [new_number(random.Random(seed)) for seed in range(300)]


class Constant:
    """A fake random source that always returns the lowest or highest value."""

    def __init__(self, high):
        self.high = high

    def randrange(self, start, stop):
        return stop - 1 if self.high else start


def test_shape():
    for number in SEEDED + [new_number() for _ in range(100)]:
        assert len(number) == 8
        assert set(number) <= set("0123456789")
        assert number[0] != "0"
        assert is_valid(number)


def test_first_digit_is_never_zero_even_at_the_extremes():
    assert new_number(Constant(high=False)) == "10000004"
    assert new_number(Constant(high=True)) == "99999992"


def substitutions(number):
    for i, digit in enumerate(number):
        for other in "0123456789":
            if other != digit:
                yield i, number[:i] + other + number[i + 1:]


def transpositions(number):
    for i in range(len(number) - 1):
        a, b = number[i], number[i + 1]
        if a != b:
            yield i, number[:i] + b + a + number[i + 2:]


EDGE = [new_number(Constant(False)), new_number(Constant(True))]


def with_check_digit(body):
    return next(body + d for d in "0123456789" if is_valid(body + d))


# Seeded random numbers, the extremes, and every body from 5 000 000 to
# 5 001 999 (all combinations of the last three body digits).
EXHAUSTIVE = SEEDED + EDGE + [with_check_digit(str(b)) for b in range(5_000_000, 5_002_000)]


def test_every_single_digit_error_is_detected():
    for number in EXHAUSTIVE:
        for i, wrong in substitutions(number):
            assert not is_valid(wrong), (number, i, wrong)


def test_every_adjacent_transposition_is_detected():
    for number in EXHAUSTIVE:
        for i, wrong in transpositions(number):
            assert not is_valid(wrong), (number, i, wrong)


@given(st.integers(1_000_000, 9_999_999), st.integers(0, 7), st.integers(1, 9))
def test_substitution_property(body, position, delta):
    number = next(n for n in (str(body) + d for d in "0123456789") if is_valid(n))
    wrong = list(number)
    wrong[position] = str((int(wrong[position]) + delta) % 10)
    assert not is_valid("".join(wrong))


def test_exactly_one_check_digit_per_body():
    for body in ("1000000", "5724000", "9999999", "3141592", "2718281"):
        valid = [d for d in "0123456789" if is_valid(body + d)]
        assert len(valid) == 1


def test_seeded_numbers_are_not_sequential():
    values = [int(n[:7]) for n in SEEDED]
    steps = [b - a for a, b in zip(values, values[1:], strict=False)]
    assert len(set(SEEDED)) == len(SEEDED)
    assert all(abs(step) > 1 for step in steps)  # no n, n+1 neighbours
    assert len(set(steps)) == len(steps)  # no constant stride either
    assert values != sorted(values) and values != sorted(values, reverse=True)
    # the same seed gives the same number: tests can inject a source
    assert new_number(random.Random(42)) == new_number(random.Random(42))


@pytest.mark.parametrize(
    "number", [None, 12345678, "", "1234567", "123456789", "0" + SEEDED[0][1:], "1234567a",
               "１２３４５６７８"],
)
def test_is_valid_is_strict(number):
    assert not is_valid(number)


def fullwidth(text):
    return "".join(chr(0xFF10 + int(c)) for c in text)


@pytest.mark.parametrize(
    "spelled",
    [
        lambda n: n,
        lambda n: f"  {n}  ",
        lambda n: " ".join(n),
        lambda n: f"{n[:4]}-{n[4:]}",
        lambda n: f"{n[:3]} - {n[3:6]} – {n[6:]}",
        lambda n: f"{n[:4]}—{n[4:]}",
        lambda n: f"{n[:4]}－{n[4:]}",
        lambda n: fullwidth(n),
        lambda n: "\u3000".join(fullwidth(n)),
        lambda n: fullwidth(n[:4]) + " " + n[4:],
        lambda n: n.replace("1", "幺").replace("0", "零").replace("2", "二"),
        lambda n: "".join("〇一二三四五六七八九"[int(c)] for c in n),
        lambda n: f"{n[:4]}\t{n[4:]}\n",
    ],
)
def test_normalize_accepts_common_spellings(spelled):
    for number in SEEDED[:20]:
        assert normalize(spelled(number)) == number


@pytest.mark.parametrize(
    "text",
    ["", "   ", "abc", None, "1234 567", "工单12345678",
     SEEDED[0][:7] + str((int(SEEDED[0][7]) + 1) % 10),  # wrong check digit
     "100000040",  # a valid number and one digit more
     "10000040"],  # 10000004 with its last two digits swapped
)
def test_normalize_rejects(text):
    assert normalize(text) is None
