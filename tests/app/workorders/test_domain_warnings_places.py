"""Place keys for repeat complaints: one place however it is worded, two places never one."""

from __future__ import annotations

import pytest

from integrations.workorders.domain.chinese_text import chinese_number, numerals_to_digits, simplify
from integrations.workorders.domain.places import is_vague_place, repeat_place_key, same_place

AREA = ("幸福里社区", "幸福里")


@pytest.mark.parametrize("text", [
    "3号楼", "3号楼门口", "三号楼", "3栋", "3幢", "三栋楼", "3号楼旁边", "３号楼",
    "三號樓", "3#楼", "3号楼下", "3号楼楼下", "幸福里小区3号楼", "幸福里社区三号楼门口",
    "幸福里 3 号楼", "在幸福里3幢楼下", "幸福里小区，3号楼！",
])
def test_one_building_however_it_is_worded(text):
    assert repeat_place_key(text, AREA) == "3栋"
    assert same_place(repeat_place_key(text, AREA), repeat_place_key("3号楼门口", AREA))


@pytest.mark.parametrize("a, b", [
    ("3号楼", "13号楼"),
    ("13号楼", "3号楼"),
    ("3号楼", "4号楼门口"),
    ("人民路", "人民东路"),
    ("人民路菜市场", "人民路"),
    ("3号楼", "3号"),
    ("3号楼2单元", "3号楼1单元"),
    ("幸福里小区3号楼", "阳光花园3号楼"),
])
def test_different_places_stay_different(a, b):
    assert not same_place(repeat_place_key(a, AREA), repeat_place_key(b, AREA))


def test_numbers_in_words_and_digits():
    assert repeat_place_key("十二栋", AREA) == repeat_place_key("12号楼", AREA) == "12栋"
    assert repeat_place_key("二十三号楼一单元", AREA) == "23栋1单元"
    assert repeat_place_key("3-2-101", AREA) == repeat_place_key("三号楼二单元一零一室", AREA)
    assert chinese_number("一百零五") == 105 and chinese_number("十") == 10
    assert chinese_number("两") == 2 and chinese_number("三x") is None and chinese_number("") is None
    assert numerals_to_digits("十字路口一带") == "十字路口一带"  # not a count of anything
    assert simplify("他說要燒他家，３號樓") == "他说要烧他家,3号楼"


def test_a_unit_or_room_is_in_its_building():
    building = repeat_place_key("3号楼", AREA)
    assert same_place(building, repeat_place_key("3号楼2单元门口", AREA))
    assert same_place(repeat_place_key("3栋2单元101室", AREA), building)
    assert not same_place(repeat_place_key("13号楼2单元", AREA), building)


def test_the_area_name_alone_and_other_names():
    # nothing but the area's own name: no one place (two lights "在幸福里小区" are not one)
    assert repeat_place_key("幸福里小区", AREA) == repeat_place_key("幸福里社区", AREA) == ""
    assert repeat_place_key("幸福里小区东门", AREA) == "东门"
    # without area names the compound stays in the key (it is another compound's 3号楼)
    assert repeat_place_key("阳光花园小区3号楼") == "阳光花园3栋"
    assert repeat_place_key("人民路菜市场门口") == "人民路菜市场"
    assert repeat_place_key("ABC广场") == repeat_place_key("abc 广场")


def test_empty_keys_match_nothing():
    assert repeat_place_key("！！", AREA) == ""
    assert not same_place("", "")
    assert not same_place("3栋", "")


def test_street_aliases_are_kept_in_the_key():
    names = ("幸福里社区", "幸福里", "人民路", "解放路")
    assert repeat_place_key("人民路3号", names) == "人民路3号"
    assert not same_place(repeat_place_key("人民路3号", names), repeat_place_key("解放路3号", names))
    assert repeat_place_key("幸福里小区3号楼", names) == "3栋"


SUNNY = ("阳光社区", "城关镇", "清河县")


@pytest.mark.parametrize("texts, key", [
    # an estate or landmark that begins with the community's short name keeps it,
    # whether or not the community is written before it
    (("长青综合市场", "长青社区长青综合市场", "长青综合市场旁边", "长青社区长青综合市场附近",
      "清河县城关镇长青社区长青综合市场"), "长青综合市场"),
    (("阳光花园三号楼门口", "阳光社区阳光花园3号楼", "阳光社区 阳光花园3栋", "在阳光花园三幢楼下"),
     "阳光花园3栋"),
    # the community itself (its short name before 小区 or a number) goes, however often written
    (("阳光小区3号楼", "阳光社区阳光小区三号楼", "阳光3号楼", "3号楼", "城关镇阳光社区3号楼门口"), "3栋"),
])
def test_the_community_prefix_is_left_out_the_same_way(texts, key):
    names = ("长青社区", "城关镇", "清河县") if key.startswith("长青") else SUNNY
    assert {repeat_place_key(t, names) for t in texts} == {key}


def test_community_prefix_does_not_merge_different_places():
    k = lambda t: repeat_place_key(t, SUNNY)  # noqa: E731
    assert not same_place(k("阳光社区阳光花园3号楼"), k("阳光花园13号楼"))
    assert not same_place(k("阳光社区3号楼"), k("阳光花园3号楼"))  # the community's 3号楼 is not the estate's
    assert not same_place(k("阳光社区人民路3号"), k("解放路3号"))
    assert k("阳光社区人民路3号") == k("人民路3号") == "人民路3号"
    assert k("阳光社区") == k("阳光") == ""  # the whole community is no one place


def test_street_aliases_stay_with_a_community_prefix():
    names = ("幸福里社区", "幸福里", "人民路", "解放路")
    assert repeat_place_key("幸福里社区人民路3号", names) == "人民路3号"
    assert repeat_place_key("幸福里社区幸福里小区3号楼", names) == "3栋"


def test_places_said_relative_to_the_speaker_are_no_one_place():
    """"我家楼下" of two residents are two places; a number or a name of its own is one."""
    for vague in ("我家楼下", "家门口", "楼道里", "小区门口", "小区里", "我们楼上", "电梯里", "这里"):
        key = repeat_place_key(vague, AREA)
        assert key == "" and is_vague_place(key), vague
        assert not same_place(key, repeat_place_key(vague, AREA))
    for named in ("3号楼楼道", "东门", "人民路菜市场", "阳光花园", "5号楼电梯", "小区花坛"):
        key = repeat_place_key(named, AREA)
        assert key and not is_vague_place(key), named
        assert same_place(key, repeat_place_key(named, AREA))
