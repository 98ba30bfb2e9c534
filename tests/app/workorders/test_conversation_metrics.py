"""Conversation analytics: folding Rasa events into facts, storing them once,
and the metrics (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import random
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from integrations.workorders.adapters.conversation_tables import Conversation, ConversationEvent
from integrations.workorders.domain.conversations import (
    channel_of,
    event_key,
    fold,
    reduce_event,
)
from integrations.workorders.service.conversations import (
    conversation_metrics,
    mark_dropouts,
    prune_events,
    record_events,
)
from integrations.workorders.service.errors import InvalidInput
from integrations.workorders.service.uow import UnitOfWork
from tests.app.rasa_events import RESIDENT_TEXTS, Talk, completed_report, dropped_report

# 2026-12-07 09:00 China time
T0 = datetime(2026, 12, 7, 1, 0, tzinfo=UTC).timestamp()
LATER = datetime(2026, 12, 7, 3, 0, tzinfo=UTC)   # everything silent for > 30 min


def _reduced(talk: Talk):
    return [e for e in (reduce_event(raw) for raw in talk.events) if e is not None]


# ------------------------------------------------------------------------ folding (pure)


def test_a_completed_report_folds_to_an_opened_report_with_its_number_and_timing():
    talk = completed_report("tg:1001", T0, number="57401928")
    [facts] = fold(_reduced(talk), LATER)
    assert facts.channel == "tg"
    assert facts.started_at == datetime.fromtimestamp(talk.events[1]["timestamp"], UTC)
    assert facts.turns == 6
    assert facts.intents == ["report_dispute", "deny", "inform", "affirm"]
    assert facts.report_started and facts.report_opened
    assert facts.order_number == "57401928"
    first_user = next(e for e in talk.events if e["event"] == "user")["timestamp"]
    number_said = next(e for e in talk.events if e["event"] == "bot" and "工单号" in e["text"])
    assert facts.seconds_to_order == pytest.approx(number_said["timestamp"] - first_user, abs=1e-3)
    assert facts.fallbacks == 0 and not facts.handed_off and facts.dropped_at is None


def test_a_report_left_at_a_question_is_dropped_there_only_after_30_minutes_of_silence():
    talk = dropped_report("web:abc", T0)
    last = datetime.fromtimestamp(talk.events[-1]["timestamp"], UTC)
    [early] = fold(_reduced(talk), last + timedelta(minutes=29))
    assert early.report_started and not early.report_opened and early.dropped_at is None
    [late] = fold(_reduced(talk), last + timedelta(minutes=30))
    assert late.dropped_at == "location"
    assert late.turns == 3 and late.intents == ["greet", "report_dispute", "deny"]


def test_a_form_complete_without_a_number_drops_at_submit():
    talk = Talk("voice:c1", T0).start_report()
    talk.answer("没有", "danger", False, None, intent="deny")
    talk.submit_service_down()
    [facts] = fold(_reduced(talk), LATER)
    assert not facts.report_opened and facts.dropped_at == "submit"


def test_fallback_turns_count_only_when_the_bot_said_it_did_not_understand():
    talk = Talk("tg:7", T0).greet().not_understood()
    talk.start_report()
    # "有人受伤吗？" answered with something the NLU cannot place: the form takes it, no fallback
    talk.not_understood("说不清", in_form=True, form_takes_it=True)
    # the second not-understood message in a row (as actions/handoff.py counts them: by
    # intent): the bot hands over to a person
    talk.not_understood("嗯嗯嗯", in_form=True, handoff=True)
    [facts] = fold(_reduced(talk), LATER)
    assert facts.turns == 5 and facts.fallbacks == 2
    assert facts.handed_off
    assert facts.intents == ["greet", "nlu_fallback", "report_dispute"]


def test_rasas_own_default_fallback_counts_too():
    talk = Talk("tg:8", T0)
    talk.user("？？", "greet", confidence=0.2).action("action_default_fallback", "RulePolicy", 0.3)
    talk.bot("抱歉。", "utter_default").listen()
    assert fold(_reduced(talk), LATER)[0].fallbacks == 1


def test_hand_off_by_asking_and_after_two_not_understood_messages():
    asked = Talk("tg:9", T0).start_report().ask_human(in_form=True)
    [facts] = fold(_reduced(asked), LATER)
    assert facts.handed_off and facts.report_started and facts.dropped_at == "danger"

    twice = Talk("tg:10", T0).not_understood().not_understood(intent="unclear", handoff=True)
    [facts] = fold(_reduced(twice), LATER)
    assert facts.handed_off and facts.fallbacks == 2

    once_each = Talk("tg:11", T0).not_understood().greet().not_understood()
    assert not fold(_reduced(once_each), LATER)[0].handed_off


def test_sessions_split_conversations_and_carried_over_questions_do_not_count():
    talk = dropped_report("tg:12", T0)
    talk.wait(3 * 3600).session_start()
    talk.slot("requested_slot", "location")  # carried over; no form active in the new session
    talk.greet()
    first, second = fold(_reduced(talk), LATER + timedelta(hours=3))
    assert first.dropped_at == "location" and first.turns == 3
    assert second.turns == 1 and not second.report_started and second.dropped_at is None
    assert second.started_at > first.last_event_at


def test_no_resident_text_or_entity_survives_reduction():
    talk = completed_report("tg:13", T0)
    talk.not_understood().ask_human()
    kept = _reduced(talk)
    dumped = json.dumps([vars(e) for e in kept], ensure_ascii=False)
    for said in RESIDENT_TEXTS + ("幸福社区", "3号楼", "phone"):
        assert said not in dumped
    assert {e.type for e in kept} == {"session_started", "user", "action", "active_loop",
                                      "slot", "bot"}
    assert {e.name for e in kept if e.type == "slot"} == {"requested_slot"}
    assert not any(e.name in ("action_listen", "action_session_start") for e in kept)
    assert [e.value for e in kept if e.type == "bot" and e.value] == ["57401928"]


def test_event_keys_and_channels():
    assert event_key("tg:1", 1.5, "user", "greet") == event_key("tg:1", 1.5, "user", "greet")
    assert event_key("tg:1", 1.5, "user", "greet") != event_key("tg:1", 1.500001, "user", "greet")
    assert len(event_key("tg:1", 1.5, "bot", None)) == 64
    assert channel_of("voice:abc") == "voice" and channel_of("default") == "other"
    assert reduce_event({"event": "user", "timestamp": 1.0}) is None  # no sender
    assert reduce_event({"sender_id": "x", "event": "restart", "timestamp": 1.0}) is None


# ------------------------------------------------------------------------ storing (both engines)


def _uow(db) -> UnitOfWork:
    return UnitOfWork(db.session_factory, db.config)


def _conversations(db) -> list[Conversation]:
    with db.session_factory() as session:
        return list(session.scalars(select(Conversation).order_by(Conversation.sender_id,
                                                                  Conversation.started_at)))


def _event_count(db) -> int:
    with db.session_factory() as session:
        return session.scalar(select(func.count()).select_from(ConversationEvent)) or 0


def _mixed_day(start: float) -> list[Talk]:
    return [
        completed_report("tg:1001", start, number="57401928"),
        completed_report("web:w1", start + 60, number="60183327"),
        dropped_report("tg:1002", start + 120),
        Talk("tg:1003", start + 180).greet().not_understood().not_understood(handoff=True),
        Talk("voice:v1", start + 240).start_report().ask_human(in_form=True),
    ]


def test_record_events_stores_once_and_folds_each_conversation(db):
    talks = _mixed_day(T0)
    events = [e for talk in talks for e in talk.events]
    stored = record_events(_uow(db), events, now=LATER)
    assert stored == sum(len(_reduced(t)) for t in talks) == _event_count(db)
    rows = {r.sender_id: r for r in _conversations(db)}
    assert set(rows) == {"tg:1001", "web:w1", "tg:1002", "tg:1003", "voice:v1"}
    assert rows["tg:1001"].report_opened and rows["tg:1001"].order_number == "57401928"
    assert rows["tg:1001"].day == date(2026, 12, 7) and rows["tg:1001"].channel == "tg"
    assert rows["tg:1002"].dropped_at == "location" and not rows["tg:1002"].report_opened
    assert rows["tg:1003"].handed_off and rows["tg:1003"].fallbacks == 2
    assert rows["voice:v1"].handed_off and rows["voice:v1"].dropped_at == "danger"
    assert json.loads(rows["web:w1"].intents) == ["report_dispute", "deny", "inform", "affirm"]

    # nothing a resident said is in either table
    with db.session_factory() as session:
        dump = json.dumps([list(r) for r in session.execute(text(
            "SELECT * FROM conversation_events")).all()], default=str, ensure_ascii=False)
        dump += json.dumps([list(r) for r in session.execute(text(
            "SELECT * FROM conversations")).all()], default=str, ensure_ascii=False)
    for said in RESIDENT_TEXTS + ("幸福社区",):
        assert said not in dump


def test_redelivered_events_change_nothing(db):
    events = [e for talk in _mixed_day(T0) for e in talk.events]
    record_events(_uow(db), events, now=LATER)
    before = [(r.sender_id, r.started_at, r.turns, r.fallbacks, r.report_opened, r.dropped_at,
               r.updated_at) for r in _conversations(db)]
    count = _event_count(db)
    # redelivered in a different batching and order
    shuffled = list(events)
    random.Random(5).shuffle(shuffled)
    assert record_events(_uow(db), shuffled[:40], now=LATER + timedelta(hours=1)) == 0
    assert record_events(_uow(db), shuffled[40:], now=LATER + timedelta(hours=1)) == 0
    after = [(r.sender_id, r.started_at, r.turns, r.fallbacks, r.report_opened, r.dropped_at,
              r.updated_at) for r in _conversations(db)]
    assert after == before and _event_count(db) == count


def test_events_arriving_in_pieces_and_out_of_order_fold_the_same(db):
    talk = completed_report("tg:2001", T0)
    talk.wait(7200).session_start()
    talk.greet()
    events = list(talk.events)
    # the second session first, then the first one in two pieces, the session start last
    second_start = next(i for i, e in enumerate(events) if e["event"] == "session_started" and i > 2)
    record_events(_uow(db), events[second_start - 1:], now=LATER + timedelta(hours=2))
    record_events(_uow(db), events[3:20], now=LATER + timedelta(hours=2))
    record_events(_uow(db), events[20:second_start - 1], now=LATER + timedelta(hours=2))
    record_events(_uow(db), events[:3], now=LATER + timedelta(hours=2))
    rows = _conversations(db)
    assert [(r.turns, r.report_opened) for r in rows] == [(6, True), (1, False)]
    assert rows[0].started_at == datetime.fromtimestamp(events[1]["timestamp"], UTC)


def test_a_report_becomes_dropped_by_silence_and_undropped_when_the_resident_returns(db):
    talk = dropped_report("tg:3001", T0)
    last = datetime.fromtimestamp(talk.events[-1]["timestamp"], UTC)
    record_events(_uow(db), talk.events, now=last + timedelta(minutes=1))
    assert _conversations(db)[0].dropped_at is None
    assert mark_dropouts(_uow(db), now=last + timedelta(minutes=10)) == 0
    assert mark_dropouts(_uow(db), now=last + timedelta(minutes=31)) == 1
    assert _conversations(db)[0].dropped_at == "location"
    assert mark_dropouts(_uow(db), now=last + timedelta(minutes=45)) == 0  # already marked

    # the resident comes back within the session and finishes: not a drop-out any more
    more = Talk("tg:3001", talk.ts + 40 * 60, new_session=False)
    more.answer(RESIDENT_TEXTS[1], "location", RESIDENT_TEXTS[1], None)
    more.submit("57401928")
    record_events(_uow(db), more.events, now=last + timedelta(minutes=50))
    [row] = _conversations(db)
    assert row.dropped_at is None and row.report_opened and row.order_number == "57401928"


def test_conversation_metrics_per_day_and_channel_and_totals(db):
    record_events(_uow(db), [e for t in _mixed_day(T0) for e in t.events], now=LATER)
    # the next day (China time): one web conversation that only greets
    record_events(_uow(db), Talk("web:w2", T0 + 86400).greet().events, now=LATER)
    # a report started 20:00 UTC on Dec 6 is Dec 7 in China; silent 40 min but not yet marked
    late = dropped_report("tg:4001", datetime(2026, 12, 6, 20, 0, tzinfo=UTC).timestamp())
    record_events(_uow(db), late.events, now=datetime(2026, 12, 6, 20, 2, tzinfo=UTC))

    result = conversation_metrics(_uow(db), since=date(2026, 12, 7), until=date(2026, 12, 8),
                                  now=LATER + timedelta(days=1))
    assert result["since"] == "2026-12-07" and result["until"] == "2026-12-08"
    groups = {(d["day"], d["channel"]): d for d in result["days"]}
    assert sorted(groups) == [("2026-12-07", "tg"), ("2026-12-07", "voice"),
                              ("2026-12-07", "web"), ("2026-12-08", "web")]
    tg = groups[("2026-12-07", "tg")]
    assert tg["conversations"] == 4 and tg["reports_started"] == 3 and tg["reports_opened"] == 1
    assert tg["completion_rate"] == pytest.approx(1 / 3, abs=1e-4)
    assert tg["dropouts"] == {"location": 2}  # one marked on record, one found by `now`
    # turns: completed 6, dropped 3, 3, greet + 2 not understood 3 -> fallbacks 2 of 15
    assert tg["fallback_rate"] == pytest.approx(2 / 15, abs=1e-4)
    assert tg["handoff_rate"] == 0.25
    assert tg["median_turns"] == 3.0
    assert tg["median_seconds_to_order"] is not None and tg["median_seconds_to_order"] > 40
    voice = groups[("2026-12-07", "voice")]
    assert voice["handoff_rate"] == 1.0 and voice["dropouts"] == {"danger": 1}
    quiet = groups[("2026-12-08", "web")]
    assert quiet["reports_started"] == 0 and quiet["completion_rate"] is None
    assert quiet["median_seconds_to_order"] is None

    totals = result["totals"]
    assert totals["conversations"] == 7 and totals["reports_opened"] == 2
    assert totals["completion_rate"] == pytest.approx(2 / 5, abs=1e-4)
    assert totals["dropouts"] == {"location": 2, "danger": 1}
    assert set(totals) == set(tg) - {"day", "channel"}

    only_web = conversation_metrics(_uow(db), since=date(2026, 12, 7), until=date(2026, 12, 7),
                                    channel="web", now=LATER)
    assert [d["channel"] for d in only_web["days"]] == ["web"]
    assert only_web["totals"]["conversations"] == 1

    empty = conversation_metrics(_uow(db), since=date(2025, 1, 1), until=date(2025, 1, 2))
    assert empty["days"] == [] and empty["totals"]["conversations"] == 0
    assert empty["totals"]["fallback_rate"] is None


def test_conversation_metrics_refuses_bad_ranges(db):
    with pytest.raises(InvalidInput):
        conversation_metrics(_uow(db), since=date(2026, 12, 8), until=date(2026, 12, 7))
    with pytest.raises(InvalidInput):
        conversation_metrics(_uow(db), since=date(2025, 1, 1), until=date(2026, 12, 7))


def test_old_events_are_pruned_and_the_facts_stay(db):
    old, new = dropped_report("tg:5001", T0 - 40 * 86400), completed_report("tg:5002", T0)
    record_events(_uow(db), old.events + new.events, now=LATER)
    before = _event_count(db)
    pruned = prune_events(_uow(db), before=LATER - timedelta(days=30))
    assert pruned == len(_reduced(old)) and _event_count(db) == before - pruned
    rows = {r.sender_id: r for r in _conversations(db)}
    assert rows["tg:5001"].dropped_at == "location" and rows["tg:5002"].report_opened
