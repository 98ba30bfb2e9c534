"""Callback requests (转人工): stored encrypted, dispatchers told in the same transaction,
idempotent, scoped to a dispatcher's areas; on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from sqlalchemy import select
from test_concurrency import run_in_threads

from integrations.workorders.adapters.orm import CallbackRequest, OutboxMessage
from integrations.workorders.notifier.delivery import drain
from integrations.workorders.notifier.senders import LogSender, SenderRegistry
from integrations.workorders.service import (
    CallbackCreate,
    Conflict,
    InvalidInput,
    NotFound,
    TranscriptLine,
    create_staff_user,
    get_callback,
    list_callbacks,
    mark_callback_done,
    open_callbacks,
    request_callback,
)
from integrations.workorders.service.callbacks import CONTACT_CONTEXT, TRANSCRIPT_CONTEXT

TALK = (TranscriptLine("resident", "我家楼上天天吵"), TranscriptLine("bot", "请问您说的是哪里？"),
        TranscriptLine("resident", "我要找人工，电话13812345678"))


def dispatchers(world, *, east_chat="-100", west_chat="-200"):
    for name, areas, chat in (("d-east", ["township:qy-dz"], east_chat),
                              ("d-west", ["township:qy-xz"], west_chat),
                              ("d-nochat", ["township:qy-dz"], None)):
        create_staff_user(world.uow(), name, "dispatcher", f"token-{name}-0123456789abcdef",
                          world.clock, areas=areas, telegram_chat_id=chat)


def ask(world, **kw):
    data = dict(reporter_ref="tg:1", reason="asked", transcript=TALK)
    data.update(kw)
    return request_callback(world.uow(), CallbackCreate(**data), world.clock)


def rows(world) -> list[CallbackRequest]:
    with world.db.session() as s:
        return list(s.scalars(select(CallbackRequest).order_by(CallbackRequest.id)))


def callback_messages(world) -> list[OutboxMessage]:
    return world.outbox(topic="callback.requested")


def test_a_request_is_stored_encrypted_and_the_area_dispatchers_are_told(any_world):
    w = any_world
    dispatchers(w)
    order = w.order(reporter_ref="tg:1")
    view, created = ask(w, contact="138 1234 5678", order_number=" ".join(order.number))
    assert created and view.status == "open" and view.created_at == w.clock

    (row,) = rows(w)
    assert (row.reporter_ref, row.reporter_channel, row.reason, row.status) == (
        "tg:1", "tg", "asked", "open")
    assert (row.order_number, row.area_code) == (order.number, "grid:qy-dz-01")
    vault = w.db.config.vault
    assert row.transcript_enc.startswith("v1.") and "楼上" not in row.transcript_enc
    assert json.loads(vault.decrypt(row.transcript_enc, context=TRANSCRIPT_CONTEXT)) == [
        {"speaker": t.speaker, "text": t.text} for t in TALK]
    assert vault.decrypt(row.contact_enc, context=CONTACT_CONTEXT) == "13812345678"
    assert "13812345678" not in row.contact_enc
    assert row.contact_hash == vault.lookup_hash("13812345678")

    (message,) = callback_messages(w)  # d-east covers the grid; d-west does not; no chat: none
    assert (message.recipient_kind, message.recipient_ref, message.channel) == (
        "dispatcher", "staff:d-east", "telegram")
    assert message.dedupe_key == f"callback:{row.id}:dispatcher:staff:d-east"
    assert message.order_number == order.number and message.status == "pending"
    assert message.payload["text"] == (
        f"居民请求人工服务（渠道：Telegram，涉及工单 {order.number}），请尽快联系。"
        f"回拨请求 #{row.id}。")
    assert message.payload["chat_id"] == "-100" and message.payload["callback_id"] == row.id
    shown = json.dumps(message.payload, ensure_ascii=False)
    for secret in ("13812345678", "tg:1", "楼上", "我要找人工"):
        assert secret not in shown
    assert open_callbacks(w.uow()) == 1


def test_without_an_order_every_dispatcher_is_told(any_world):
    w = any_world
    dispatchers(w)
    view, _ = ask(w, reporter_ref="voice:13900000000", reason="not_understood", transcript=())
    assert view.order_number is None and view.area_code is None and view.transcript == []
    messages = callback_messages(w)
    assert [(m.recipient_ref, m.payload["chat_id"]) for m in messages] == [
        ("staff:d-east", "-100"), ("staff:d-west", "-200")]
    assert messages[0].payload["text"] == (
        f"智能助手未能听懂居民的诉求（渠道：电话），请尽快联系。回拨请求 #{view.id}。")
    assert all(m.order_number is None and "13900000000" not in json.dumps(m.payload)
               for m in messages)


def test_without_a_dispatcher_chat_the_message_goes_to_the_log(any_world):
    w = any_world
    unplaced, _ = ask(w, reason="service_error")
    order = w.order(reporter_ref="tg:2", area_code="grid:qy-xz-01")
    placed, _ = ask(w, reporter_ref="tg:2", order_number=order.number)
    logged = callback_messages(w)
    assert [(m.recipient_ref, m.channel) for m in logged] == [("all", "log"),
                                                            ("grid:qy-xz-01", "log")]
    assert logged[0].payload["text"] == (
        f"系统故障，居民的诉求未能办理（渠道：Telegram），请尽快联系。回拨请求 #{unplaced.id}。")
    assert placed.area_code == "grid:qy-xz-01"


def test_only_the_residents_own_order_is_linked(any_world):
    w = any_world
    theirs = w.order(reporter_ref="tg:9")
    for number in (theirs.number, "57401920", "not a number"):
        view, created = ask(w, order_number=number)
        assert created and (view.order_number, view.area_code) == (None, None)
    assert [(r.order_number, r.area_code) for r in rows(w)] == [(None, None)] * 3


def test_the_transcript_keeps_the_newest_50_lines_each_cut_to_500(any_world):
    w = any_world
    lines = [TranscriptLine("resident" if i % 2 else "bot", f"第{i}句" + "啊" * 600)
             for i in range(60)]
    lines.insert(30, TranscriptLine("bot", "   "))  # empty lines are dropped
    view, _ = ask(w, transcript=lines)
    assert len(view.transcript) == 50
    assert view.transcript[0].text.startswith("第10句") and view.transcript[-1].text.startswith(
        "第59句")
    assert {len(t.text) for t in view.transcript} == {500}
    assert get_callback(w.uow(), view.id).transcript == view.transcript


def test_the_same_key_gives_the_same_request(any_world):
    w = any_world
    dispatchers(w)
    first, created = ask(w, client_ref="turn-7")
    again, replayed = ask(w, client_ref="turn-7", reason="not_understood")
    assert created and not replayed and again == first
    assert len(rows(w)) == 1 and len(callback_messages(w)) == 2  # told once (two dispatchers)
    with pytest.raises(Conflict):
        ask(w, reporter_ref="tg:2", client_ref="turn-7")
    assert len(rows(w)) == 1


@pytest.mark.parametrize("bad", [
    {"reporter_ref": "1234"}, {"reporter_ref": "fax:1"}, {"reporter_ref": "tg:"},
    {"reason": "bored"}, {"transcript": (TranscriptLine("operator", "你好"),)},
    {"contact": "12345"}, {"client_ref": "k" * 129},
])
def test_invalid_requests_store_nothing(world, bad):
    with pytest.raises(InvalidInput):
        ask(world, **bad)
    assert rows(world) == [] and callback_messages(world) == []


def test_a_dispatcher_sees_and_closes_requests_of_their_areas_and_unplaced_ones(any_world):
    w = any_world
    east = w.order(reporter_ref="tg:1")
    west = w.order(reporter_ref="tg:2", area_code="grid:qy-xz-01")
    in_east, _ = ask(w, reporter_ref="tg:1", order_number=east.number)
    w.tick(minutes=1)
    in_west, _ = ask(w, reporter_ref="tg:2", order_number=west.number)
    w.tick(minutes=1)
    unplaced, _ = ask(w, reporter_ref="voice:13800000000")

    mine = list_callbacks(w.uow(), status="open", scope=["township:qy-dz"])
    assert [v.id for v in mine.items] == [in_east.id, unplaced.id] and mine.total == 2
    everything = list_callbacks(w.uow())
    assert [v.id for v in everything.items] == [unplaced.id, in_west.id, in_east.id]
    assert everything.items[0].contact is None
    with pytest.raises(NotFound):
        get_callback(w.uow(), in_west.id, scope=["township:qy-dz"])
    with pytest.raises(NotFound):
        mark_callback_done(w.uow(), in_west.id, "staff:east", None, w.clock,
                           scope=["township:qy-dz"])

    done = mark_callback_done(w.uow(), unplaced.id, "staff:east", " 已回电，居民已重新反映 ",
                              w.tick(minutes=5), scope=["township:qy-dz"])
    assert (done.status, done.done_by, done.note, done.done_at) == (
        "done", "staff:east", "已回电，居民已重新反映", w.clock)
    row = next(r for r in rows(w) if r.id == unplaced.id)
    assert (row.status, row.done_by, row.done_at) == ("done", "staff:east", w.clock)
    with pytest.raises(Conflict):
        mark_callback_done(w.uow(), unplaced.id, "staff:other", None, w.clock)
    with pytest.raises(NotFound):
        mark_callback_done(w.uow(), 999, "staff:east", None, w.clock)
    assert [v.id for v in list_callbacks(w.uow(), status="done").items] == [unplaced.id]
    assert open_callbacks(w.uow()) == 2
    with pytest.raises(InvalidInput):
        list_callbacks(w.uow(), status="closed")


def test_parallel_retries_with_one_key_make_one_request(any_world):
    w = any_world
    dispatchers(w)

    def retry(i):
        return ask(w, client_ref="same-turn")

    results = run_in_threads(16, retry, workers=16)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert sorted(created for _, created in results) == [False] * 15 + [True]
    assert {view.id for view, _ in results} == {rows(w)[0].id}
    assert len(rows(w)) == 1 and len(callback_messages(w)) == 2


def test_the_notifier_delivers_the_message_without_personal_data(world, caplog):
    dispatchers(world)
    ask(world, contact="13900002222", reporter_ref="voice:13800001111")
    registry = SenderRegistry(fallback=LogSender())  # no Telegram sender yet: the log
    with caplog.at_level(logging.INFO, logger="integrations.workorders.notifier.outbox"):
        counts = asyncio.run(drain(world.db.session_factory, registry, lambda: world.clock, "w1"))
    assert counts.delivered == 2
    assert {m.status for m in callback_messages(world)} == {"delivered"}
    assert caplog.text.count("callback.requested") == 2 and "回拨请求 #1" in caplog.text
    assert "13900002222" not in caplog.text and "13800001111" not in caplog.text
