"""Address spans become one usable location."""
import pytest

from bot.components.address import assemble


def spans(text, given):
    found = [(text.index(g), text.index(g) + len(g)) for g in given]
    return [text[a:b] for a, b in assemble(text, found)]


@pytest.mark.parametrize("text, given, expected", [
    ("我住在幸福里小区3号楼2单元502室，楼上天天吵", ["幸福里小区"], ["幸福里小区3号楼2单元502室"]),
    ("幸福里小区三号楼二单元门口井盖没了", ["幸福里小区", "三号楼"], ["幸福里小区三号楼二单元门口"]),
    ("红星村三组的宅基地被占了", ["红星村"], ["红星村三组"]),
    ("红星村村口的下水道堵了", ["红星村"], ["红星村村口"]),
    ("解放路路口的红绿灯坏了", ["解放路"], ["解放路路口"]),
    ("人民路和建设路路口的红绿灯坏了", ["人民路", "建设路路口"], ["人民路和建设路路口"]),
    ("人民路和建设路都在修", ["人民路", "建设路"], ["人民路", "建设路"]),
    ("老街的张记饭店油烟太大", ["老街", "张记饭店"], ["老街的张记饭店"]),
    ("5号楼2单元的电梯坏了", [], ["5号楼2单元"]),
    ("东风村二组的路灯坏了", ["东风村二组的"], ["东风村二组"]),
    ("就在人民公园那边", ["在人民公园那边"], ["人民公园"]),
    ("喂 我是老张", [" "], []),
    # a lone character the entity model tagged is no place; the one beside it stays
    ("红星村晒谷场旁边的路塌了一块", ["红星村晒谷场", "路"], ["红星村晒谷场"]),
    ("路塌了", ["路"], []),
])
def test_assemble(text, given, expected):
    assert spans(text, given) == expected


@pytest.mark.parametrize("text", ["等了3号都没人来", "我家住5楼", "三期工程"])
def test_weak_numbers_alone_are_not_places(text):
    assert assemble(text, []) == []
