"""What the console refuses, in a real Chromium against the real stack (issue 13,
browser scenario 4): a handler cannot open another handler's order nor any
dispatcher page; a form posted without its CSRF token is refused; the sixth
wrong password is refused even with the right one; an idle session goes back to
sign-in."""

from __future__ import annotations

import os
import re
from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.app.console.browser.browser_support import password_of, sign_in

pytestmark = pytest.mark.slow

DISPATCHER_PAGES = ("/console/todo", "/console/orders", "/console/handlers", "/console/callbacks")
NO_RIGHT = "您的账号没有打开此页面的权限。"


def report(stack, db, sender: str, turns: tuple[str, ...]) -> str:
    """A resident's whole conversation on the REST channel; the number of the order it opened."""
    replies = [" ".join(stack.say(sender, text)) for text in turns]
    [order] = db.orders_of(sender)
    assert order.number in replies[-1], replies
    return order.number


def session_cookie(context) -> str:
    [cookie] = [c for c in context.cookies() if c["name"] == "wb_session"]
    return cookie["value"]


def test_a_handler_cannot_open_another_handlers_order_nor_a_dispatcher_page(
        stack, db, staff, base, phone, screenshots):
    number = report(stack, db, "web:bt-guard-light",
                    ("幸福里小区3号楼门口的路灯坏了，晚上黑乎乎的", "不用了", "对"))
    order = db.order(number)
    assert order.assignee_id is not None
    other = next(u for u, h in staff.items() if h != order.assignee_id)

    page = phone.new_page()
    sign_in(page, base, other)
    expect(page).to_have_url(re.compile(r"/console/my$"))
    assert number not in page.content()

    response = page.goto(f"{base}/console/my/{number}")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="未找到")).to_be_visible()
    assert "签收" not in page.content() and order.description not in page.content()

    for path in (*DISPATCHER_PAGES, f"/console/orders/{number}", "/console/dashboard",
                 "/console/admin/staff"):
        response = page.goto(base + path)
        assert response is not None and response.status == 403, path
        expect(page.get_by_role("heading", name="无法访问")).to_be_visible()
        expect(page.get_by_text(NO_RIGHT)).to_be_visible()
    screenshots.shoot(page, "forbidden")


def test_a_form_without_its_csrf_token_is_refused(stack, db, staff, base, office):
    page = office.new_page()
    sign_in(page, base, "demo-dispatcher", next_path="/console/account")
    expect(page).to_have_url(re.compile(r"/console/account$"))
    token = session_cookie(office)
    # the sign-out form is a real state-changing form: strip its token, then submit it
    removed = page.evaluate("""() => {
        const form = document.querySelector('form[action="/console/logout"]');
        const input = form.querySelector('input[name="csrf_token"]');
        input.remove();
        return form.querySelectorAll('input[name="csrf_token"]').length === 0;
    }""")
    assert removed
    with page.expect_navigation():
        page.get_by_role("button", name="退出").click()
    expect(page.get_by_role("heading", name="无法访问")).to_be_visible()
    expect(page.get_by_text("页面已过期或来源不明，请刷新页面后重试。")).to_be_visible()
    assert db.has_session(token), "the refused form must not have signed out"

    # with its token the same form works
    page.goto(f"{base}/console/account")
    with page.expect_navigation():
        page.get_by_role("button", name="退出").click()
    expect(page.get_by_text("您已安全退出。")).to_be_visible()
    assert not db.has_session(token)


def test_the_sixth_try_is_refused_even_with_the_right_password(stack, db, staff, base, office):
    page = office.new_page()
    try:
        for attempt in range(5):
            sign_in(page, base, "bt-zhangli", f"wrong-password-{attempt}")
            expect(page.get_by_role("alert")).to_have_text("用户名或密码不正确。")
        sign_in(page, base, "bt-zhangli", password_of("bt-zhangli"))
        expect(page.get_by_role("alert")).to_contain_text("登录失败次数过多")
        expect(page).to_have_url(re.compile(r"/console/login"))
        assert not [c for c in office.cookies() if c["name"] == "wb_session"]
        page.goto(f"{base}/console/account")
        expect(page).to_have_url(re.compile(r"/console/login\?next=/console/account$"))
    finally:
        db.forget_failed_sign_ins()  # the address is locked for every account otherwise
    sign_in(page, base, "bt-zhangli")
    expect(page).to_have_url(re.compile(r"/console/my$"))


def test_an_idle_session_goes_back_to_sign_in(stack, db, staff, base, office, screenshots):
    page = office.new_page()
    page.goto(f"{base}/console/account")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/account$"))
    screenshots.shoot(page, "login")
    sign_in(page, base, "demo-supervisor", next_path="/console/account")
    expect(page.locator("main").get_by_text("数据监督员")).to_be_visible()
    token = session_cookie(office)

    # a minute past the idle limit without a request: the session row says so
    idle = int(os.environ.get("WORKORDERS_CONSOLE_IDLE_MINUTES") or 30)
    assert db.age_session(token, timedelta(minutes=idle + 1)) == 1
    page.goto(f"{base}/console/account")
    expect(page).to_have_url(re.compile(r"/console/login\?next=/console/account$"))
    expect(page.get_by_role("heading", name="登录工作台")).to_be_visible()
    assert not db.has_session(token)
    sign_in(page, base, "demo-supervisor", next_path="/console/account")
    expect(page).to_have_url(re.compile(r"/console/account$"))
