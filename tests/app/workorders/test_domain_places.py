"""Place names: loose keys, and the longest name or alias in the text wins (ties by area code)."""

from __future__ import annotations

from integrations.workorders.domain import PlaceName, best_match, location_key, rank
from integrations.workorders.domain.places import place_key


def name(text: str, code: str, area: str = "社区") -> PlaceName:
    return PlaceName(location_key(text), text, code, area)


def test_location_key_is_loose():
    assert location_key(" 幸福里 小区，3号楼！") == "幸福里小区3号楼"
    assert location_key("ＡＢＣ花园") == location_key("abc花园") == "abc花园"  # full width, case
    assert location_key("？？ ") == ""


def test_the_longest_match_wins_whatever_the_order_given():
    names = rank([name("幸福里", "grid:a"), name("幸福里小区", "grid:a"),
                  name("人民路", "grid:b"), name("人民路菜市场", "grid:c")])
    match = best_match("人民路菜市场门口有人吵架", names)
    assert (match.area_code, match.text) == ("grid:c", "人民路菜市场")
    assert best_match("幸福里 小区3号楼", names).text == "幸福里小区"
    assert best_match("人民路口", names).area_code == "grid:b"


def test_ties_go_to_the_smaller_area_code_and_nothing_matches_nothing():
    names = rank([name("东头", "grid:z"), name("西头", "grid:a"), name("？", "grid:q")])
    assert best_match("村东头和西头都停水了", names).area_code == "grid:a"
    assert [n.area_code for n in names] == ["grid:a", "grid:z"]  # the empty key is dropped
    assert best_match("不知道在哪里", names) is None
    assert best_match("！！", names) is None
    assert best_match("东头", ()) is None


def test_place_keys_ignore_the_surroundings_but_not_the_place():
    assert place_key("幸福里小区3号楼门口") == place_key("幸福里小区3号楼") == "幸福里小区3号楼"
    assert place_key("红星村村口旁边") == place_key("红星村村口")
    assert place_key("3号楼") != place_key("4号楼门口")
    assert place_key("门口") == "门口"  # nothing left to compare is not a match for everything
