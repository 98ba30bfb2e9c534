"""bot/serve.py: Rasa's action-answer check, compiled once, still rejects bad answers."""
from __future__ import annotations

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from bot.serve import install_cached_response_validation


@pytest.fixture(scope="module")
def action():
    original = RemoteAction._validate_action_result
    install_cached_response_validation()
    yield RemoteAction("action_status", None)
    RemoteAction._validate_action_result = original


def test_good_answers_pass_many_times(action):
    good = {"events": [{"event": "slot", "name": "location", "value": "3号楼"}],
            "responses": [{"text": "好的"}]}
    for _ in range(3):
        assert action._validate_action_result(good) is True


def test_bad_answers_are_still_refused_with_rasas_message(action):
    with pytest.raises(ValidationError) as caught:
        action._validate_action_result({"events": [{"name": "no event type"}]})
    assert "Failed to validate Action server response" in caught.value.message
    with pytest.raises(ValidationError):
        action._validate_action_result({"events": "not a list"})
