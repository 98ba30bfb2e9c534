"""Acting on a 研判预警 warning: acknowledge (知悉) and close, each audited; concurrent
changes are refused, never lost."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from test_concurrency import run_in_threads
from warning_rows import add_warning, warning_events, warning_row

from integrations.workorders.adapters.orm import RiskWarning
from integrations.workorders.service import Conflict, InvalidInput, NotFound, warning_actions
from integrations.workorders.service.warning_actions import acknowledge, close

DZ = ("township:qy-dz",)
XZ = ("township:qy-xz",)


def test_acknowledge_then_close_each_write_the_history(any_world):
    w = any_world
    wid = add_warning(w, level="warning")
    raised_at = w.clock
    acked_at = w.tick(minutes=20)
    view = acknowledge(w.uow(), wid, note="  已安排网格员上门核实。 ", actor="staff:alice",
                       now=acked_at, scope=DZ)
    assert (view.state, view.acknowledged_at, view.acknowledged_by, view.ack_note) == (
        "acknowledged", acked_at, "staff:alice", "已安排网格员上门核实。")
    assert view.updated_at == acked_at and view.created_at == raised_at
    row = warning_row(w, wid)
    assert (row.state, row.acknowledged_by, row.ack_note, row.updated_at) == (
        "acknowledged", "staff:alice", "已安排网格员上门核实。", acked_at)
    assert row.version == 2

    closed_at = w.tick(hours=3)
    view = close(w.uow(), wid, note="已维修完毕，居民确认。", actor="staff:bob", now=closed_at,
                 scope=None)
    assert (view.state, view.closed_at, view.closed_by, view.close_note) == (
        "closed", closed_at, "staff:bob", "已维修完毕，居民确认。")
    assert view.ack_note == "已安排网格员上门核实。"  # the acknowledgement stays
    assert [(e.action, e.actor, e.level, e.note) for e in view.events] == [
        ("raise", "system", "warning", None),
        ("acknowledge", "staff:alice", "warning", "已安排网格员上门核实。"),
        ("close", "staff:bob", "warning", "已维修完毕，居民确认。"),
    ]
    assert [(e.action, e.at) for e in warning_events(w, wid)] == [
        ("raise", raised_at), ("acknowledge", acked_at), ("close", closed_at)]
    assert warning_row(w, wid).updated_at == closed_at


def test_an_open_warning_may_be_closed_at_once(world):
    wid = add_warning(world, level="urgent", kind="dispute_risk")
    view = close(world.uow(), wid, note="经核实为误报。", actor="staff:alice",
                 now=world.tick(minutes=5), scope=DZ)
    assert (view.state, view.acknowledged_at, view.close_note) == ("closed", None, "经核实为误报。")
    assert [e.action for e in warning_events(world, wid)] == ["raise", "close"]


@pytest.mark.parametrize(("state", "act", "zh"), [
    ("closed", close, "该预警已关闭，无需重复操作。"),
    ("closed", acknowledge, "该预警已关闭，不能再标记知悉。"),
    ("acknowledged", acknowledge, "该预警已知悉，无需重复操作。"),
])
def test_a_change_that_is_done_already_is_a_conflict(world, state, act, zh):
    wid = add_warning(world, state=state)
    before = warning_row(world, wid)
    with pytest.raises(Conflict) as caught:
        act(world.uow(), wid, note="再处理一次", actor="staff:alice",
            now=world.tick(minutes=1), scope=None)
    assert caught.value.reason_zh == zh
    assert [e.action for e in warning_events(world, wid)] == ["raise"]
    after = warning_row(world, wid)
    assert (after.version, after.updated_at, after.state) == (
        before.version, before.updated_at, state)


@pytest.mark.parametrize("act", [acknowledge, close])
@pytest.mark.parametrize(("note", "zh"), [
    (None, "说明不能为空。"), ("   ", "说明不能为空。"), ("说" * 501, "说明不能超过500字。"),
])
def test_a_note_is_required_and_short(world, act, note, zh):
    wid = add_warning(world)
    with pytest.raises(InvalidInput) as caught:
        act(world.uow(), wid, note=note, actor="staff:alice", now=world.clock, scope=None)
    assert (caught.value.field, caught.value.reason_zh) == ("note", zh)
    assert warning_row(world, wid).state == "open"
    assert [e.action for e in warning_events(world, wid)] == ["raise"]
    view = act(world.uow(), wid, note="说" * 500, actor="staff:alice", now=world.clock,
               scope=None)
    assert view.events[-1].note == "说" * 500


@pytest.mark.parametrize("act", [acknowledge, close])
def test_outside_the_scope_a_warning_does_not_exist(any_world, act):
    w = any_world
    wid = add_warning(w, area_code="grid:qy-dz-02")
    county = add_warning(w, area_code="county:qy", kind="hotspot", category=None)
    for hidden, scope in ((wid, XZ), (county, DZ), (12345, None)):
        with pytest.raises(NotFound) as caught:
            act(w.uow(), hidden, note="已知悉", actor="staff:far", now=w.clock, scope=scope)
        assert caught.value.reason_zh == f"未找到预警：{hidden}"
    assert warning_row(w, wid).state == "open"
    assert [e.action for e in warning_events(w, wid)] == ["raise"]


def test_a_change_made_meanwhile_is_a_conflict_not_a_lost_update(pg_world, monkeypatch):
    """Between reading the warning and writing it, someone else acknowledges it (a second
    connection commits): the later writer gets Conflict and writes nothing."""
    w = pg_world
    wid = add_warning(w, level="warning")
    load = warning_actions._load

    def load_then_someone_else_acts(session, warning_id):
        warning = load(session, warning_id)
        with w.db.engine.begin() as other:
            other.execute(update(RiskWarning).where(RiskWarning.id == warning_id).values(
                state="acknowledged", acknowledged_by="staff:bob", ack_note="我来处理",
                version=RiskWarning.version + 1))
        return warning

    monkeypatch.setattr(warning_actions, "_load", load_then_someone_else_acts)
    with pytest.raises(Conflict) as caught:
        close(w.uow(), wid, note="已处理", actor="staff:alice", now=w.tick(minutes=1),
              scope=None)
    assert caught.value.reason_zh == "该预警刚被他人更新，请刷新后重试。"
    row = warning_row(w, wid)
    assert (row.state, row.acknowledged_by, row.closed_by, row.version) == (
        "acknowledged", "staff:bob", None, 2)
    assert [e.action for e in warning_events(w, wid)] == ["raise"]


def test_two_people_closing_at_once_close_it_once(any_world):
    w = any_world
    wid = add_warning(w, level="urgent")
    now = w.clock + timedelta(minutes=3)

    def close_it(i):
        return close(w.uow(), wid, note=f"第{i}位处理", actor=f"staff:user{i}", now=now,
                     scope=None)

    results = run_in_threads(6, close_it, workers=6)
    done = [r for r in results if not isinstance(r, BaseException)]
    refused = [r for r in results if isinstance(r, BaseException)]
    assert len(done) == 1 and len(refused) == 5
    assert all(isinstance(r, Conflict) for r in refused), refused
    closes = [e for e in warning_events(w, wid) if e.action == "close"]
    assert len(closes) == 1 and closes[0].actor == done[0].closed_by
    assert warning_row(w, wid).version == 2
