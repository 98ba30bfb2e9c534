"""`rasa test` on the end-to-end test stories (tests/rasa/e2e/), with
--fail-on-prediction-errors: every user message must get its intent and
every bot step must be the predicted action."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bot.model_store import model_path

ROOT = Path(__file__).resolve().parents[2]
STORIES = ROOT / "tests" / "rasa" / "e2e" / "test_stories.yml"
RASA = Path(sys.executable).parent / "rasa"
MIN_STORIES = 40

pytestmark = pytest.mark.slow


def test_there_are_enough_stories_and_every_flow_is_covered():
    stories = yaml.safe_load(STORIES.read_text(encoding="utf-8"))["stories"]
    assert len(stories) >= MIN_STORIES
    actions = {step.get("action") for story in stories for step in story["steps"]}
    for needed in ("action_start_report", "action_submit_report", "action_status", "action_cancel_order",
                   "action_handoff", "action_fallback", "action_submit_satisfaction",
                   "action_abort_report", "utter_iamabot", "utter_out_of_scope", "action_greet"):
        assert needed in actions, needed


def test_every_user_message_gets_the_intent_its_story_says(agent):
    """`rasa test core` takes the stories' intents as given; the NLU half of
    end-to-end is checked here, message by message, with the served model."""
    from bot.nlu_runtime import classify

    stories = yaml.safe_load(STORIES.read_text(encoding="utf-8"))["stories"]
    wrong = []
    for story in stories:
        for step in story["steps"]:
            if "user" in step:
                text = step["user"].strip()
                predicted = classify(agent, text)["intent"]
                if predicted != step["intent"]:
                    wrong.append(f"{story['story']}: {text!r} is {predicted}, story says {step['intent']}")
    assert not wrong, "\n".join(wrong)


def test_end_to_end_stories_pass_with_fail_on_prediction_errors(tmp_path):
    model = model_path()
    if not model.exists():
        pytest.fail(f"{model.name} is missing: run `make model` (make test does it first)")
    result = subprocess.run(
        [str(RASA), "test", "core", "--model", str(model), "--stories", str(STORIES),
         "--fail-on-prediction-errors", "--out", str(tmp_path), "--no-plot"],
        cwd=ROOT, capture_output=True, text=True,
        env={**os.environ, "RASA_TELEMETRY_ENABLED": "false", "PYTHONPATH": str(ROOT)})
    failed = tmp_path / "failed_test_stories.yml"
    details = failed.read_text(encoding="utf-8") if failed.exists() else result.stdout[-4000:]
    assert result.returncode == 0, details + result.stderr[-3000:]
