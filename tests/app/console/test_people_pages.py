"""The console's people pages: 处理人员, 转人工, and the admin's 账号 and 区域.

Each page shows the rows of the signed-in role's reach; each action changes the
database through the use cases the API uses, as the signed-in staff member.
"""

from __future__ import annotations

import re

from sqlalchemy import select

from integrations.workorders.adapters.orm import (
    Area,
    AreaAlias,
    CallbackRequest,
    ConsoleSession,
    Handler,
    StaffAccessLog,
    StaffUser,
    TelegramLinkCode,
    WorkOrder,
)
from integrations.workorders.service import CallbackCreate, TranscriptLine, request_callback
from integrations.workorders.service.telegram_links import code_hash
from tests.app.console.console_support import Console, password_of

WEST_GRID = "grid:qy-xz-01"
TALK = (TranscriptLine("resident", "我家门口的下水道又堵了，污水都漫出来了"),
        TranscriptLine("bot", "抱歉，我没有听懂，请再说一遍。"),
        TranscriptLine("resident", "转人工"))


# ------------------------------------------------------------------ helpers


def handler_row(console: Console, handler_id: int) -> Handler:
    with console.api.world.db.session() as s:
        row = s.get(Handler, handler_id)
        assert row is not None
        s.expunge(row)
        return row


def west_handler(console: Console) -> int:
    return console.api.world.handler("赵西镇", areas=[WEST_GRID])


def flash_of(response) -> str:
    return response.headers.get("set-cookie", "")


def ask_callback(console: Console, **kw):
    data = dict(reporter_ref="voice:13800001111", reason="not_understood", transcript=TALK,
                contact="13900002222")
    data.update(kw)
    view, _ = request_callback(console.api.world.uow(), CallbackCreate(**data),
                               console.api.world.clock)
    return view


def access_rows(console: Console) -> list[StaffAccessLog]:
    with console.api.world.db.session() as s:
        return list(s.scalars(select(StaffAccessLog).order_by(StaffAccessLog.id)))


def staff_row(console: Console, username: str) -> StaffUser:
    with console.api.world.db.session() as s:
        row = s.scalars(select(StaffUser).where(StaffUser.username == username)).one()
        s.expunge(row)
        return row


# ------------------------------------------------------------------ 处理人员


def test_the_handlers_page_lists_the_handlers_within_the_dispatchers_areas(console):
    west = west_handler(console)
    page = console.sign_in("dispatcher").get("/console/handlers")
    assert page.status_code == 200
    for name in ("王调解", "李调解", "张网格", "陈干事"):
        assert name in page.text
    assert "赵西镇" not in page.text and f'id="handler-{west}"' not in page.text
    assert 'class="load' in page.text and 'aria-valuenow="0"' in page.text
    assert "人民调解员" in page.text and "东镇幸福里网格" in page.text and "邻里纠纷" in page.text
    far = console.sign_in("far_dispatcher").get("/console/handlers").text
    assert "赵西镇" in far and "王调解" not in far
    admin = console.sign_in("admin").get("/console/handlers").text
    assert "赵西镇" in admin and "王调解" in admin


def test_the_load_bar_shows_load_against_capacity(console):
    console.api.report()  # a dispute for 王调解 (load 1 of 5)
    page = console.sign_in("dispatcher").get("/console/handlers").text
    h1 = console.api.handlers["h1"]
    row = page[page.index(f'id="handler-{h1}"'):]
    row = row[:row.index("</tr>")]
    assert 'aria-valuenow="1"' in row and 'aria-valuemax="5"' in row
    assert "width: 20%" in row and "1 / 5" in row


def test_phone_numbers_are_masked(console):
    hid = console.api.world.handler("孙电话", phone="13912345678", areas=["grid:qy-dz-01"])
    browser = console.sign_in("dispatcher")
    for path in ("/console/handlers", f"/console/handlers/{hid}"):
        text = browser.get(path).text
        assert "13912345678" not in text and "139****5678" in text


def test_other_roles_may_not_open_the_dispatcher_pages(console):
    for name in ("supervisor", "handler"):
        browser = console.sign_in(name)
        for path in ("/console/handlers", "/console/callbacks"):
            page = browser.get(path)
            assert page.status_code == 403 and "没有打开此页面的权限" in page.text, (name, path)


def test_a_dispatcher_toggles_duty_and_sets_capacity(any_console):
    console = any_console
    h1 = console.api.handlers["h1"]
    browser = console.sign_in("dispatcher")
    off = browser.post(f"/console/handlers/{h1}/duty", {"on_duty": "false"})
    assert off.status_code == 303 and off.headers["location"] == "/console/handlers"
    assert handler_row(console, h1).on_duty is False
    assert "不在岗" in browser.get("/console/handlers").text
    browser.post(f"/console/handlers/{h1}/duty", {"on_duty": "true", "back": "detail"})
    assert handler_row(console, h1).on_duty is True
    done = browser.post(f"/console/handlers/{h1}/capacity", {"capacity": "9"})
    assert done.status_code == 303
    assert handler_row(console, h1).capacity == 9
    assert "承办上限已改为 9" in browser.get("/console/handlers").text


def test_a_dispatcher_edits_skills_and_areas_within_their_areas(console):
    h1 = console.api.handlers["h1"]
    browser = console.sign_in("dispatcher")
    page = browser.get(f"/console/handlers/{h1}").text
    assert 'value="dispute.family"' in page  # the mediator's categories
    assert 'value="incident.water"' not in page  # not a mediator's
    assert 'value="grid:qy-dz-02"' in page and f'value="{WEST_GRID}"' not in page
    browser.post(f"/console/handlers/{h1}/assignments",
                 {"skills": ["dispute.neighbor", "dispute.family"],
                  "areas": ["grid:qy-dz-01", "grid:qy-dz-02"]})
    row = handler_row(console, h1)
    assert row.skills == ["dispute.family", "dispute.neighbor"]
    assert row.areas == ["grid:qy-dz-01", "grid:qy-dz-02"]
    refused = browser.post(f"/console/handlers/{h1}/assignments",
                           {"skills": ["dispute.neighbor"], "areas": [WEST_GRID]})
    assert refused.status_code == 303 and "error" in flash_of(refused)
    assert handler_row(console, h1).areas == ["grid:qy-dz-01", "grid:qy-dz-02"]
    assert "只能把处理人员安排在您管辖的区域内" in browser.get(f"/console/handlers/{h1}").text


def test_a_dispatcher_cannot_change_a_handler_outside_their_areas(console):
    west = west_handler(console)
    browser = console.sign_in("dispatcher")
    page = browser.get(f"/console/handlers/{west}")
    assert page.status_code == 403 and "不在您的管辖范围内" in page.text
    for path, data in ((f"/console/handlers/{west}/duty", {"on_duty": "false"}),
                       (f"/console/handlers/{west}/capacity", {"capacity": "1"}),
                       (f"/console/handlers/{west}/assignments",
                        {"skills": ["dispute.family"], "areas": ["grid:qy-dz-01"]})):
        response = browser.post(path, data)
        assert response.status_code == 303 and "error" in flash_of(response), path
    code = browser.post(f"/console/handlers/{west}/link-code")
    assert code.status_code == 303 and "error" in flash_of(code)
    row = handler_row(console, west)
    assert (row.on_duty, row.capacity, row.skills, row.areas) == (
        True, 5, ["dispute.neighbor"], [WEST_GRID])
    assert console.api.world.count(TelegramLinkCode) == 0


def test_an_admin_changes_any_handler(console):
    west = west_handler(console)
    browser = console.sign_in("admin")
    browser.post(f"/console/handlers/{west}/capacity", {"capacity": "2"})
    assert handler_row(console, west).capacity == 2


def test_a_dispatcher_registers_a_handler_in_their_areas_only(console):
    browser = console.sign_in("dispatcher")
    form = browser.get("/console/handlers/new").text
    assert '<label for="f-name">' in form and f'value="{WEST_GRID}"' not in form
    made = browser.post("/console/handlers", {
        "name": "周调解", "phone": "13711112222", "role": "mediator", "tier": "grid",
        "capacity": "4", "skills": ["dispute.labor"], "areas": ["grid:qy-dz-02"]})
    assert made.status_code == 303
    with console.api.world.db.session() as s:
        rows = list(s.scalars(select(Handler).where(Handler.areas.is_not(None))))
    created = [r for r in rows if r.areas == ["grid:qy-dz-02"]]
    assert len(created) == 1
    assert (created[0].role, created[0].capacity, created[0].skills) == (
        "mediator", 4, ["dispute.labor"])
    assert made.headers["location"] == f"/console/handlers/{created[0].id}"
    assert "周调解" in browser.get(made.headers["location"]).text
    before = console.api.world.count(Handler)
    refused = browser.post("/console/handlers", {
        "name": "吴越界", "role": "mediator", "tier": "grid", "capacity": "4",
        "skills": ["dispute.labor"], "areas": [WEST_GRID]})
    assert refused.status_code == 422 and "只能把处理人员安排在您管辖的区域内" in refused.text
    assert "吴越界" in refused.text  # the form keeps what was typed
    assert console.api.world.count(Handler) == before


def test_a_link_code_is_shown_once_and_stored_as_its_hash(console):
    h2 = console.api.handlers["h2"]
    browser = console.sign_in("dispatcher")
    page = browser.post(f"/console/handlers/{h2}/link-code")
    assert page.status_code == 200 and "no-store" in page.headers["cache-control"]
    code = re.search(r'<p class="code"[^>]*>(\d{8})</p>', page.text)
    assert code, page.text
    assert "发送给工作台机器人" in page.text or "发送给机器人" in page.text
    with console.api.world.db.session() as s:
        (row,) = s.scalars(select(TelegramLinkCode))
        assert (row.handler_id, row.created_by) == (h2, "staff:dispatcher")
        assert row.code_hash == code_hash(code.group(1))
    assert code.group(1) not in browser.get(f"/console/handlers/{h2}").text


# ------------------------------------------------------------------ 转人工


def test_the_callbacks_page_lists_the_open_requests_without_their_transcript(console):
    request = ask_callback(console)
    console.api.tick(minutes=12)
    page = console.sign_in("dispatcher").get("/console/callbacks")
    assert page.status_code == 200
    text = page.text
    assert f"回拨请求 #{request.id}" in text and "12分钟前" in text
    assert "电话" in text and "智能助手未听懂" in text
    assert "139****2222" in text and "13900002222" not in text
    assert "下水道又堵了" not in text
    assert access_rows(console) == []


def test_a_request_in_another_township_is_not_shown_nor_revealed(console):
    order = console.api.world.order(reporter_ref="voice:13800001111")  # in 东镇
    request = ask_callback(console, order_number=order.number)
    assert request.area_code == "grid:qy-dz-01"
    far = console.sign_in("far_dispatcher")
    assert f"回拨请求 #{request.id}" not in far.get("/console/callbacks").text
    refused = far.post(f"/console/callbacks/{request.id}/reveal")
    assert refused.status_code == 404
    assert far.post(f"/console/callbacks/{request.id}/done", {"note": "x"}).status_code == 303
    with console.api.world.db.session() as s:
        assert s.get(CallbackRequest, request.id).status == "open"
    assert access_rows(console) == []
    near = console.sign_in("dispatcher").get("/console/callbacks").text
    assert f"回拨请求 #{request.id}" in near and f"/console/orders/{order.number}" in near


def test_revealing_the_transcript_is_logged_and_shows_it(console):
    request = ask_callback(console)
    browser = console.sign_in("dispatcher")
    fragment = browser.post(f"/console/callbacks/{request.id}/reveal",
                            headers={"HX-Request": "true"})
    assert fragment.status_code == 200
    assert "<html" not in fragment.text
    assert "我家门口的下水道又堵了" in fragment.text and "智能助手" in fragment.text
    assert "13900002222" in fragment.text
    (row,) = access_rows(console)
    assert (row.actor, row.action, row.subject) == (
        "staff:dispatcher", "callback_transcript_revealed", f"callback:{request.id}")
    page = browser.post(f"/console/callbacks/{request.id}/reveal")  # without JavaScript
    assert page.status_code == 200 and "<html" in page.text and "转人工" in page.text
    assert len(access_rows(console)) == 2


def test_a_request_is_done_with_a_note(console):
    request = ask_callback(console)
    browser = console.sign_in("dispatcher")
    done = browser.post(f"/console/callbacks/{request.id}/done", {"note": "已电话联系，问题已解答"})
    assert done.status_code == 303 and done.headers["location"] == "/console/callbacks"
    with console.api.world.db.session() as s:
        row = s.get(CallbackRequest, request.id)
        assert (row.status, row.done_by, row.note) == (
            "done", "staff:dispatcher", "已电话联系，问题已解答")
    page = browser.get("/console/callbacks").text
    assert "已电话联系，问题已解答" in page and f"/console/callbacks/{request.id}/done" not in page
    again = browser.post(f"/console/callbacks/{request.id}/done", {"note": "再来"})
    assert "error" in flash_of(again)


def test_a_request_becomes_an_order_for_its_resident(any_console):
    console = any_console
    request = ask_callback(console)
    browser = console.sign_in("dispatcher")
    form = browser.get(f"/console/callbacks/{request.id}/order")
    assert form.status_code == 200
    assert "我家门口的下水道又堵了，污水都漫出来了\n转人工" in form.text  # the resident's lines
    assert "抱歉，我没有听懂" not in form.text.split("f-description")[1].split("</textarea>")[0]
    assert f'value="{WEST_GRID}"' not in form.text  # only grids within the dispatcher's areas
    assert [r.action for r in access_rows(console)] == ["callback_transcript_revealed"]
    made = browser.post(f"/console/callbacks/{request.id}/order", {
        "category": "incident.water", "description": "下水道堵塞，污水外溢",
        "location_text": "幸福里小区5号楼", "area_code": "grid:qy-dz-01", "priority": "normal",
        "note": "已电话联系居民"})
    assert made.status_code == 303
    with console.api.world.db.session() as s:
        (order,) = s.scalars(select(WorkOrder))
        callback = s.get(CallbackRequest, request.id)
        assert (order.reporter_ref, order.reporter_channel, order.category) == (
            "voice:13800001111", "voice", "incident.water")
        assert (callback.status, callback.order_number, callback.done_by) == (
            "done", order.number, "staff:dispatcher")
    assert made.headers["location"] == f"/console/orders/{order.number}"
    assert "staff_note" in console.api.actions(order.number)


def test_a_bad_order_form_comes_back_with_the_reason_and_what_was_typed(console):
    request = ask_callback(console)
    browser = console.sign_in("dispatcher")
    refused = browser.post(f"/console/callbacks/{request.id}/order", {
        "category": "incident.water", "description": "下水道堵塞", "location_text": "西镇某处",
        "area_code": WEST_GRID})
    assert refused.status_code == 422 and "只能在您管辖的区域内登记工单" in refused.text
    assert "西镇某处" in refused.text
    assert console.api.world.count(WorkOrder) == 0
    with console.api.world.db.session() as s:
        assert s.get(CallbackRequest, request.id).status == "open"


# ------------------------------------------------------------------ admin: 账号


def test_only_admins_open_the_admin_pages(console):
    for name in ("dispatcher", "supervisor", "handler"):
        browser = console.sign_in(name)
        for path in ("/console/admin/staff", "/console/admin/areas",
                     "/console/admin/staff/dispatcher"):
            assert browser.get(path).status_code == 403, (name, path)
    dispatcher = console.sign_in("dispatcher")
    refused = dispatcher.post("/console/admin/staff", {"username": "mallory", "role": "admin"})
    assert refused.status_code == 403
    assert dispatcher.post("/console/admin/areas/fallback",
                           {"code": "grid:qy-dz-02"}).status_code == 403
    with console.api.world.db.session() as s:
        assert s.scalar(select(StaffUser).where(StaffUser.username == "mallory")) is None
        assert s.get(Area, "grid:qy-dz-02").fallback is False


def test_the_staff_page_lists_every_account(console):
    page = console.sign_in("admin").get("/console/admin/staff")
    assert page.status_code == 200
    for name in ("admin", "dispatcher", "far_dispatcher", "supervisor", "handler", "clerk"):
        assert f'id="staff-{name}"' in page.text
    assert "东镇" in page.text and "王调解" in page.text and "调度员" in page.text
    assert "token-" not in page.text and "argon2" not in page.text


def test_an_admin_creates_an_account_that_signs_in_with_its_password(console):
    browser = console.sign_in("admin")
    made = browser.post("/console/admin/staff", {
        "username": "newdesk", "role": "dispatcher", "areas": ["township:qy-xz"],
        "password": "a-long-enough-password"})
    assert made.status_code == 303 and made.headers["location"] == "/console/admin/staff/newdesk"
    row = staff_row(console, "newdesk")
    assert (row.role, row.areas, row.active) == ("dispatcher", ["township:qy-xz"], True)
    assert row.password_hash and row.token_hash
    assert [(r.actor, r.action) for r in access_rows(console)] == [
        ("staff:admin", "staff_created"), ("staff:admin", "password_set")]
    response = console.attempt(console.browser(), "newdesk", "a-long-enough-password")
    assert response.status_code == 303
    dup = browser.post("/console/admin/staff", {"username": "newdesk", "role": "supervisor"})
    assert dup.status_code == 422 and "用户名已存在" in dup.text


def test_a_handler_account_needs_its_handler(console):
    browser = console.sign_in("admin")
    refused = browser.post("/console/admin/staff", {"username": "h9", "role": "handler"})
    assert refused.status_code == 422 and "请关联处理人员" in refused.text
    h2 = console.api.handlers["h2"]
    browser.post("/console/admin/staff", {"username": "h9", "role": "handler",
                                          "handler_id": str(h2)})
    assert staff_row(console, "h9").handler_id == h2


def test_a_short_password_is_refused_after_the_account_is_made(console):
    browser = console.sign_in("admin")
    made = browser.post("/console/admin/staff", {"username": "shorty", "role": "supervisor",
                                                 "password": "short"})
    assert made.status_code == 303 and "error" in flash_of(made)
    assert staff_row(console, "shorty").password_hash is None
    assert "密码长度须为10" in browser.get("/console/admin/staff/shorty").text


def test_an_admin_changes_role_and_areas(console):
    browser = console.sign_in("admin")
    browser.post("/console/admin/staff/far_dispatcher",
                 {"role": "dispatcher", "areas": ["township:qy-xz", "township:qy-dz"]})
    assert staff_row(console, "far_dispatcher").areas == ["township:qy-dz", "township:qy-xz"]
    browser.post("/console/admin/staff/supervisor", {"role": "dispatcher",
                                                     "areas": ["township:qy-dz"]})
    row = staff_row(console, "supervisor")
    assert (row.role, row.areas) == ("dispatcher", ["township:qy-dz"])
    own = browser.post("/console/admin/staff/admin", {"role": "supervisor"})
    assert "error" in flash_of(own) and staff_row(console, "admin").role == "admin"


def test_a_new_password_signs_the_account_in_and_ends_its_sessions(console):
    desk = console.sign_in("dispatcher")
    browser = console.sign_in("admin")
    done = browser.post("/console/admin/staff/dispatcher/password",
                        {"password": "another-good-password"})
    assert done.status_code == 303 and "error" not in flash_of(done)
    assert desk.get("/console/handlers", follow_redirects=False).status_code == 303
    assert console.attempt(console.browser(), "dispatcher",
                           password_of("dispatcher")).status_code == 401
    assert console.attempt(console.browser(), "dispatcher",
                           "another-good-password").status_code == 303
    short = browser.post("/console/admin/staff/dispatcher/password", {"password": "short"})
    assert "error" in flash_of(short)


def test_a_disabled_account_is_signed_out_and_can_be_enabled_again(console):
    desk = console.sign_in("dispatcher")
    browser = console.sign_in("admin")
    browser.post("/console/admin/staff/dispatcher/active", {"active": "false"})
    assert staff_row(console, "dispatcher").active is False
    assert desk.get("/console/handlers", follow_redirects=False).status_code == 303
    with console.api.world.db.session() as s:
        sessions = s.scalars(select(ConsoleSession).where(
            ConsoleSession.staff_user_id == staff_row(console, "dispatcher").id)).all()
        assert sessions == []
    assert "已停用" in browser.get("/console/admin/staff").text
    assert console.attempt(console.browser(), "dispatcher",
                           password_of("dispatcher")).status_code == 401
    browser.post("/console/admin/staff/dispatcher/active", {"active": "true"})
    assert staff_row(console, "dispatcher").active is True
    assert console.attempt(console.browser(), "dispatcher",
                           password_of("dispatcher")).status_code == 303
    mine = browser.post("/console/admin/staff/admin/active", {"active": "false"})
    assert "error" in flash_of(mine) and staff_row(console, "admin").active is True


# ------------------------------------------------------------------ admin: 区域


def test_the_areas_page_shows_the_tree_and_aliases(console):
    browser = console.sign_in("admin")
    browser.post("/console/admin/areas/alias", {"code": "grid:qy-dz-01", "alias": "幸福里小区"})
    page = browser.get("/console/admin/areas")
    assert page.status_code == 200
    text = page.text
    assert text.index("青阳县") < text.index("东镇") < text.index("东镇幸福里网格")
    assert "幸福里小区" in text
    with console.api.world.db.session() as s:
        (alias,) = s.scalars(select(AreaAlias))
        assert (alias.area_code, alias.alias) == ("grid:qy-dz-01", "幸福里小区")
    again = browser.post("/console/admin/areas/alias", {"code": "grid:qy-dz-02",
                                                        "alias": "幸福里小区"})
    assert "error" in flash_of(again)
    assert console.api.world.count(AreaAlias) == 1


def test_an_admin_chooses_the_fallback_grid_and_adds_areas(console):
    browser = console.sign_in("admin")
    browser.post("/console/admin/areas/fallback", {"code": "grid:qy-dz-02"})
    browser.post("/console/admin/areas/fallback", {"code": WEST_GRID})
    with console.api.world.db.session() as s:
        assert [a.code for a in s.scalars(select(Area).where(Area.fallback.is_(True)))] == [
            WEST_GRID]
    assert "当前兜底网格：<strong>西镇一网格</strong>" in browser.get("/console/admin/areas").text
    township = browser.post("/console/admin/areas/fallback", {"code": "township:qy-dz"})
    assert "error" in flash_of(township)
    browser.post("/console/admin/areas", {"code": "grid:qy-dz-03", "name": "东镇新村网格",
                                          "tier": "grid", "parent_code": "township:qy-dz"})
    with console.api.world.db.session() as s:
        area = s.get(Area, "grid:qy-dz-03")
        assert (area.name, area.parent_code) == ("东镇新村网格", "township:qy-dz")
    bad = browser.post("/console/admin/areas", {"code": "grid:x", "name": "无上级",
                                                "tier": "grid"})
    assert "error" in flash_of(bad) and console.api.world.count(Area) == 7


# ------------------------------------------------------------------ CSRF


def test_posts_without_the_csrf_token_are_refused_and_change_nothing(console):
    h1 = console.api.handlers["h1"]
    request = ask_callback(console)
    desk = console.sign_in("dispatcher")
    admin = console.sign_in("admin")
    for browser, path, data in (
            (desk, f"/console/handlers/{h1}/duty", {"on_duty": "false"}),
            (desk, f"/console/handlers/{h1}/link-code", {}),
            (desk, f"/console/callbacks/{request.id}/reveal", {}),
            (desk, f"/console/callbacks/{request.id}/done", {"note": "x"}),
            (admin, "/console/admin/staff/dispatcher/active", {"active": "false"}),
            (admin, "/console/admin/areas/fallback", {"code": "grid:qy-dz-02"})):
        response = browser.post(path, data, csrf=False)
        assert response.status_code == 403 and "刷新页面" in response.text, path
    assert handler_row(console, h1).on_duty is True
    assert console.api.world.count(TelegramLinkCode) == 0
    assert access_rows(console) == []
    with console.api.world.db.session() as s:
        assert s.get(CallbackRequest, request.id).status == "open"
        assert s.get(Area, "grid:qy-dz-02").fallback is False
    assert staff_row(console, "dispatcher").active is True
