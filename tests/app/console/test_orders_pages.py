"""The dispatcher's screens: 待办 (polled), the order list, the order page and its actions.

The world (``tests/app/api/api_support.py``): ``dispatcher`` covers 东镇 (grids qy-dz-01,
qy-dz-02), ``far_dispatcher`` 西镇; 王调解 (``handler``) and 李调解 (``handler2``) are
mediators of qy-dz-01, 张网格 (``worker``) its grid worker.
"""

from __future__ import annotations

import re

import pytest

from integrations.workorders.service import accept, resolve
from tests.app.console.console_support import Console
from tests.app.image_samples import png

ORDER_LINK = re.compile(r'href="/console/orders/(\d+)"')
TAG = re.compile(r'hx-get="/console/todo/items\?v=([0-9a-f]+)"')


def numbers(page) -> list[str]:
    assert page.status_code == 200, page.text
    return ORDER_LINK.findall(page.text)


def report(console: Console, **overrides) -> str:
    return console.api.report(**overrides)["number"]


def incident(console: Console, place: str, grid: str = "grid:qy-dz-01", **kw) -> str:
    return report(console, category="incident.facility", description="路灯坏了，晚上很黑。",
                  location_text=place, area_code=grid, **kw)


def last_event(console: Console, number: str):
    return console.api.events(number)[-1]


@pytest.fixture
def dispatcher(console):
    return console.sign_in("dispatcher")


# ------------------------------------------------------------------------ access


def test_handlers_and_supervisors_may_not_open_the_dispatcher_pages(console):
    number = report(console)
    for name in ("handler", "supervisor"):
        browser = console.sign_in(name)
        for path in ("/console/todo", "/console/todo/items", "/console/orders",
                     f"/console/orders/{number}"):
            page = browser.get(path)
            assert page.status_code == 403, (name, path)
            assert "没有打开此页面的权限" in page.text
        refused = browser.post(f"/console/orders/{number}/priority", {"priority": "urgent"})
        assert refused.status_code == 403
    assert console.api.row(number).priority == "normal"


def test_an_order_of_another_township_is_not_found_for_a_dispatcher(console):
    number = report(console)
    far = console.sign_in("far_dispatcher")
    page = far.get(f"/console/orders/{number}")
    assert page.status_code == 404 and "未找到" in page.text
    assert number not in numbers(far.get("/console/orders"))
    for action, data in (("priority", {"priority": "urgent"}), ("withdraw", {"reason": "重复"}),
                         ("contact", {}), ("note", {"note": "看看"})):
        assert far.post(f"/console/orders/{number}/{action}", data).status_code == 404, action
    row = console.api.row(number)
    assert (row.priority, row.status) == ("normal", "assigned")
    assert all(not e.actor.startswith("staff:") for e in console.api.events(number))


def test_a_post_without_its_csrf_token_is_refused_and_changes_nothing(console, dispatcher):
    number = report(console)
    refused = dispatcher.post(f"/console/orders/{number}/priority", {"priority": "urgent"},
                              csrf=False)
    assert refused.status_code == 403 and "刷新页面" in refused.text
    forged = dispatcher.post(f"/console/orders/{number}/withdraw",
                             {"reason": "重复", "csrf_token": "x" * 43})
    assert forged.status_code == 403
    row = console.api.row(number)
    assert (row.priority, row.status) == ("normal", "assigned")


# -------------------------------------------------------------------------- list


def test_the_list_shows_the_dispatchers_orders_and_each_filter_narrows_it(any_console):
    console = any_console
    dispatcher = console.sign_in("dispatcher")
    dispute = report(console)
    lamp = incident(console, "和平街路灯", grid="grid:qy-dz-02")
    urgent = report(console, priority="urgent", location_text="幸福里小区5号楼")
    far = incident(console, "西镇一网格路口", grid="grid:qy-xz-01")

    every = numbers(dispatcher.get("/console/orders"))
    assert set(every) == {dispute, lamp, urgent} and every[0] == urgent  # newest first
    page = dispatcher.get("/console/orders").text
    assert '<div class="table-wrap">' in page and "东镇和平街网格" in page and "王调解" in page
    assert '<label for="f-status">状态</label>' in page and '<label for="f-q">搜索</label>' in page

    def listed(**query) -> set[str]:
        return set(numbers(dispatcher.get("/console/orders", params=query)))

    assert listed(kind="incident") == {lamp}
    assert listed(category="dispute.neighbor") == {dispute, urgent}
    assert listed(priority="urgent") == {urgent}
    assert listed(area="grid:qy-dz-02") == {lamp}
    assert listed(q="和平街") == {lamp}
    assert listed(q=dispute) == {dispute}
    assert listed(status="assigned", kind="dispute") == {dispute, urgent}
    assert listed(status="resolved") == set()
    assert listed(overdue="no") == {dispute, lamp, urgent}
    assert listed(created_from="2025-03-03", created_to="2025-03-03") == {dispute, lamp, urgent}
    assert listed(created_from="2025-03-04") == set()
    assert listed(satisfaction="dissatisfied") == set()
    assert "没有符合条件的工单" in dispatcher.get("/console/orders",
                                                   params={"status": "resolved"}).text
    odd = dispatcher.get("/console/orders", params={"status": "nonsense", "kind": "incident"})
    assert set(numbers(odd)) == {lamp} and "已忽略：状态" in odd.text
    # another township's area is refused, as in the API; an admin sees everything
    assert dispatcher.get("/console/orders", params={"area": "grid:qy-xz-01"}).status_code == 403
    admin = console.sign_in("admin")
    assert set(numbers(admin.get("/console/orders"))) == {dispute, lamp, urgent, far}
    assert set(numbers(admin.get("/console/orders", params={"area": "grid:qy-xz-01"}))) == {far}


def test_overdue_and_satisfaction_filters(console):
    late = report(console)
    console.api.tick(hours=3)  # past the 2-hour accept limit, not accepted
    fresh = report(console)
    dispatcher = console.sign_in("dispatcher")  # (an earlier session would have expired)
    assert set(numbers(dispatcher.get("/console/orders", params={"overdue": "yes"}))) == {late}
    page = dispatcher.get("/console/orders").text
    assert "已逾期" in page
    uow = console.api.world.uow
    handler = console.api.row(fresh).assignee_id
    accept(uow(), fresh, handler, console.api.world.clock)
    resolve(uow(), fresh, handler, "已调解", console.api.world.clock)
    answered = console.api.post("actions", f"/api/v1/orders/{fresh}/satisfaction",
                                json={"reporter_ref": console.api.row(fresh).reporter_ref,
                                      "answer": "unsatisfied", "reason": "没人来"})
    assert answered.status_code == 200, answered.text
    assert set(numbers(dispatcher.get("/console/orders",
                                      params={"satisfaction": "dissatisfied"}))) == {fresh}


def test_the_list_is_paginated_in_the_database_and_the_pager_keeps_the_filters(console,
                                                                                 dispatcher):
    made = [incident(console, f"和平街{i}号路灯", grid="grid:qy-dz-02") for i in range(23)]
    report(console)  # a dispute: filtered out
    first = dispatcher.get("/console/orders", params={"kind": "incident"})
    assert numbers(first) == list(reversed(made))[:20]
    assert "第 1–20 条，共 23 条" in first.text
    link = re.search(r'href="(/console/orders\?[^"]*offset=20)"', first.text)
    assert link, first.text
    url = link.group(1).replace("&amp;", "&")
    assert "kind=incident" in url and "limit=20" in url
    second = dispatcher.get(url)
    assert numbers(second) == list(reversed(made))[20:]
    assert "上一页" in second.text and "下一页" not in second.text
    fifty = dispatcher.get("/console/orders", params={"kind": "incident", "limit": 50})
    assert len(numbers(fifty)) == 23


# -------------------------------------------------------------------------- order page


def test_the_order_page_shows_the_report_its_handling_and_its_timeline(console, dispatcher):
    ref = "tg:4242"
    photo = console.api.post("actions", "/api/v1/attachments", params={"reporter_ref": ref},
                             content=png(3), headers={"Content-Type": "image/png"}).json()["id"]
    number = incident(console, "幸福里小区3号楼东门", reporter_ref=ref, attachment_ids=[photo])
    added = console.api.post("actions", f"/api/v1/orders/{number}/attach",
                             json={"reporter_ref": "tg:777", "description": "我家楼下也很吵。"})
    assert added.status_code == 200, added.text
    page = dispatcher.get(f"/console/orders/{number}")
    assert page.status_code == 200
    text = page.text
    for shown in ("路灯坏了，晚上很黑。", "幸福里小区3号楼东门", "东镇幸福里网格", "事件隐患",
                  "张网格（网格员", "签收时限", "办结时限", "操作记录", "派单",
                  "补充反映（1）", "我家楼下也很吵。", "其他居民", "Telegram"):
        assert shown in text, shown
    assert f'/console/orders/{number}/photos/{photo}' in text
    for action in ("assign", "reclassify", "priority", "note", "withdraw"):
        assert f'action="/console/orders/{number}/{action}"' in text, action
    assert f'action="/console/orders/{number}/reopen"' not in text  # not resolved
    # the photo's bytes, for those who may see the order only
    image = dispatcher.get(f"/console/orders/{number}/photos/{photo}")
    assert image.status_code == 200 and image.content == png(3)
    assert image.headers["content-type"] == "image/png"
    assert console.sign_in("far_dispatcher").get(
        f"/console/orders/{number}/photos/{photo}").status_code == 404
    other = report(console)
    assert dispatcher.get(f"/console/orders/{other}/photos/{photo}").status_code == 404
    # the assignee (张网格) may see the photo on their own order; another handler may not
    assert console.sign_in("worker").get(
        f"/console/orders/{number}/photos/{photo}").content == png(3)
    assert console.sign_in("handler").get(
        f"/console/orders/{number}/photos/{photo}").status_code == 404


def test_the_assign_form_lists_eligible_handlers_with_load_and_capacity(console, dispatcher):
    api = console.api
    api.world.handler("赵调解", areas=["grid:qy-xz-01"])  # another township's
    number = report(console)
    text = dispatcher.get(f"/console/orders/{number}").text
    assert "王调解（人民调解员，网格）" in text  # the assignee
    assert "李调解（网格）· 工作量 0/5" in text  # the other mediator of the area
    assert "张网格" not in text and "陈干事" not in text and "赵调解" not in text
    admin = console.sign_in("admin").get(f"/console/orders/{number}").text
    assert "赵调解（网格）· 工作量 0/5" in admin


def test_a_cancelled_order_offers_only_a_note(console, dispatcher):
    number = report(console)
    assert dispatcher.post(f"/console/orders/{number}/withdraw",
                           {"reason": "重复反映"}).status_code == 303
    text = dispatcher.get(f"/console/orders/{number}").text
    assert f'action="/console/orders/{number}/note"' in text
    for action in ("assign", "reclassify", "priority", "withdraw", "reopen"):
        assert f'action="/console/orders/{number}/{action}"' not in text, action


# -------------------------------------------------------------------------- actions


def follow(dispatcher, response) -> str:
    assert response.status_code == 303, response.text
    return dispatcher.get(response.headers["location"]).text


def test_reassigning_moves_the_order_and_tells_both_handlers(console, dispatcher):
    api = console.api
    number = report(console)
    first, second = api.handlers["h1"], api.handlers["h2"]
    assert api.row(number).assignee_id == first
    done = dispatcher.post(f"/console/orders/{number}/assign",
                           {"handler_id": str(second), "reason": "王调解请假"})
    assert done.headers["location"] == f"/console/orders/{number}"
    assert "已派给李调解。" in follow(dispatcher, done)
    assert api.row(number).assignee_id == second
    taken, given = api.events(number)[-2:]
    assert (taken.action, taken.actor) == ("decline", "staff:dispatcher")
    assert "王调解请假" in taken.note
    assert (given.action, given.actor) == ("dispatch", "staff:dispatcher")
    assert [m.recipient_ref for m in api.outbox(number, topic="order.withdrawn")] == [str(first)]
    assert str(second) in [m.recipient_ref for m in api.outbox(number, topic="order.assigned")]


def test_reassigning_outside_the_dispatchers_areas_or_to_a_wrong_role_is_refused(console,
                                                                                  dispatcher):
    api = console.api
    number = report(console)
    outsider = api.world.handler("赵调解", areas=["grid:qy-xz-01"])
    refused = dispatcher.post(f"/console/orders/{number}/assign", {"handler_id": str(outsider)})
    assert "只能把工单改派给您管辖区域内的处理人员。" in follow(dispatcher, refused)
    wrong = dispatcher.post(f"/console/orders/{number}/assign",
                            {"handler_id": str(api.handlers["w1"])})
    assert "岗位与事项类型不符" in follow(dispatcher, wrong)
    assert api.row(number).assignee_id == api.handlers["h1"]
    assert all(not e.actor.startswith("staff:") for e in api.events(number))


def test_reclassifying_dispatches_to_the_new_kind_and_tells_the_resident(console, dispatcher):
    api = console.api
    number = report(console)
    before = len(api.outbox(number, recipient_kind="resident"))
    done = dispatcher.post(f"/console/orders/{number}/reclassify",
                           {"category": "incident.facility", "note": "其实是设施损坏"})
    assert "已重新分类为「" in follow(dispatcher, done)
    row = api.row(number)
    assert (row.kind, row.category, row.assignee_id) == ("incident", "incident.facility",
                                                          api.handlers["w1"])
    event = next(e for e in api.events(number) if e.action == "reclassify")
    assert event.actor == "staff:dispatcher" and "其实是设施损坏" in event.note
    assert len(api.outbox(number, recipient_kind="resident")) == before + 1
    assert str(api.handlers["w1"]) in [m.recipient_ref for m in
                                       api.outbox(number, topic="order.assigned")]


def test_priority_makes_the_order_urgent_and_tells_the_assignee(console, dispatcher):
    api = console.api
    number = report(console)
    done = dispatcher.post(f"/console/orders/{number}/priority",
                           {"priority": "urgent", "reason": "老人独居"})
    page = follow(dispatcher, done)
    assert "已设为紧急" in page
    assert "原为「一般」 改为「紧急」 老人独居" in page  # the timeline, in words
    row = api.row(number)
    assert row.priority == "urgent"
    event = last_event(console, number)
    assert (event.action, event.actor, event.note) == ("priority", "staff:dispatcher",
                                                        "from:normal to:urgent 老人独居")
    (told,) = api.outbox(number, topic="order.priority")
    assert (told.recipient_kind, told.recipient_ref) == ("handler", str(api.handlers["h1"]))
    again = dispatcher.post(f"/console/orders/{number}/priority", {"priority": "urgent"})
    assert "该工单已是此紧急程度。" in follow(dispatcher, again)


def test_an_internal_note_stays_inside_and_a_note_to_the_resident_is_sent(console, dispatcher):
    api = console.api
    number = report(console)
    before = len(api.outbox(number, recipient_kind="resident"))
    inside = dispatcher.post(f"/console/orders/{number}/note", {"note": "已电话联系物业"})
    assert "内部备注已保存。" in follow(dispatcher, inside)
    event = last_event(console, number)
    assert (event.action, event.actor, event.note) == ("staff_note", "staff:dispatcher",
                                                        "已电话联系物业")
    assert len(api.outbox(number, recipient_kind="resident")) == before
    public = dispatcher.post(f"/console/orders/{number}/note",
                             {"note": "明天上午会有人上门", "to_resident": "1"})
    page = follow(dispatcher, public)
    assert "已发送给反映人。" in page and "明天上午会有人上门" in page
    event = last_event(console, number)
    assert (event.action, event.actor) == ("resident_note", "staff:dispatcher")
    sent = api.outbox(number, recipient_kind="resident")
    assert len(sent) == before + 1 and "明天上午会有人上门" in sent[-1].payload["text"]
    empty = dispatcher.post(f"/console/orders/{number}/note", {"note": "  "})
    assert "flash-error" in follow(dispatcher, empty)


def test_cancelling_with_a_reason_tells_the_resident_and_the_handler(console, dispatcher):
    api = console.api
    number = report(console)
    done = dispatcher.post(f"/console/orders/{number}/withdraw", {"reason": "重复反映，已合并"})
    assert "工单已撤销" in follow(dispatcher, done)
    assert api.row(number).status == "cancelled"
    event = last_event(console, number)
    assert (event.action, event.actor, event.note) == ("withdraw", "staff:dispatcher",
                                                        "重复反映，已合并")
    resident = api.outbox(number, recipient_kind="resident")[-1]
    assert "重复反映，已合并" in resident.payload["text"]
    (handler,) = api.outbox(number, topic="order.withdrawn")
    assert handler.recipient_ref == str(api.handlers["h1"])
    again = dispatcher.post(f"/console/orders/{number}/withdraw", {"reason": "再撤一次"})
    assert "flash-error" in follow(dispatcher, again)
    assert api.row(number).status == "cancelled"


def test_a_resolved_order_can_be_reopened(console, dispatcher):
    api = console.api
    number = report(console)
    handler = api.row(number).assignee_id
    accept(api.world.uow(), number, handler, api.world.clock)
    resolve(api.world.uow(), number, handler, "已调解", api.world.clock)
    page = dispatcher.get(f"/console/orders/{number}").text
    assert f'action="/console/orders/{number}/reopen"' in page
    assert f'action="/console/orders/{number}/withdraw"' not in page
    done = dispatcher.post(f"/console/orders/{number}/reopen", {"reason": "回访时居民说还很吵"})
    assert "工单已重新办理" in follow(dispatcher, done)
    assert api.row(number).status in ("assigned", "pending")
    event = next(e for e in api.events(number) if e.action == "unsatisfied")
    assert event.actor == "staff:dispatcher" and event.note == "回访时居民说还很吵"


def test_revealing_the_contact_shows_it_once_and_is_audited(console, dispatcher):
    api = console.api
    number = report(console, reporter_contact="13900001111")
    page = dispatcher.get(f"/console/orders/{number}").text
    assert "13900001111" not in page and "查看联系电话" in page
    shown = dispatcher.post(f"/console/orders/{number}/contact")
    assert shown.status_code == 200 and "13900001111" in shown.text
    assert shown.headers["cache-control"] == "no-store"
    event = last_event(console, number)
    assert (event.action, event.actor) == ("contact_revealed", "staff:dispatcher")
    assert "13900001111" not in (event.note or "")
    assert "13900001111" not in dispatcher.get(f"/console/orders/{number}").text
    fragment = dispatcher.post(f"/console/orders/{number}/contact",
                               headers={"HX-Request": "true"})
    assert fragment.status_code == 200 and "13900001111" in fragment.text
    assert "<html" not in fragment.text
    assert [e.action for e in api.events(number)].count("contact_revealed") == 2


# ---------------------------------------------------------------------------- 待办


def test_the_todo_page_lists_its_sections_with_counts_newest_first(console, dispatcher):
    api = console.api
    empty = dispatcher.get("/console/todo")
    assert empty.status_code == 200 and "目前没有需要处理的事项。" in empty.text
    older = report(console, priority="urgent")
    api.tick(minutes=20)
    newer = report(console, priority="urgent", location_text="幸福里小区9号楼")
    incident(console, "西镇路灯", grid="grid:qy-xz-01", priority="urgent")  # not theirs
    page = dispatcher.get("/console/todo")
    assert "紧急工单 <span class=\"count\">（2）</span>" in page.text
    urgent = page.text.split('id="sec-urgent"')[1].split("</section>")[0]
    assert ORDER_LINK.findall(urgent) == [newer, older]  # newest first
    # the older one is past its 15-minute accept limit as well: it is in 已逾期 too
    overdue = page.text.split('id="sec-overdue"')[1].split("</section>")[0]
    assert ORDER_LINK.findall(overdue) == [older]
    assert "20分钟前" in page.text and "刚刚" in page.text
    assert 'hx-trigger="every 5s"' in page.text


def test_the_polled_fragment_is_empty_until_something_changes(console, dispatcher):
    page = dispatcher.get("/console/todo")
    tag = TAG.search(page.text).group(1)
    unchanged = dispatcher.get(f"/console/todo/items?v={tag}")
    assert unchanged.status_code == 204 and unchanged.content == b""
    number = report(console, priority="urgent")  # a resident reports: an urgent order
    changed = dispatcher.get(f"/console/todo/items?v={tag}")
    assert changed.status_code == 200 and number in numbers(changed)
    assert "<html" not in changed.text
    new_tag = TAG.search(changed.text).group(1)
    assert new_tag != tag
    assert dispatcher.get(f"/console/todo/items?v={new_tag}").status_code == 204
    console.api.tick(minutes=1)  # the ages move on: one refresh a minute
    assert dispatcher.get(f"/console/todo/items?v={new_tag}").status_code == 200


def test_the_todo_page_links_callback_requests(console, dispatcher):
    made = console.api.post("actions", "/api/v1/callbacks",
                            json={"reporter_ref": "tg:31", "reason": "asked"})
    assert made.status_code in (200, 201), made.text
    page = dispatcher.get("/console/todo").text
    assert re.search(r'href="/console/callbacks#callback-\d+"', page)
    assert "转人工 <span class=\"count\">（1）</span>" in page


def test_a_signed_out_poll_is_sent_to_sign_in(console):
    browser = console.browser()
    response = browser.get("/console/todo/items", headers={"HX-Request": "true"},
                           follow_redirects=False)
    assert response.status_code == 401 and response.headers["HX-Redirect"].startswith(
        "/console/login")
