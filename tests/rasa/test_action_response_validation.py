"""bot/action_response_validation.py: the same verdict as Rasa's whole schema on
every event type Rasa has, and on thousands of broken variants of them."""
from __future__ import annotations

import copy
from datetime import datetime

import pytest
from jsonschema import ValidationError, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.core import events as ev

from bot.action_response_validation import ActionResponseValidator

ENTITY = {"entity": "location", "value": "3号楼", "start": 0, "end": 3,
          "extractor": "RegexEntityExtractor", "confidence": 0.9}


def every_event_type() -> list[dict]:
    events = [
        ev.UserUttered("幸福里的路灯坏了", {"name": "report_incident", "confidence": 0.98},
                       [ENTITY], parse_data={
                           "text": "幸福里的路灯坏了",
                           "intent": {"name": "report_incident", "confidence": 0.98},
                           "intent_ranking": [{"name": "report_incident", "confidence": 0.98}],
                           "entities": [ENTITY]},
                       input_channel="rest", message_id="m1"),
        ev.BotUttered("好的", {"buttons": [{"title": "对", "payload": "/affirm"}]},
                      {"utter_action": "utter_ok"}),
        ev.SlotSet("location", "3号楼"),
        ev.SlotSet("contact", None),
        ev.Restarted(),
        ev.UserUtteranceReverted(),
        ev.AllSlotsReset(),
        ev.ReminderScheduled("EXTERNAL_remind", datetime(2026, 12, 7, 12, 0), name="r1"),
        ev.ReminderCancelled(name="r1"),
        ev.ActionReverted(),
        ev.StoryExported(),
        ev.FollowupAction("action_open_order"),
        ev.ConversationPaused(),
        ev.ConversationResumed(),
        ev.ActionExecuted("action_listen", policy="RulePolicy", confidence=1.0),
        ev.AgentUttered("text", {}),
        ev.ActiveLoop("report_form"),
        ev.ActiveLoop(None),
        ev.LegacyForm("report_form"),
        ev.LoopInterrupted(True),
        ev.LegacyFormValidation(False),
        ev.ActionExecutionRejected("report_form", policy="RulePolicy"),
        ev.SessionStarted(),
        ev.EntitiesAdded([ENTITY]),
        ev.DefinePrevUserUtteredFeaturization(False),
    ]
    # the legacy form events are written as their successors; an old action server
    # may still send them under their own names
    legacy = [{"event": "form", "name": "report_form", "timestamp": None},
              {"event": "form_validation", "validate": False, "timestamp": None}]
    return [event.as_dict() for event in events] + legacy


ODD_VALUES = [None, 0, 1.5, "x", "", [], [1], {}, {"a": 1}, True]


def broken_variants(event: dict) -> list[dict]:
    variants = []
    for key in event:
        without = dict(event)
        del without[key]
        variants.append(without)
        for value in ODD_VALUES:
            variants.append({**event, key: value})
    for key in ("name", "value", "entities", "text", "parse_data", "policy", "timestamp"):
        for value in ODD_VALUES:
            variants.append({**event, key: value})
    if isinstance(event.get("parse_data"), dict):
        for key in list(event["parse_data"]):
            for value in ODD_VALUES:
                variant = copy.deepcopy(event)
                variant["parse_data"][key] = value
                variants.append(variant)
    return variants


@pytest.fixture(scope="module")
def validator() -> ActionResponseValidator:
    return ActionResponseValidator(RemoteAction.action_response_format_spec())


@pytest.fixture(scope="module")
def whole():
    """Rasa's own check: the whole schema, in jsonschema's validator for it."""
    schema = RemoteAction.action_response_format_spec()
    return validators.validator_for(schema)(schema).is_valid


def verdict(validator: ActionResponseValidator, answer) -> bool:
    try:
        validator.validate(answer)
        return True
    except ValidationError:
        return False


def test_rasas_schema_is_split_by_event_type(validator):
    assert validator.split


def test_every_event_type_is_accepted_as_by_the_whole_schema(validator, whole):
    events = every_event_type()
    assert len({e["event"] for e in events}) == 23
    for event in events:
        answer = {"events": [event], "responses": [{"text": "好的"}]}
        assert whole(answer), event
        assert verdict(validator, answer), event
    assert verdict(validator, {"events": events, "responses": []})


def test_broken_events_get_the_whole_schemas_verdict(validator, whole):
    checked = refused = 0
    for event in every_event_type():
        for variant in broken_variants(event):
            answer = {"events": [event, variant]}
            accepted = whole(answer)
            assert verdict(validator, answer) == accepted, variant
            checked += 1
            refused += not accepted
    # the variants reach both verdicts, many times each
    assert checked > 2000 and 300 < refused < checked - 300, (checked, refused)


@pytest.mark.parametrize("answer", [
    {"events": [{"name": "no event type"}]},
    {"events": [{"event": "no_such_type"}]},
    {"events": [{"event": 5}]},
    {"events": ["slot"]},
    {"events": [None]},
    {"events": "not a list"},
    {"events": [], "responses": "not a list"},
    {"events": [], "responses": ["not an object"]},
    [],
    "answer",
])
def test_malformed_answers_are_refused(validator, whole, answer):
    assert not whole(answer)
    assert not verdict(validator, answer)


def test_answers_without_events_are_accepted_as_by_the_whole_schema(validator, whole):
    for answer in ({}, {"responses": [{"text": "好的"}]}, {"events": []}):
        assert whole(answer)
        assert verdict(validator, answer)


def test_a_schema_of_another_shape_is_checked_whole():
    schema = {"type": "object", "properties": {"events": {"type": "array", "items": {
        "oneOf": [{"properties": {"event": {"const": "slot"}}, "required": ["name"]},
                  {"required": ["anything"]}]}}}}
    validator = ActionResponseValidator(schema)
    assert not validator.split
    assert verdict(validator, {"events": [{"event": "slot", "name": "a"}]})
    assert verdict(validator, {"events": [{"event": "other", "anything": 1}]})
    assert not verdict(validator, {"events": [{"event": "other"}]})
