"""``/api/v1/reports/weekly`` over HTTP: built on demand, rebuilt, listed, scoped by area."""

from __future__ import annotations

from integrations.workorders.adapters.warnings_tables import WeeklyReport

WEEK = "2025-03-03"  # the harness clock's week (T0 is Monday 09:00 China time)
DZ = "township:qy-dz"


def test_a_report_is_built_when_first_asked_for_then_kept(api):
    for _ in range(3):
        api.report()
    api.tick(hours=2)
    first = api.get("dispatcher", "/api/v1/reports/weekly", params={"area": DZ, "week": WEEK})
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["area_code"], body["area_name"], body["week"]) == (DZ, "东镇", WEEK)
    assert body["created_by"] == "staff:dispatcher"
    assert body["path"] == f"/console/reports/{DZ}/{WEEK}"
    assert body["body"]["scorecard"]["created"] == 3
    assert body["body"]["scorecard"]["resolution_rate"] == 0.0
    assert [t["week"] for t in body["body"]["trend"]] == [
        "2025-02-10", "2025-02-17", "2025-02-24", WEEK]
    assert body["body"]["hotspots"]["top"][0]["place"] == "幸福里小区3号楼"
    assert body["body"]["hotspots"]["top"][0]["count"] == 3
    assert body["body"]["headline"].startswith("东镇本周受理3件")

    api.report()
    again = api.get("admin", "/api/v1/reports/weekly", params={"area": DZ, "week": WEEK})
    assert again.json() == body  # the stored report, not rebuilt
    rebuilt = api.post("admin", "/api/v1/reports/weekly", json={"area": DZ, "week": WEEK})
    assert rebuilt.status_code == 200, rebuilt.text
    assert rebuilt.json()["created_by"] == "staff:admin"
    assert rebuilt.json()["body"]["scorecard"]["created"] == 4
    assert api.world.count(WeeklyReport) == 1


def test_the_default_week_is_the_last_complete_one(api):
    api.report()
    response = api.get("supervisor", "/api/v1/reports/weekly", params={"area": "county:qy"})
    assert response.status_code == 200, response.text
    assert response.json()["week"] == "2025-02-24"
    assert response.json()["body"]["scorecard"]["created"] == 0
    posted = api.post("supervisor", "/api/v1/reports/weekly", json={"area": "county:qy"})
    assert posted.json()["week"] == "2025-02-24"


def test_who_may_read_which_reports(api):
    params = {"area": DZ, "week": WEEK}
    for who in ("handler", "actions", "telegram", "tg_handler"):
        assert api.get(who, "/api/v1/reports/weekly", params=params).status_code == 403, who
        assert api.post(who, "/api/v1/reports/weekly",
                        json={"area": DZ}).status_code == 403, who
    assert api.get(None, "/api/v1/reports/weekly", params=params).status_code == 401
    # a dispatcher reads their township's, not another's nor the county's
    assert api.get("far_dispatcher", "/api/v1/reports/weekly", params=params).status_code == 404
    assert api.get("dispatcher", "/api/v1/reports/weekly",
                   params={"area": "county:qy", "week": WEEK}).status_code == 404
    assert api.get("far_dispatcher", "/api/v1/reports/weekly",
                   params={"area": "township:qy-xz", "week": WEEK}).status_code == 200
    assert api.get("admin", "/api/v1/reports/weekly",
                   params={"area": "county:qy", "week": WEEK}).status_code == 200
    listing = api.get("dispatcher", "/api/v1/reports/weekly/list")
    assert listing.status_code == 200
    assert listing.json()["items"] == []
    api.get("dispatcher", "/api/v1/reports/weekly", params=params)
    items = api.get("dispatcher", "/api/v1/reports/weekly/list").json()["items"]
    assert [(i["area_code"], i["week"]) for i in items] == [(DZ, WEEK)]
    assert items[0]["headline"].startswith("东镇本周受理")
    everything = api.get("admin", "/api/v1/reports/weekly/list").json()["items"]
    assert sorted(i["area_code"] for i in everything) == ["county:qy", DZ, "township:qy-xz"]


def test_bad_areas_and_weeks(api):
    def status(params):
        return api.get("admin", "/api/v1/reports/weekly", params=params)

    response = status({"area": DZ, "week": "2025-03-04"})
    assert response.status_code == 422
    assert response.json()["detail"]["reason_zh"] == "周次应为该周星期一的日期。"
    assert status({"area": DZ, "week": "last week"}).status_code == 422
    assert status({"area": DZ, "week": "2025-03-17"}).status_code == 422  # not begun
    grid = status({"area": "grid:qy-dz-01", "week": WEEK})
    assert grid.status_code == 422
    assert grid.json()["detail"]["reason_zh"] == "研判周报只按乡镇（街道）或全县生成。"
    assert status({"area": "township:nowhere", "week": WEEK}).status_code == 404
    assert status({"week": WEEK}).status_code == 422
    assert api.post("admin", "/api/v1/reports/weekly",
                    json={"area": DZ, "extra": 1}).status_code == 422
    assert api.world.count(WeeklyReport) == 0
