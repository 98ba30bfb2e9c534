"""Every button under the bot's questions sends its title as the message, so
each title must mean what it says twice over: to the served model (the intent
decides which rules may interrupt the form) and to the form's reader of that
answer, fed the model's own parse. No work-order service is needed: these
answers are read without asking it."""
from __future__ import annotations

import asyncio

import pytest
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher

from actions import replies
from actions.cancel import ValidateCancelForm
from actions.report_form import ValidateReportForm
from actions.satisfaction import ValidateSatisfactionForm

pytestmark = pytest.mark.slow

# (titles, the question's form and slot, other slots it needs, {title: (intent, slot value)})
BUTTONS = [
    (replies.CONFIRM_BUTTONS, ValidateReportForm, "confirmed", {},
     {"对": ("affirm", True), "不对": ("deny", None)}),  # "不对" asks what to change
    (replies.SAME_MATTER_BUTTONS, ValidateReportForm, "same_matter", {"duplicate_number": "12345678"},
     {"是的": ("affirm", True), "不是": ("deny", False)}),
    (replies.CONTACT_BUTTONS, ValidateReportForm, "contact", {},
     {"不用留电话": ("deny", "none"), "匿名反映": ("inform", "anonymous")}),
    (replies.CANCEL_BUTTONS, ValidateCancelForm, "cancel_confirmed", {"cancel_number": "12345678"},
     {"确定撤销": ("cancel_report", True), "不撤了": ("deny", False)}),
    (replies.SATISFACTION_BUTTONS, ValidateSatisfactionForm, "satisfaction",
     {"rating_number": "12345678"},
     {"满意": ("rate_satisfaction", "satisfied"),
      "基本满意": ("rate_satisfaction", "basically_satisfied"),
      "不满意": ("rate_satisfaction", "unsatisfied")}),
]
REPORT = {"description": "路灯坏了", "location": "幸福里小区3号楼", "contact": "none",
          "area_matched": True}


@pytest.mark.parametrize("titles,form,slot,slots,meaning", BUTTONS,
                         ids=[b[2] for b in BUTTONS])
def test_each_button_title_is_understood_as_the_answer_it_stands_for(agent, titles, form, slot,
                                                                     slots, meaning):
    from bot.nlu_runtime import classify

    assert set(titles) == set(meaning)
    for title in titles:
        parse = classify(agent, title)
        intent, value = meaning[title]
        assert parse["intent"] == intent, (title, parse)
        latest = {"text": title, "intent": {"name": parse["intent"], "confidence": parse["confidence"]},
                  "entities": parse["entities"]}
        state_slots = {**(REPORT if form is ValidateReportForm else {}), **slots,
                       slot: None, "requested_slot": slot}
        name = {ValidateReportForm: "report_form", ValidateCancelForm: "cancel_form",
                ValidateSatisfactionForm: "satisfaction_form"}[form]
        state = Tracker("web:buttons", state_slots, latest,
                        [{"event": "user", "text": title, "parse_data": latest}], False, None,
                        {"name": name}, "action_listen")
        extract = getattr(form(), f"extract_{slot}")
        found = asyncio.run(extract(CollectingDispatcher(), state, {}))
        if slot == "confirmed" and value is None:
            assert found.get("correcting") is True, (title, found)
        else:
            assert found.get(slot) == value, (title, found)
