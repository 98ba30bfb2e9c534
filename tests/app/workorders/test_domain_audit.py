"""The per-order hash chain: intact chains verify, any tampering is located."""

import hashlib
import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from integrations.workorders.domain import (
    EVENT_FIELDS,
    GENESIS,
    Action,
    Status,
    event_digest,
    verify,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)

STEPS = [
    ("dispatch", "system", "new", "assigned", "派给 调解员 #7"),
    ("accept", "handler:7", "assigned", "accepted", None),
    ("progress", "handler:7", "accepted", "in_progress", "已联系双方，约定周六调解"),
    ("resolve", "handler:7", "in_progress", "resolved", "双方达成协议"),
    ("satisfied", "resident", "resolved", "closed", "满意"),
]


def build_chain(number="57401920", key=None):
    events, prev = [], GENESIS
    for seq, (action, actor, src, dst, note) in enumerate(STEPS, start=1):
        event = {
            "order_number": number, "seq": seq, "action": action, "actor": actor,
            "at": T0 + timedelta(minutes=17 * seq), "from_status": src,
            "to_status": dst, "note": note, "id": 100 + seq,  # extra columns are ignored
        }
        event["prev_hash"] = prev
        event["hash"] = prev = event_digest(prev, event, key=key)
        events.append(event)
    return events


def without_links(events):
    return [{k: v for k, v in e.items() if k != "prev_hash"} for e in events]


def changed(value):
    if isinstance(value, datetime):
        return value + timedelta(seconds=1)
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "补充"
    return value + "x"


def test_intact_chain_verifies():
    events = build_chain()
    assert verify(events) is None
    assert verify(without_links(events)) is None
    assert verify([]) is None
    assert verify(events, head=events[-1]["hash"]) is None


def test_digest_definition():
    event = build_chain()[0]
    canonical = json.dumps(
        {name: event[name] for name in EVENT_FIELDS} | {"at": "2025-03-01T08:17:00.000000+00:00"},
        sort_keys=True, ensure_ascii=False, separators=(",", ":"),
    )
    assert "派给" in canonical  # ensure_ascii=False: Chinese hashed as UTF-8
    assert event["hash"] == hashlib.sha256((GENESIS + canonical).encode()).hexdigest()


def test_digest_is_independent_of_timezone_and_enum_types():
    event = build_chain()[1]
    beijing = timezone(timedelta(hours=8))
    same = dict(event, at=event["at"].astimezone(beijing),
                action=Action.ACCEPT, from_status=Status.ASSIGNED, to_status=Status.ACCEPTED)
    assert event_digest(event["prev_hash"], same) == event["hash"]


def test_digest_rejects_bad_input():
    event = build_chain()[0]
    with pytest.raises(ValueError):
        event_digest(GENESIS, dict(event, at=datetime(2025, 3, 1, 8, 0)))  # naive
    with pytest.raises(ValueError):
        event_digest("abc", event)
    with pytest.raises(KeyError):
        event_digest(GENESIS, {k: v for k, v in event.items() if k != "actor"})


@pytest.mark.parametrize("field", EVENT_FIELDS + ("hash", "prev_hash"))
def test_editing_any_field_of_any_event_is_located(field):
    for index in range(len(STEPS)):
        events = build_chain()
        events[index] = dict(events[index], **{field: changed(events[index][field])})
        assert verify(events) == index, (field, index)


@pytest.mark.parametrize("field", EVENT_FIELDS)
def test_editing_is_located_without_stored_links(field):
    for index in range(len(STEPS)):
        events = without_links(build_chain())
        events[index] = dict(events[index], **{field: changed(events[index][field])})
        assert verify(events) == index, (field, index)


@pytest.mark.parametrize("field", EVENT_FIELDS)
def test_removing_a_covered_field_is_located(field):
    events = build_chain()
    del events[2][field]
    assert verify(events) == 2


def test_deleting_an_event_is_located():
    for index in range(len(STEPS) - 1):
        events = build_chain()
        del events[index]
        assert verify(events) == index
        assert verify(without_links(events)) == index


def test_deleting_the_last_events_needs_the_head():
    events = build_chain()
    head = events[-1]["hash"]
    assert verify(events[:-2]) is None  # a plain chain cannot see truncation
    assert verify(events[:-2], head=head) == len(STEPS) - 2
    assert verify([], head=head) == 0


def test_events_appended_after_the_head_are_located():
    events = build_chain()
    head = events[2]["hash"]  # the order row was last updated after event 3
    assert verify(events, head=head) == 3


def test_reordering_events_is_located():
    for index in range(len(STEPS) - 1):
        events = build_chain()
        events[index], events[index + 1] = events[index + 1], events[index]
        assert verify(events) == index
        assert verify(without_links(events)) == index


def test_recomputed_forgery_is_caught_only_with_a_key():
    key = b"kept-outside-the-database"
    genuine = build_chain(key=key)
    assert verify(genuine, key=key) is None
    assert verify(genuine) == 0  # a keyed chain does not verify as a plain one
    # someone who can write the table rewrites a note and recomputes the chain
    forged, prev = [], GENESIS
    for event in genuine:
        event = dict(event, note="已撤诉") if event["seq"] == 2 else dict(event)
        event["prev_hash"] = prev
        event["hash"] = prev = event_digest(prev, event)
        forged.append(event)
    assert verify(forged) is None
    assert verify(forged, key=key) == 0


def test_chains_are_per_order():
    a, b = build_chain("57401920"), build_chain("10000004")
    assert verify(a) is None and verify(b) is None
    assert a[0]["hash"] != b[0]["hash"]
    assert verify(a[:2] + b[2:]) == 2  # an event of another order does not fit
