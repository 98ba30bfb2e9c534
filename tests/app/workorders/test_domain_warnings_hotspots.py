"""热点: the busiest places of the week with their change, and the slowest to resolve."""

from __future__ import annotations

from integrations.workorders.domain.hotspots import PlaceTally, rank_hotspots
from integrations.workorders.domain.warning_rules import HotspotRules


def tally(place, this_week, previous=(), hours=None, area="G-01", category="incident.road"):
    return PlaceTally(area_code=area, place_key=place, place_text=place, category=category,
                      this_week=this_week, previous=previous, median_resolve_hours=hours)


def test_busiest_first_with_the_change_against_earlier_weeks():
    spots = rank_hotspots([
        tally("3栋", 4, (1, 1, 2, 0, 9)),  # mean of the 4 weeks before: 1
        tally("人民路", 6, (6, 6, 6, 6)),
        tally("东门", 1, (0,)),  # below min_count
        tally("菜市场", 4, (4, 4, 4, 4)),
        tally("新桥", 3),  # no earlier weeks: the change is the count
    ], HotspotRules(top=3))
    assert [(h.place_text, h.count, h.change) for h in spots.top] == [
        ("人民路", 6, 0.0), ("3栋", 4, 3.0), ("菜市场", 4, 0.0)]
    spots = rank_hotspots([tally("新桥", 3)], HotspotRules())
    assert spots.top[0].change == 3.0


def test_slowest_by_median_resolve_hours():
    spots = rank_hotspots([
        tally("3栋", 4, hours=12.0), tally("人民路", 1, hours=96.5), tally("东门", 2, hours=None),
        tally("菜市场", 2, hours=40.0, area="G-02"),
    ], HotspotRules(top=2))
    assert [(h.place_text, h.median_resolve_hours) for h in spots.slowest] == [
        ("人民路", 96.5), ("菜市场", 40.0)]
    assert spots.slowest[1].area_code == "G-02"


def test_ties_are_stable_and_nothing_gives_nothing():
    a = tally("甲", 3, area="G-02")
    b = tally("乙", 3, area="G-01")
    assert [h.area_code for h in rank_hotspots([a, b], HotspotRules()).top] == ["G-01", "G-02"]
    assert [h.area_code for h in rank_hotspots([b, a], HotspotRules()).top] == ["G-01", "G-02"]
    empty = rank_hotspots([], HotspotRules())
    assert empty.top == () and empty.slowest == ()
