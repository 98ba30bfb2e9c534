"""Exports (/api/v1/exports): orders and the scorecard as XLSX and CSV, no personal data."""

from __future__ import annotations

import csv
import io

import openpyxl

from integrations.workorders.service import exports

PERIOD = {"from": "2025-03-01", "to": "2025-03-31"}


def _world(api):
    number = api.report(reporter_ref="tg:42", reporter_contact="13800001234")["number"]
    who = api.who_handles(api.row(number).assignee_id)
    api.tick(minutes=30)
    api.post(who, f"/api/v1/orders/{number}/accept")
    api.tick(hours=2)
    api.post(who, f"/api/v1/orders/{number}/resolve")
    api.post("actions", f"/api/v1/orders/{number}/satisfaction",
             json={"reporter_ref": "tg:42", "answer": "satisfied"})
    water = api.report(category="incident.water", area_code="grid:qy-dz-02")["number"]
    return number, water


def test_orders_xlsx(any_api):
    api = any_api
    number, water = _world(api)
    response = api.get("supervisor", "/api/v1/exports/orders.xlsx", params=PERIOD)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    assert 'filename="orders-20250301-20250331.xlsx"' in response.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    sheet = book["工单明细"]
    assert sheet.freeze_panes == "A2"
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0] == exports.ORDER_HEADERS
    by_number = {r[0]: dict(zip(rows[0], r, strict=True)) for r in rows[1:]}
    assert set(by_number) == {number, water}
    done = by_number[number]
    assert (done["类别"], done["所属网格"], done["状态"], done["处理人"], done["满意度"]) == (
        "邻里纠纷", "东镇幸福里网格", "已结案", "王调解", "满意")
    assert done["受理时间"].strftime("%Y-%m-%d %H:%M") == "2025-03-03 09:00"  # China time
    assert done["签收时间"].strftime("%H:%M") == "09:30" and done["是否超时"] == "否"
    assert by_number[water]["类别"] == "供排水问题" and by_number[water]["满意度"] is None
    assert sheet.column_dimensions["A"].width >= 10
    flat = repr(rows)
    assert "13800001234" not in flat and "tg:42" not in flat  # no personal data


def test_orders_csv_and_scorecard(api):
    number, _ = _world(api)
    response = api.get("admin", "/api/v1/exports/orders.csv", params=PERIOD)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert response.content.startswith(b"\xef\xbb\xbf")  # UTF-8 BOM, for Excel
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["工单编号", "类型", "类别"]
    assert [r[0] for r in rows[1:]] == [number, rows[2][0]]
    assert rows[1][9] == "2025-03-03 09:00"

    xlsx = api.get("supervisor", "/api/v1/exports/scorecard.xlsx", params=PERIOD)
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    assert book.sheetnames == ["总体", "按区域", "按类别"]
    overall = list(book["总体"].iter_rows(values_only=True))
    assert overall[0][:3] == ("统计期间", "受理量", "撤销量")
    assert overall[1][1] == 2 and overall[1][overall[0].index("满意率")] == 1.0
    assert book["总体"].cell(2, overall[0].index("办结率") + 1).number_format == "0.0%"
    areas = {r[0]: r[1] for r in book["按区域"].iter_rows(min_row=2, values_only=True)}
    assert areas == {"东镇幸福里网格": 1, "东镇和平街网格": 1}
    text = api.get("supervisor", "/api/v1/exports/scorecard.csv", params=PERIOD).content
    lines = text.decode("utf-8-sig").splitlines()
    assert lines[0] == "总体" and "按类别" in lines and "100.0%" in lines[2]


def test_exports_are_for_supervisors_and_capped(api, monkeypatch):
    api.report()
    assert api.get("dispatcher", "/api/v1/exports/orders.xlsx").status_code == 403
    assert api.get("handler", "/api/v1/exports/scorecard.csv").status_code == 403
    assert api.get("supervisor", "/api/v1/exports/orders.pdf").status_code == 422
    monkeypatch.setattr(exports, "MAX_EXPORT_ORDERS", 0)
    refused = api.get("supervisor", "/api/v1/exports/orders.csv", params=PERIOD)
    assert refused.status_code == 422
    assert "分批导出" in refused.json()["detail"]["reason_zh"]
