"""The channel's state (``ChannelStore``) on SQLite and PostgreSQL: updates, the inbox,
pending inputs, unreachable chats; and that concurrent callers never get one thing twice."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from threading import Barrier

import pytest
from sqlalchemy import delete, select

from integrations.telegram.store import ChannelStore, PendingInput
from integrations.telegram.tables import (
    TelegramPendingInput,
    TelegramUnreachable,
    TelegramUpdate,
)
from tests.app.world import T0

BOT, OTHER_BOT = 6000000001, 6000000002


@pytest.fixture
def store(db) -> ChannelStore:
    """A store on an empty set of channel tables, on SQLite then on PostgreSQL."""
    with db.engine.begin() as conn:
        for table in (TelegramUpdate, TelegramPendingInput, TelegramUnreachable):
            conn.execute(delete(table))
    store = ChannelStore(db.session_factory)
    store.db = db  # type: ignore[attr-defined]  (for the assertions on rows)
    return store


def rows(store: ChannelStore, model) -> list:
    with store.db.session() as s:  # type: ignore[attr-defined]
        return list(s.scalars(select(model)))


def at_once(n: int, fn) -> list:
    """Run ``fn(i)`` in ``n`` threads released together; their results."""
    barrier = Barrier(n)

    def run(i: int):
        barrier.wait()
        return fn(i)

    with ThreadPoolExecutor(n) as pool:
        return list(pool.map(run, range(n)))


# ------------------------------------------------------------------------ inbox


def payload(update_id: int) -> dict:
    return {"update_id": update_id, "message": {"message_id": 1, "text": "你好",
                                                "chat": {"id": 42, "type": "private"}}}


def test_a_finished_update_is_never_taken_again_and_bots_are_apart(store):
    store.finish_update(BOT, 11, T0)  # finished without being received first
    assert store.receive_updates(BOT, [(11, payload(11))], T0, 60) == set()
    # the same update id of another bot is another update
    assert store.receive_updates(OTHER_BOT, [(11, payload(11))], T0, 60) == {11}
    (row,) = [r for r in rows(store, TelegramUpdate) if r.bot_id == BOT]
    assert (row.update_id, row.handled_at, row.payload) == (11, T0, None)


def test_update_ids_beyond_32_bits_are_kept(store):
    big = 2 ** 40 + 7
    assert store.receive_updates(BOT, [(big, payload(big))], T0, 60) == {big}
    store.finish_update(BOT, big, T0)
    assert store.receive_updates(BOT, [(big, payload(big))], T0, 60) == set()
    assert {r.update_id for r in rows(store, TelegramUpdate)} == {big}


def test_prune_deletes_updates_received_before_the_limit(store):
    for update_id, minutes in ((1, 0), (2, 10), (3, 20)):
        store.receive_updates(BOT, [(update_id, payload(update_id))],
                              T0 + timedelta(minutes=minutes), 60)
    store.finish_update(BOT, 1, T0 + timedelta(minutes=30))
    assert store.prune_updates(T0 + timedelta(minutes=15)) == 2
    assert [r.update_id for r in rows(store, TelegramUpdate)] == [3]
    assert store.prune_updates(T0) == 0


def test_the_inbox_keeps_new_updates_and_hands_them_out_when_due(store):
    new = store.receive_updates(BOT, [(1, payload(1)), (2, payload(2))], T0, 60)
    assert new == {1, 2}
    # a redelivery of 2 and a new 3: only 3 is new
    assert store.receive_updates(BOT, [(2, payload(2)), (3, payload(3))], T0, 60) == {3}
    # being handled by whoever received them: not due before the lease ends
    assert store.due_updates(BOT, T0 + timedelta(seconds=59)) == []

    due = store.due_updates(BOT, T0 + timedelta(seconds=61), limit=2, lease_s=30)
    assert [(u.update_id, u.attempts, u.received_at) for u in due] == [(1, 0, T0), (2, 0, T0)]
    assert due[0].payload == payload(1)
    # leased to that caller: the next call gets only the third
    assert [u.update_id for u in store.due_updates(BOT, T0 + timedelta(seconds=62))] == [3]
    assert store.due_updates(OTHER_BOT, T0 + timedelta(hours=1)) == []


def test_a_failed_update_is_due_again_later_and_a_finished_one_never(store):
    store.receive_updates(BOT, [(1, payload(1)), (2, payload(2))], T0, 60)
    store.defer_update(BOT, 1, T0 + timedelta(minutes=5), "ConnectError: rasa down")
    store.finish_update(BOT, 2, T0 + timedelta(seconds=1))
    assert store.due_updates(BOT, T0 + timedelta(minutes=4)) == []
    (again,) = store.due_updates(BOT, T0 + timedelta(minutes=5))
    assert (again.update_id, again.attempts) == (1, 1)

    by_id = {r.update_id: r for r in rows(store, TelegramUpdate)}
    assert by_id[1].last_error == "ConnectError: rasa down"
    assert by_id[2].payload is None and by_id[2].handled_at is not None  # no message kept
    assert store.receive_updates(BOT, [(2, payload(2))], T0, 60) == set()


def test_release_makes_every_unhandled_update_due_at_start_up(store):
    store.receive_updates(BOT, [(1, payload(1)), (2, payload(2))], T0, 600)
    store.finish_update(BOT, 2, T0)
    assert store.release_updates(BOT, T0 + timedelta(seconds=1)) == 1
    assert [u.update_id for u in store.due_updates(BOT, T0 + timedelta(seconds=1))] == [1]


def test_parallel_receivers_and_takers_never_get_an_update_twice(store):
    batch = [(i, payload(i)) for i in range(1, 21)]
    received = at_once(6, lambda _: store.receive_updates(BOT, batch, T0, 10))
    assert sorted(i for got in received for i in got) == list(range(1, 21))

    later = T0 + timedelta(seconds=11)
    taken = at_once(6, lambda _: [u.update_id for u in store.due_updates(BOT, later, limit=5)])
    ids = [i for got in taken for i in got]
    assert sorted(ids) == list(range(1, 21))  # each exactly once


# ---------------------------------------------------------------- pending inputs


def test_a_pending_input_is_replaced_read_and_popped_once(store):
    assert store.get_pending(BOT, "42") is None
    store.set_pending(BOT, "42", "decline", "12345674", 501, T0)
    store.set_pending(BOT, 42, "resolve", "57401920", None, T0 + timedelta(minutes=1))
    store.set_pending(OTHER_BOT, "42", "progress", "12345674", 9, T0)

    expected = PendingInput(bot_id=BOT, chat_id="42", kind="resolve", order_number="57401920",
                            message_id=None, created_at=T0 + timedelta(minutes=1))
    assert store.get_pending(BOT, 42) == expected
    assert store.pop_pending(BOT, "42") == expected
    assert store.pop_pending(BOT, "42") is None
    assert store.get_pending(OTHER_BOT, "42").kind == "progress"
    assert store.clear_pending(OTHER_BOT, "42") is True
    assert store.clear_pending(OTHER_BOT, "42") is False
    assert rows(store, TelegramPendingInput) == []


def test_only_one_of_parallel_pops_gets_the_pending_input(store):
    store.set_pending(BOT, "-1001", "progress", "12345674", 7, T0)
    popped = at_once(8, lambda _: store.pop_pending(BOT, "-1001"))
    assert [p.kind for p in popped if p is not None] == ["progress"]


def test_parallel_set_pending_leaves_one_row(store):
    kinds = ("decline", "resolve", "progress")
    at_once(6, lambda i: store.set_pending(BOT, "7", kinds[i % 3], "12345674", i, T0))
    (row,) = rows(store, TelegramPendingInput)
    assert row.kind in kinds and row.kind == kinds[row.message_id % 3]


# ------------------------------------------------------------ unreachable chats


def test_unreachable_chats_keep_their_first_date_and_are_cleared(store):
    assert store.is_unreachable(BOT, "42") is False
    store.mark_unreachable(BOT, "42", "Forbidden: bot was blocked by the user", T0)
    store.mark_unreachable(BOT, 42, "chat not found " + "x" * 300, T0 + timedelta(days=1))
    assert store.is_unreachable(BOT, 42) and not store.is_unreachable(OTHER_BOT, 42)
    (row,) = rows(store, TelegramUnreachable)
    assert row.since == T0 and row.reason.startswith("chat not found") and len(row.reason) == 200
    assert store.clear_unreachable(BOT, "42") is True
    assert store.clear_unreachable(BOT, "42") is False
    assert store.is_unreachable(BOT, "42") is False


def test_parallel_marks_leave_one_row(store):
    at_once(6, lambda i: store.mark_unreachable(BOT, "5", f"reason {i}", T0 + timedelta(seconds=i)))
    (row,) = rows(store, TelegramUnreachable)
    assert row.reason.startswith("reason ")
