"""The handlers' pages (我的工单) and the supervisors' pages (数据看板, 导出, 月报).

The world (``api_support``): 王调解 (``handler``) gets the first dispute,
李调解 (``handler2``) the next one, 陈干事 (``clerk``) requests.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
from datetime import UTC, datetime
from urllib.parse import unquote

import openpyxl
from sqlalchemy import select

from integrations.workorders.adapters.orm import Attachment, WorkOrder
from tests.app.console.console_support import Console

PNG = (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00"
       b"\x00\x1f\x15\xc4\x89\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff"
       b"\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82")


def _order_of(console: Console, who: str, **overrides) -> str:
    """A new order assigned to ``who`` (the dispatch policy picks by workload)."""
    api = console.api
    for _ in range(4):
        number = api.report(**overrides)["number"]
        if api.row(number).assignee_id is not None and api.who_handles(
                api.row(number).assignee_id) == who:
            return number
    raise AssertionError(f"no order went to {who}")


def _flash(response) -> str:
    cookie = next((c for c in response.headers.get_list("set-cookie")
                   if c.startswith("wb_flash=")), "")
    return unquote(cookie.partition("=")[2].partition(";")[0])


# ------------------------------------------------------------------ handlers


def test_a_handler_sees_only_their_orders_open_first_with_a_countdown(console):
    api = console.api
    mine = _order_of(console, "handler")
    theirs = _order_of(console, "handler2")
    browser = console.sign_in("handler")
    page = browser.get("/console/my")
    assert page.status_code == 200
    assert mine in page.text and theirs not in page.text
    assert "我的工单" in page.text and "已派单" in page.text
    assert re.search(r"还剩\d+(小时|分钟)签收", page.text), page.text
    api.tick(hours=30)  # past the acceptance limit (if the timer has not taken it back)
    other = console.sign_in("handler2").get("/console/my")
    assert theirs in other.text and mine not in other.text


def test_urgent_orders_come_first(console):
    api = console.api
    normal = _order_of(console, "handler")
    api.tick(minutes=5)
    urgent = _order_of(console, "handler", priority="urgent",
                       description="水管爆裂，楼道已经积水。", category="dispute.neighbor")
    page = console.sign_in("handler").get("/console/my").text
    assert page.index(urgent) < page.index(normal)
    assert re.search(rf'my-urgent">\s*<a class="my-link" href="/console/my/{urgent}"', page)
    assert not re.search(rf'my-urgent">\s*<a class="my-link" href="/console/my/{normal}"', page)


def test_another_handlers_order_is_a_404_page_and_their_actions_too(console):
    theirs = _order_of(console, "handler2")
    browser = console.sign_in("handler")
    page = browser.get(f"/console/my/{theirs}")
    assert page.status_code == 404 and "未找到" in page.text
    assert "<html" in page.text
    refused = browser.post(f"/console/my/{theirs}/accept")
    assert refused.status_code == 404
    assert console.api.row(theirs).status == "assigned"
    assert browser.get("/console/my/99999999").status_code == 404


def test_accept_progress_resolve_change_the_order_audit_the_handler_and_tell_the_resident(
        any_console):
    console = any_console
    api = console.api
    number = _order_of(console, "handler")
    handler_id = api.handlers["h1"]
    browser = console.sign_in("handler")
    page = browser.get(f"/console/my/{number}")
    assert page.status_code == 200
    assert "楼上装修噪音很大" in page.text and "幸福里小区3号楼" in page.text
    assert f'action="/console/my/{number}/accept"' in page.text
    assert f'action="/console/my/{number}/resolve"' not in page.text  # not before 签收
    assert "data-confirm=" in page.text  # the decline asks first

    response = browser.post(f"/console/my/{number}/accept")
    assert response.status_code == 303 and response.headers["location"] == f"/console/my/{number}"
    assert _flash(response).startswith("ok|已签收")
    assert api.row(number).status == "accepted"
    event = api.events(number)[-1]
    assert (event.action, event.actor) == ("accept", f"handler:{handler_id}")
    assert [m.payload["event"] for m in api.outbox(number, recipient_kind="resident")][-1] == \
        "accepted"

    page = browser.get(f"/console/my/{number}")
    assert "已签收" in page.text  # the flash
    assert f'action="/console/my/{number}/accept"' not in page.text
    assert f'action="/console/my/{number}/progress"' in page.text

    api.tick(minutes=20)
    browser.post(f"/console/my/{number}/progress", data={"note": "已联系双方，明天上门调解。"})
    assert api.row(number).status == "in_progress"
    event = api.events(number)[-1]
    assert (event.action, event.note) == ("progress", "已联系双方，明天上门调解。")
    assert "已联系双方" in browser.get(f"/console/my/{number}").text  # on the timeline

    api.tick(minutes=25)  # within the console's idle limit
    response = browser.post(f"/console/my/{number}/resolve", data={"note": "双方已达成协议。"})
    assert _flash(response).startswith("ok|已办结")
    assert api.row(number).status == "resolved"
    event = api.events(number)[-1]
    assert (event.action, event.actor, event.note) == (
        "resolve", f"handler:{handler_id}", "双方已达成协议。")
    told = api.outbox(number, recipient_kind="resident")[-1]
    assert told.payload["event"] == "resolved" and told.payload["ask_satisfaction"] is True
    listing = browser.get("/console/my").text
    assert "最近办结" in listing and number in listing.split("最近办结")[1]


def test_a_requests_resolve_note_is_the_answer_the_resident_receives(console):
    api = console.api
    number = api.report(category="request.consult", description="请问老年卡在哪里办理？")["number"]
    assert api.who_handles(api.row(number).assignee_id) == "clerk"
    clerk = console.sign_in("clerk")
    clerk.post(f"/console/my/{number}/accept")
    empty = clerk.post(f"/console/my/{number}/resolve", data={"note": ""})
    assert _flash(empty) == "error|请填写给居民的答复内容。"
    assert api.row(number).status == "accepted"
    answer = "请带身份证到社区服务中心一楼办理。"
    clerk.post(f"/console/my/{number}/resolve", data={"note": answer})
    assert api.row(number).status == "resolved"
    told = api.outbox(number, recipient_kind="resident")[-1]
    assert told.payload["answer"] == answer and answer in told.payload["text"]


def test_decline_needs_a_reason_then_gives_the_order_back(console):
    api = console.api
    number = _order_of(console, "handler")
    browser = console.sign_in("handler")
    response = browser.post(f"/console/my/{number}/decline", data={"reason": "  "})
    assert _flash(response) == "error|请填写退回原因。"
    assert api.row(number).status == "assigned"
    response = browser.post(f"/console/my/{number}/decline", data={"reason": "本人正在外地培训"})
    assert response.headers["location"] == "/console/my"
    assert _flash(response).startswith("ok|已退回")
    decline = next(e for e in api.events(number) if e.action == "decline")
    assert decline.actor == f"handler:{api.handlers['h1']}" and decline.note == "本人正在外地培训"
    assert api.row(number).assignee_id != api.handlers["h1"]
    assert browser.get(f"/console/my/{number}").status_code == 404  # no longer theirs


def test_a_wrong_status_is_a_polite_flash_and_no_change(console):
    api = console.api
    number = _order_of(console, "handler")
    browser = console.sign_in("handler")
    response = browser.post(f"/console/my/{number}/resolve", data={"note": "好了"})
    assert response.status_code == 303 and _flash(response).startswith("error|")
    assert api.row(number).status == "assigned"


def test_a_post_without_the_csrf_token_is_refused(console):
    api = console.api
    number = _order_of(console, "handler")
    browser = console.sign_in("handler")
    response = browser.post(f"/console/my/{number}/accept", csrf=False)
    assert response.status_code == 403
    assert api.row(number).status == "assigned"


def test_photos_are_served_to_the_assignee_only(console):
    api = console.api
    number = _order_of(console, "handler")
    with api.world.db.session() as s:
        order_id = s.scalar(select(WorkOrder.id).where(WorkOrder.number == number))
        now = datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
        s.add(Attachment(public_id="photo-0001", reporter_ref="tg:1", content_type="image/png",
                         size=len(PNG), sha256=hashlib.sha256(PNG).hexdigest(), data=PNG,
                         created_at=now, attached_at=now, order_id=order_id))
        s.commit()
    browser = console.sign_in("handler")
    page = browser.get(f"/console/my/{number}")
    assert f'src="/console/my/{number}/photos/photo-0001"' in page.text
    photo = browser.get(f"/console/my/{number}/photos/photo-0001")
    assert photo.status_code == 200 and photo.content == PNG
    assert photo.headers["content-type"] == "image/png"
    assert console.sign_in("handler2").get(
        f"/console/my/{number}/photos/photo-0001").status_code == 404
    other = _order_of(console, "handler")
    assert browser.get(f"/console/my/{other}/photos/photo-0001").status_code == 404


def test_handlers_may_not_open_dispatcher_or_supervisor_pages(console):
    browser = console.sign_in("handler")
    for path in ("/console/dashboard", "/console/exports", "/console/report/monthly",
                 "/console/exports/orders.xlsx"):
        page = browser.get(path)
        assert page.status_code == 403, path
        assert "没有打开此页面的权限" in page.text
    assert console.sign_in("supervisor").get("/console/my").status_code == 403


# ------------------------------------------------------------------ supervisors

PERIOD = {"period": "custom", "from": "2025-03-01", "to": "2025-03-31"}


def _two_orders_one_resolved(console: Console) -> tuple[str, str]:
    api = console.api
    done = _order_of(console, "handler")
    waiting = _order_of(console, "handler2")
    api.tick(minutes=10)
    api.post("handler", f"/api/v1/orders/{done}/accept")
    api.tick(minutes=20)
    api.post("handler", f"/api/v1/orders/{done}/resolve", json={"note": "已调解"})
    api.post("actions", f"/api/v1/orders/{done}/satisfaction",
             json={"reporter_ref": api.row(done).reporter_ref, "answer": "satisfied"})
    return done, waiting


def _unhappy(console: Console, reason: str) -> str:
    """A third order, resolved and answered 不满意 (so reopened) with ``reason``."""
    api = console.api
    number = api.report()["number"]
    who = api.who_handles(api.row(number).assignee_id)
    api.post(who, f"/api/v1/orders/{number}/accept")
    api.post(who, f"/api/v1/orders/{number}/resolve", json={"note": "已处理"})
    response = api.post("actions", f"/api/v1/orders/{number}/satisfaction",
                        json={"reporter_ref": api.row(number).reporter_ref,
                              "answer": "unsatisfied", "reason": reason})
    assert response.status_code == 200, response.text
    return number


def _data_block(page_text: str) -> dict:
    found = re.search(r'<script type="application/json" id="dashboard-data">(.*?)</script>',
                      page_text, re.S)
    assert found, "no chart data block"
    return json.loads(found.group(1))


def test_the_dashboard_shows_the_planted_worlds_numbers_and_series(any_console):
    console = any_console
    done, waiting = _two_orders_one_resolved(console)
    browser = console.sign_in("supervisor")
    page = browser.get("/console/dashboard", params=PERIOD)
    assert page.status_code == 200, page.text
    text = page.text
    assert re.search(r'data-kpi="created">2<', text)
    assert 'data-kpi="resolution_rate">50.0%<' in text, re.findall(r'data-kpi="[a-z_]+">[^<]*<', text)
    assert 'data-kpi="satisfaction_rate">100.0%<' in text  # one answer, 满意
    assert 'data-kpi="accept_timely_rate">100.0%<' in text
    assert 'data-kpi="avg_resolve">30分钟<' in text
    assert "王调解" in text and "李调解" in text  # the scorecard by handler
    assert "东镇幸福里网格" in text and "邻里纠纷" in text  # by area, by category, the matrix
    assert "/console/static/vendor/echarts-6.1.0/echarts.min.js" in text
    assert "/console/static/dashboard.js" in text and "cdn" not in text.lower()
    for chart in ("volume", "rates", "backlog", "areas", "categories"):
        assert f'data-chart="{chart}"' in text
    data = _data_block(text)
    trend = data["trend"]
    assert len(trend["labels"]) == 31 and trend["labels"][2] == "03-03"
    assert trend["created"][2] == 2 and trend["resolved"][2] == 1
    assert trend["resolution_rate"][2] == 50.0 and trend["resolution_rate"][0] is None
    assert sum(data["backlog"]["on_time"]) + sum(data["backlog"]["overdue"]) == 1  # `waiting`
    assert data["categories"]["labels"] == ["邻里纠纷"] and data["categories"]["created"] == [2]
    # the audit chain: first view schedules a check, the next shows it
    assert 'data-audit="unchecked"' in text
    again = browser.get("/console/dashboard", params=PERIOD).text
    assert 'data-audit="ok"' in again and "已核验" in again
    # a resident's 不满意 with its reason; the order is reopened (办结率 1 of 3)
    unhappy = _unhappy(console, "噪音还在，没有解决")
    third = browser.get("/console/dashboard", params=PERIOD).text
    assert "噪音还在，没有解决" in third and unhappy in third
    assert 'data-kpi="resolution_rate">33.3%<' in third
    assert 'data-kpi="satisfaction_rate">50.0%<' in third


def test_the_period_chooser_day_week_month_and_a_wrong_custom_period(console):
    _two_orders_one_resolved(console)
    browser = console.sign_in("supervisor")
    day = browser.get("/console/dashboard", params={"period": "day", "date": "2025-03-03"}).text
    assert 'data-kpi="created">2<' in day and "2025年03月03日" in day
    other_day = browser.get("/console/dashboard",
                            params={"period": "day", "date": "2025-03-04"}).text
    assert 'data-kpi="created">0<' in other_day
    week = browser.get("/console/dashboard", params={"period": "week", "date": "2025-03-05"})
    assert "2025-03-03 至 2025-03-09" in week.text and 'data-kpi="created">2<' in week.text
    month = browser.get("/console/dashboard").text  # default: this month (the clock's)
    assert "2025年03月" in month and 'data-kpi="created">2<' in month
    span = browser.get("/console/dashboard", params={"from": "2025-03-04", "to": "2025-03-05"})
    assert "2025-03-04 至 2025-03-05" in span.text and 'data-kpi="created">0<' in span.text
    wrong = browser.get("/console/dashboard",
                        params={"period": "custom", "from": "2025-03-09", "to": "2025-03-01"})
    assert wrong.status_code == 200 and "开始日期不能晚于结束日期。" in wrong.text


def test_exports_are_valid_xlsx_and_csv_with_chinese_file_names(any_console):
    console = any_console
    done, waiting = _two_orders_one_resolved(console)
    browser = console.sign_in("supervisor")
    form = browser.get("/console/exports")
    assert form.status_code == 200 and 'formaction="/console/exports/orders.xlsx"' in form.text
    params = {"from": "2025-03-01", "to": "2025-03-31"}
    xlsx = browser.get("/console/exports/orders.xlsx", params=params)
    assert xlsx.status_code == 200
    assert xlsx.headers["content-type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    disposition = xlsx.headers["content-disposition"]
    assert 'filename="orders-20250301-20250331.xlsx"' in disposition
    assert "filename*=UTF-8''%E5%B7%A5%E5%8D%95%E6%98%8E%E7%BB%86-20250301-20250331.xlsx" in \
        disposition  # 工单明细-…
    book = openpyxl.load_workbook(io.BytesIO(xlsx.content))
    numbers = {row[0] for row in book["工单明细"].iter_rows(values_only=True)}
    assert {done, waiting} <= numbers

    orders_csv = browser.get("/console/exports/orders.csv", params=params)
    assert orders_csv.content.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(orders_csv.content.decode("utf-8-sig"))))
    assert rows[0][0] == "工单编号" and {done, waiting} <= {r[0] for r in rows[1:]}

    card = browser.get("/console/exports/scorecard.xlsx", params=params)
    assert "filename*=UTF-8''" in card.headers["content-disposition"]
    sheets = openpyxl.load_workbook(io.BytesIO(card.content)).sheetnames
    assert sheets == ["总体", "按区域", "按类别"]
    card_csv = browser.get("/console/exports/scorecard.csv", params=params)
    assert card_csv.content.startswith(b"\xef\xbb\xbf") and "办结率" in card_csv.content.decode()

    wrong = browser.get("/console/exports/orders.csv",
                        params={"from": "2025-03-09", "to": "2025-03-01"}, follow_redirects=False)
    assert wrong.status_code == 303 and wrong.headers["location"].startswith("/console/exports")
    assert _flash(wrong) == "error|开始日期不能晚于结束日期。"


def test_the_monthly_report_is_printable(console):
    _two_orders_one_resolved(console)
    browser = console.sign_in("supervisor")
    page = browser.get("/console/report/monthly", params={"month": "2025-03"})
    assert page.status_code == 200
    assert "社区事务工作月报 · 2025年03月" in page.text
    assert "data-print" in page.text and "打印" in page.text
    assert 'data-kpi="resolution_rate">50.0%<' in page.text
    assert len(_data_block(page.text)["trend"]["labels"]) == 31
    empty = browser.get("/console/report/monthly", params={"month": "2025-02"}).text
    assert 'data-kpi="created">0<' in empty
    default = browser.get("/console/report/monthly").text  # last month
    assert "2025年02月" in default
    css = browser.get("/console/static/console.css").text
    assert "@media print" in css and "size: A4" in css


def test_admins_see_the_supervisors_pages_too(console):
    browser = console.sign_in("admin")
    for path in ("/console/dashboard", "/console/exports", "/console/report/monthly"):
        assert browser.get(path).status_code == 200, path
    assert browser.get("/console/my").status_code == 403
