"""One order's way through the console, in a real Chromium against the real stack
(issue 13, browser scenarios 1-3): a resident reports on the REST channel and the
dispatcher's 待办 shows it without a reload; the dispatcher reassigns it; the
handler, on a phone, accepts and resolves it with a note that reaches the
resident; the supervisor's dashboard shows the changed 办结率 with every chart
drawn, and the XLSX export holds the order. The tests run in this order and share
the order (``flow``); each also saves screenshots of the pages it passes.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from tests.app.console.browser.browser_support import CANVAS_PIXELS_JS, sign_in

pytestmark = pytest.mark.slow

RESIDENT = "web:bt-fire-resident"
NOTE = "楼道明火已扑灭，烟感报警器已更换，请放心。"
LIVE_WAIT_MS = 30_000  # 待办 polls every few seconds


@pytest.fixture(scope="module")
def flow() -> dict[str, Any]:
    """What the earlier tests of this module found out (the order's number ...)."""
    return {}


def kpi(page, label: str) -> str:
    """The figure the dashboard shows under ``label`` (e.g. 办结率 -> "50.0%")."""
    card = page.locator(".kpi", has=page.get_by_text(label, exact=True)).first
    expect(card).to_be_visible()
    return card.locator("b").inner_text().strip()


def test_a_new_report_appears_in_todo_without_reloading(stack, db, staff, base, office, flow,
                                                        screenshots, chromium):
    # the supervisor's 办结率 before anything happened (scenario 3 compares)
    supervisor = office.new_page()
    sign_in(supervisor, base, "demo-supervisor", next_path="/console/dashboard")
    expect(supervisor).to_have_url(re.compile(r"/console/dashboard$"))
    flow["rate_before"] = kpi(supervisor, "办结率")
    supervisor.close()

    dispatcher = office.new_page()
    sign_in(dispatcher, base, "demo-dispatcher")
    expect(dispatcher).to_have_url(re.compile(r"/console/todo$"))
    expect(dispatcher.get_by_role("heading", name="待办", level=1)).to_be_visible()
    loads: list[str] = []
    dispatcher.on("load", lambda p: loads.append(p.url))
    dispatcher.evaluate("() => { window.__sameDocument = 'yes'; }")
    url = dispatcher.url

    replies = [" ".join(stack.say(RESIDENT, text))
               for text in ("着火了！楼道里全是烟", "幸福里小区4号楼")]
    [order] = db.orders_of(RESIDENT)
    assert order.priority == "urgent" and order.number in replies[-1], replies
    flow["number"] = number = order.number

    item = dispatcher.locator("#todo-items").get_by_text(number)
    expect(item).to_be_visible(timeout=LIVE_WAIT_MS)
    assert dispatcher.url == url and loads == []
    assert dispatcher.evaluate("() => window.__sameDocument") == "yes", "the page was reloaded"
    screenshots.shoot(dispatcher, "todo")

    phone = chromium.new_context(viewport={"width": 390, "height": 844}, is_mobile=True,
                                 has_touch=True, locale="zh-CN", timezone_id="Asia/Shanghai")
    try:
        small = phone.new_page()
        sign_in(small, base, "demo-dispatcher")
        expect(small.locator("#todo-items").get_by_text(number)).to_be_visible()
        screenshots.shoot(small, "todo")
        for path, name in (("/console/orders", "orders"), (f"/console/orders/{number}", "order"),
                           ("/console/handlers", "handlers"), ("/console/callbacks", "callbacks")):
            small.goto(base + path)
            screenshots.shoot(small, name)
    finally:
        phone.close()


def test_a_reassigned_order_is_accepted_and_resolved_on_a_phone(stack, db, staff, base, office,
                                                                 phone, flow, screenshots):
    number = flow.get("number")
    if not number:
        pytest.fail("the first test of this module did not open an order")
    first = db.order(number).assignee_id
    target_account, target_id = next((u, h) for u, h in staff.items()
                                     if h != first and u in ("bt-zhangli", "bt-wangjianguo"))
    target_name = db.handler_name(target_id)

    dispatcher = office.new_page()
    sign_in(dispatcher, base, "demo-dispatcher", next_path=f"/console/orders/{number}")
    expect(dispatcher.get_by_role("heading", level=1)).to_contain_text(number)
    screenshots.shoot(dispatcher, "order")
    form = dispatcher.locator(f'form[action="/console/orders/{number}/assign"]')
    option = form.locator("option", has_text=f"{target_name}（").first
    form.get_by_label("处理人员").select_option(value=option.get_attribute("value"))
    form.get_by_label("原因（可选）").fill("原处理人员今天外出，改派同网格人员")
    with dispatcher.expect_navigation():
        form.get_by_role("button", name="确认派单").click()
    assert db.order(number).assignee_id == target_id
    expect(dispatcher.locator("main")).to_contain_text(target_name or "")
    for path, name in (("/console/orders", "orders"), ("/console/handlers", "handlers"),
                       ("/console/callbacks", "callbacks")):
        dispatcher.goto(base + path)
        screenshots.shoot(dispatcher, name)

    handler = phone.new_page()
    sign_in(handler, base, target_account)
    expect(handler).to_have_url(re.compile(r"/console/my$"))
    screenshots.shoot(handler, "my")
    handler.get_by_role("link", name=re.compile(number)).first.click()
    expect(handler).to_have_url(re.compile(rf"/console/my/{number}$"))
    with handler.expect_navigation():
        handler.get_by_role("button", name="签收").click()
    assert db.order(number).status == "accepted"
    screenshots.shoot(handler, "my-order")
    handler.get_by_label("办结说明").fill(NOTE)
    with handler.expect_navigation():
        handler.get_by_role("button", name="办结").click()
    order = db.order(number)
    assert order.status == "resolved"

    # the resident hears it on their channel: a web resident's message is queued
    # for them and delivered by the notifier (the log channel without a webhook) ...
    deadline = time.monotonic() + 30
    while True:
        sent = [m for m in db.outbox_to(RESIDENT, number) if NOTE in json.dumps(
            m["payload"], ensure_ascii=False)]
        if sent and sent[-1]["status"] == "delivered" or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert sent, db.outbox_to(RESIDENT, number)
    assert sent[-1]["status"] == "delivered", sent
    # ... and the chat gives it when they ask
    answer = " ".join(stack.say(RESIDENT, "我的事怎么样了"))
    assert NOTE in answer and "已办结" in answer, answer


def test_the_dashboard_and_the_xlsx_export_show_the_resolved_order(stack, db, staff, base,
                                                                   office, phone, flow,
                                                                   screenshots):
    number = flow.get("number")
    if not number or db.order(number).status != "resolved":
        pytest.fail("the earlier tests of this module did not resolve an order")
    page = office.new_page()
    sign_in(page, base, "demo-supervisor", next_path="/console/dashboard")
    after = kpi(page, "办结率")
    assert after != flow["rate_before"], (flow["rate_before"], after)
    assert re.search(r"[1-9]", after), after

    page.wait_for_function(f"() => ({CANVAS_PIXELS_JS})().length > 0")
    page.wait_for_function(f"() => ({CANVAS_PIXELS_JS})().every(n => n > 0)", timeout=15_000)
    drawn = page.evaluate(CANVAS_PIXELS_JS)
    assert drawn and all(n > 0 for n in drawn), drawn
    screenshots.shoot(page, "dashboard")

    page.goto(f"{base}/console/exports")
    screenshots.shoot(page, "exports")
    orders = page.locator("section", has=page.get_by_role("heading", name="工单明细"))
    with page.expect_download() as download:
        orders.get_by_role("button", name="下载 Excel（XLSX）").click()
    path = download.value.path()
    book = load_workbook(path, read_only=True)
    cells = {str(c) for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)
             for c in row if c is not None}
    assert number in cells, sorted(cells)[:50]

    page.goto(f"{base}/console/report/monthly")
    screenshots.shoot(page, "monthly-report")

    small = phone.new_page()
    sign_in(small, base, "demo-supervisor", next_path="/console/dashboard")
    small.wait_for_function(f"() => ({CANVAS_PIXELS_JS})().every(n => n > 0)")
    screenshots.shoot(small, "dashboard")
    for path, name in (("/console/exports", "exports"), ("/console/report/monthly",
                                                          "monthly-report")):
        small.goto(base + path)
        screenshots.shoot(small, name)


def test_the_admin_pages_at_both_widths(stack, staff, base, office, phone, screenshots):
    for context in (office, phone):
        page = context.new_page()
        sign_in(page, base, "demo-admin")
        expect(page).to_have_url(re.compile(r"/console/admin/staff$"))
        expect(page.locator("main")).to_contain_text("demo-dispatcher")
        screenshots.shoot(page, "admin-staff")
        page.goto(f"{base}/console/login")  # signed in: the sign-in page sends home
        expect(page).to_have_url(re.compile(r"/console/admin/staff$"))
