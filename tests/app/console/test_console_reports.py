"""研判周报 in the console: the kept reports, 生成本周报告, and one report's page.

The world's clock starts on Monday 2025-03-03 09:00 China time (``world.T0``).
"""

from __future__ import annotations

import json
import re
from datetime import date
from urllib.parse import unquote

from tests.app.console.warnings_support import plant_report, report_body, report_rows

MONDAY = date(2025, 3, 3)
LAST_MONDAY = date(2025, 2, 24)


def _flash(response) -> str:
    cookie = next((c for c in response.headers.get_list("set-cookie")
                   if c.startswith("wb_flash=")), "")
    return unquote(cookie.partition("=")[2].partition(";")[0])


def test_the_list_shows_the_reports_of_the_users_areas(console):
    plant_report(console, "township:qy-dz", LAST_MONDAY)
    plant_report(console, "township:qy-xz", LAST_MONDAY)
    plant_report(console, "county:qy", LAST_MONDAY)
    dispatcher = console.sign_in("dispatcher")
    page = dispatcher.get("/console/reports")
    assert page.status_code == 200
    text = page.text
    assert "研判周报" in text and "2025年02月24日 起的一周" in text
    assert 'href="/console/reports/township:qy-dz/2025-02-24"' in text
    assert "township:qy-xz/" not in text and "county:qy/" not in text
    assert "生成本周报告" in text and '<option value="township:qy-dz">东镇</option>' in text
    assert 'value="township:qy-xz"' not in text and 'value="grid:qy-dz-01"' not in text
    assert 'value="2025-03-03"' in text  # this week

    supervisor = console.sign_in("supervisor").get("/console/reports").text
    for code in ("county:qy", "township:qy-dz", "township:qy-xz"):
        assert f'href="/console/reports/{code}/2025-02-24"' in supervisor
    assert supervisor.index('value="county:qy"') < supervisor.index('value="township:qy-dz"')


def test_a_report_page_shows_the_rates_trend_and_findings(console):
    plant_report(console, "township:qy-dz", LAST_MONDAY)
    page = console.sign_in("dispatcher").get("/console/reports/township:qy-dz/2025-02-24")
    assert page.status_code == 200
    text = page.text
    assert "研判周报 · 东镇" in text and "2025-02-24 至 2025-03-02" in text
    assert "本周受理42件" in text  # the headline
    assert re.search(r'data-kpi="created">42<', text)
    assert re.search(r'data-kpi="resolution_rate">90.0%<', text)
    assert re.search(r'data-kpi="satisfaction_rate">80.0%<', text)
    assert re.search(r'data-kpi="repeat_rate">12.0%<', text)
    assert "疑似假性整改 2 件" in text
    assert "幸福里小区3号楼" in text and "供排水问题" in text and "+5.5" in text
    assert "和平街菜市场" in text and "2.9天" in text
    assert "近3小时9件" in text and "暴力威胁" in text and "本周没有重复诉求预警" in text
    assert "处理速度慢" in text and "4 件" in text
    assert 'data-chart="rates"' in text and "/console/static/vendor/echarts-6.1.0/echarts.min.js" in text
    data = json.loads(re.search(r'id="dashboard-data">(.*?)</script>', text, re.S).group(1))
    assert data["trend"]["resolution_rate"] == [70.0, 80.0, 85.0, 90.0]
    assert data["trend"]["labels"][-1] == "02-24起"
    assert "data-print" in text and "page-report" in text


def test_an_empty_body_still_renders(console):
    plant_report(console, "county:qy", LAST_MONDAY, body={})
    page = console.sign_in("admin").get("/console/reports/county:qy/2025-02-24")
    assert page.status_code == 200 and "研判周报 · 青阳县" in page.text
    assert "本周没有激增预警" in page.text


def test_reports_outside_the_dispatchers_areas_are_not_found(console):
    plant_report(console, "township:qy-xz", LAST_MONDAY)
    plant_report(console, "county:qy", LAST_MONDAY)
    dispatcher = console.sign_in("dispatcher")
    assert dispatcher.get("/console/reports/township:qy-xz/2025-02-24").status_code == 404
    assert dispatcher.get("/console/reports/county:qy/2025-02-24").status_code == 404
    assert dispatcher.get("/console/reports/township:qy-dz/2025-02-24").status_code == 404
    assert dispatcher.get("/console/reports/township:qy-dz/2025-02-31").status_code == 404
    # a day that is not a Monday goes to its week
    moved = dispatcher.get("/console/reports/township:qy-dz/2025-02-26", follow_redirects=False)
    assert moved.status_code == 303
    assert moved.headers["location"] == "/console/reports/township:qy-dz/2025-02-24"
    assert console.sign_in("handler").get(
        "/console/reports/township:qy-dz/2025-02-24").status_code == 403


def test_generating_this_weeks_report_stores_and_opens_it(console):
    dispatcher = console.sign_in("dispatcher")
    made = dispatcher.post("/console/reports", {"area": "township:qy-dz", "week": ""})
    assert made.status_code == 303, made.text
    assert made.headers["location"] == "/console/reports/township:qy-dz/2025-03-03"
    assert _flash(made).startswith("ok|")
    assert report_rows(console) == [("township:qy-dz", "2025-03-03", "staff:dispatcher")]
    page = dispatcher.get(made.headers["location"])
    assert page.status_code == 200 and "研判周报 · 东镇" in page.text
    # a day of an earlier week: that week's; again: replaced, not doubled
    dispatcher.post("/console/reports", {"area": "township:qy-dz", "week": "2025-02-27"})
    dispatcher.post("/console/reports", {"area": "township:qy-dz", "week": "2025-02-27"})
    assert sorted(report_rows(console)) == [("township:qy-dz", "2025-02-24", "staff:dispatcher"),
                                            ("township:qy-dz", "2025-03-03", "staff:dispatcher")]


def test_generating_is_refused_outside_the_areas_for_the_future_and_without_csrf(console):
    dispatcher = console.sign_in("dispatcher")
    other = dispatcher.post("/console/reports", {"area": "township:qy-xz"})
    assert other.headers["location"] == "/console/reports" and _flash(other).startswith("error|")
    future = dispatcher.post("/console/reports", {"area": "township:qy-dz", "week": "2025-03-12"})
    assert _flash(future).startswith("error|") and "未来" in _flash(future)
    bad = dispatcher.post("/console/reports", {"area": "township:qy-dz", "week": "03/03/2025"})
    assert _flash(bad).startswith("error|")
    forged = dispatcher.post("/console/reports", {"area": "township:qy-dz"}, csrf=False)
    assert forged.status_code == 403
    assert console.sign_in("handler").post("/console/reports",
                                           {"area": "township:qy-dz"}).status_code == 403
    assert report_rows(console) == []
    assert report_body(MONDAY)["scorecard"]["created"] == 42
