"""Slot normalisation helpers of the actions."""
import pytest

from actions.normalize import (
    chinese_number,
    normalize_order_number,
    normalize_phone,
    normalize_place,
    numerals_to_digits,
)


@pytest.mark.parametrize("token, value", [
    ("三", 3), ("十", 10), ("十二", 12), ("二十三", 23), ("一百零五", 105),
    ("三零二", 302), ("两", 2), ("五百", 500), ("x", None), ("", None),
])
def test_chinese_number(token, value):
    assert chinese_number(token) == value


@pytest.mark.parametrize("text, expected", [
    ("三号楼二单元五零二室", "3号楼2单元502室"),
    ("十二栋", "12栋"),
    ("红星村三组", "红星村3组"),
    ("一些人在三号楼", "一些人在3号楼"),
])
def test_numerals_to_digits(text, expected):
    assert numerals_to_digits(text) == expected


@pytest.mark.parametrize("text, phone", [
    ("13812345678", "13812345678"),
    ("138 1234 5678", "13812345678"),
    ("138-1234-5678", "13812345678"),
    ("+86 138 1234 5678", "13812345678"),
    ("我的电话是幺三八一二三四五六七八", "13812345678"),
    ("０１０－１２３４５６７８", "01012345678"),
    ("12345", None),
    ("23812345678", None),
    (None, None),
])
def test_normalize_phone(text, phone):
    assert normalize_phone(text) == phone


@pytest.mark.parametrize("text, number", [
    ("工单73920416到哪一步了", "73920416"),
    ("7392 0416", "73920416"),
    ("七三九二零四一六", "73920416"),
    ("我的电话13812345678", None),
    ("73920416和58213904", None),
    ("没有号码", None),
])
def test_normalize_order_number(text, number):
    assert normalize_order_number(text) == number


@pytest.mark.parametrize("text, place", [
    ("就在三号楼二单元那边", "3号楼2单元"),
    ("住在幸福里小区十二号楼", "幸福里小区12号楼"),
    ("红星村三组的", "红星村3组"),
    ("  人民路和建设路路口。", "人民路和建设路路口"),
    ("", None),
])
def test_normalize_place(text, place):
    assert normalize_place(text) == place
