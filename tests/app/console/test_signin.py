"""Signing in to the console: passwords, throttling, cookies, CSRF, expiry, sign-out."""

from __future__ import annotations

from sqlalchemy import func, select

from integrations.workorders.adapters.orm import ConsoleSession, SignInFailure
from integrations.workorders.service import set_password, set_staff_active
from tests.app.console.console_support import CSRF_IN_PAGE, Console, password_of


def sessions(console: Console) -> int:
    with console.api.world.db.session() as s:
        return int(s.scalar(select(func.count()).select_from(ConsoleSession)) or 0)


def test_the_sign_in_page_is_a_chinese_form_with_labelled_fields(console):
    page = console.browser().get("/console/login")
    assert page.status_code == 200
    assert "登录工作台" in page.text
    assert '<label for="username">用户名</label>' in page.text
    assert '<label for="password">密码</label>' in page.text
    assert 'lang="zh-CN"' in page.text
    assert CSRF_IN_PAGE.search(page.text)


def test_the_right_password_opens_a_session_with_a_safe_cookie(console):
    browser = console.browser()
    response = console.attempt(browser, "dispatcher", password_of("dispatcher"),
                               next="/console/account")
    assert response.status_code == 303
    assert response.headers["location"] == "/console/account"
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("wb_session="))
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/console" in cookie
    assert "Secure" not in cookie  # plain HTTP (a local office network without TLS)
    page = browser.get("/console/account")
    assert page.status_code == 200 and "dispatcher" in page.text and "调度员" in page.text
    assert sessions(console) == 1


def test_over_https_the_session_cookie_is_secure(console):
    browser = console.browser("https://testserver")
    response = console.attempt(browser, "admin", password_of("admin"))
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("wb_session="))
    assert "Secure" in cookie


def test_a_wrong_password_or_unknown_name_gets_the_same_polite_refusal(console):
    browser = console.browser()
    wrong = console.attempt(browser, "dispatcher", "not-the-password-123")
    unknown = console.attempt(browser, "nobody-here", "not-the-password-123")
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "用户名或密码不正确。" in response.text
        assert "wb_session=" not in response.headers.get("set-cookie", "")
    assert sessions(console) == 0


def test_the_sixth_try_is_refused_even_with_the_right_password(console):
    browser = console.browser()
    for _ in range(5):
        assert console.attempt(browser, "dispatcher", "wrong-password-0000").status_code == 401
    response = console.attempt(browser, "dispatcher", password_of("dispatcher"))
    assert response.status_code == 429
    assert "登录失败次数过多" in response.text
    assert sessions(console) == 0
    console.api.tick(minutes=16)  # the window has passed
    assert console.attempt(browser, "dispatcher", password_of("dispatcher")).status_code == 303


def test_five_failures_from_one_address_lock_that_address_for_every_account(console):
    browser = console.browser()
    for name in ("a1", "a2", "a3", "a4", "a5"):
        console.attempt(browser, name, "wrong-password-0000")
    response = console.attempt(browser, "supervisor", password_of("supervisor"))
    assert response.status_code == 429
    with console.api.world.db.session() as s:
        assert s.scalar(select(func.count()).select_from(SignInFailure)) == 5


def test_a_disabled_account_cannot_sign_in_and_its_sessions_end(console):
    browser = console.sign_in("supervisor")
    set_staff_active(console.api.world.uow(), "supervisor", False)
    assert browser.get("/console/account", follow_redirects=False).status_code == 303
    again = console.attempt(console.browser(), "supervisor", password_of("supervisor"))
    assert again.status_code == 401


def test_a_new_password_signs_every_session_out(console):
    browser = console.sign_in("admin")
    set_password(console.api.world.uow(), "admin", "a-brand-new-password")
    response = browser.get("/console/account", follow_redirects=False)
    assert response.status_code == 303


def test_the_sign_in_form_needs_its_own_token(console):
    browser = console.browser()
    response = browser.client.post(
        "/console/login", data={"username": "admin", "password": password_of("admin"),
                                "csrf_token": "forged"}, follow_redirects=False)
    assert response.status_code == 403
    assert "页面已过期" in response.text
    assert sessions(console) == 0


def test_a_post_without_the_csrf_token_is_refused_and_changes_nothing(console):
    browser = console.sign_in("dispatcher")
    refused = browser.post("/console/logout", csrf=False)
    assert refused.status_code == 403 and "刷新页面" in refused.text
    assert sessions(console) == 1
    forged = browser.post("/console/logout", {"csrf_token": "x" * 43})
    assert forged.status_code == 403
    done = browser.post("/console/logout")
    assert done.status_code == 303 and done.headers["location"] == "/console/login"
    assert sessions(console) == 0
    assert browser.get("/console/account", follow_redirects=False).status_code == 303


def test_the_csrf_header_works_for_htmx_requests(console):
    browser = console.sign_in("dispatcher")
    response = browser.client.post("/console/logout", headers={"X-CSRF-Token": browser.csrf},
                                   follow_redirects=False)
    assert response.status_code == 303
    assert sessions(console) == 0


def test_an_idle_session_goes_back_to_sign_in(console):
    browser = console.sign_in("dispatcher")
    console.api.tick(minutes=29)
    assert browser.get("/console/account").status_code == 200  # still alive, and touched
    console.api.tick(minutes=29)
    assert browser.get("/console/account").status_code == 200
    console.api.tick(minutes=31)
    response = browser.get("/console/account", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/console/login?next=/console/account"
    assert sessions(console) == 0
    htmx = browser.get("/console/account", headers={"HX-Request": "true"},
                       follow_redirects=False)
    assert htmx.status_code == 401 and htmx.headers["HX-Redirect"].startswith("/console/login")


def test_signing_in_goes_only_to_console_pages(console):
    browser = console.browser()
    response = console.attempt(browser, "admin", password_of("admin"), next="//evil.example/x")
    assert response.headers["location"] == "/console/"


def test_the_home_page_sends_each_role_to_its_start_page(console):
    for name, target in (("dispatcher", "/console/todo"), ("handler", "/console/my"),
                         ("supervisor", "/console/dashboard"), ("admin", "/console/admin/staff")):
        response = console.sign_in(name).get("/console/", follow_redirects=False)
        assert response.headers["location"] == target, name


def test_errors_on_console_paths_are_pages_and_the_api_keeps_json(console):
    browser = console.sign_in("dispatcher")
    page = browser.get("/console/no-such-page")
    assert page.status_code == 404 and "text/html" in page.headers["content-type"]
    assert "回到工作台首页" in page.text
    api = console.api.get("dispatcher", "/api/v1/orders/99999999")
    assert api.status_code == 404 and api.json()["detail"]["reason_zh"]


def test_the_vendored_scripts_are_served_from_the_project(console):
    browser = console.browser()
    htmx = browser.get("/console/static/vendor/htmx-2.0.11/htmx.min.js")
    charts = browser.get("/console/static/vendor/echarts-6.1.0/echarts.min.js")
    assert htmx.status_code == 200 and "htmx" in htmx.text[:2000]
    assert charts.status_code == 200 and len(charts.content) > 500_000
    page = console.browser().get("/console/login").text
    assert "//cdn" not in page and "https://" not in page


def test_a_page_polling_by_itself_does_not_keep_the_session_alive(console):
    browser = console.sign_in("dispatcher")
    poll = {"HX-Request": "true", "X-Console-Poll": "1"}
    for _ in range(3):
        console.api.tick(minutes=10)
        assert browser.get("/console/todo/items", headers=poll).status_code in (200, 204)
    console.api.tick(minutes=1)  # 31 minutes since the person last did anything
    expired = browser.get("/console/todo/items", headers=poll, follow_redirects=False)
    assert expired.status_code == 401 and expired.headers["HX-Redirect"].startswith("/console/login")
