"""Photos and locations shared in the chat (actions/media.py) and the buttons
under the bot's questions, run on tracker snapshots against a real
work-order service on 127.0.0.1 (the application's API process on a fresh
SQLite file). Assertions are on what the resident is told, the slots the
actions set and the orders (coordinates, photos) the service holds afterwards."""
from __future__ import annotations

import json
import urllib.request
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from actions import replies
from actions.cancel import AskCancelConfirmed, ValidateCancelForm
from actions.conversation import transcript
from actions.media import MAX_PHOTOS, RECENT, ActionReceiveLocation, ActionReceivePhoto
from actions.report_form import AskConfirmed, AskContact, AskDescription, AskLocation, ValidateReportForm
from actions.report_submit import ActionSubmitReport
from actions.satisfaction import AskSatisfaction, ValidateSatisfactionForm
from tests.app.image_samples import png
from tests.rasa.test_actions import act, filled_report, latest_order, message, sender, tracker
from tests.rasa.workorder_service import free_port, running_service

pytestmark = pytest.mark.slow

LATITUDE, LONGITUDE = 31.23041, 121.4737


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    with running_service(tmp_path_factory.mktemp("workorders")) as running:
        running.supervisor = running.staff_token("media-test-sup", "supervisor")
        yield running


def photo_message(attachment_id):
    text = "/share_photo" + json.dumps({"attachment_id": attachment_id})
    return {"text": text, "intent": {"name": "share_photo", "confidence": 1.0},
            "entities": [{"entity": "attachment_id", "value": attachment_id}]}


def location_message(latitude=LATITUDE, longitude=LONGITUDE):
    text = "/share_location" + json.dumps({"latitude": latitude, "longitude": longitude})
    return {"text": text, "intent": {"name": "share_location", "confidence": 1.0},
            "entities": [{"entity": "latitude", "value": latitude},
                         {"entity": "longitude", "value": longitude}]}


def opened_now():
    """The events Rasa adds when a rule opens the report form after the message."""
    return [{"event": "action", "name": "action_receive_photo"},
            {"event": "active_loop", "name": "report_form"}]


def run(service, action, state, url=None):
    """Run one action; returns (messages told, {slot: value}, the events)."""
    messages, events = act(service, action, state, url)
    slots = {e["name"]: e["value"] for e in events if e.get("event") == "slot"}
    return messages, slots, events


def texts(messages):
    return [m.get("text") for m in messages]


def listens(events):
    return any(e.get("event") == "followup" and e.get("name") == "action_listen" for e in events)


def stage(service, who, seed=None):
    """Upload a photo the way the chat adapter does; its attachment id."""
    request = urllib.request.Request(
        f"{service.url}/api/v1/attachments?reporter_ref={who}",
        data=png(seed if seed is not None else uuid.uuid4().int % 10_000_000), method="POST",
        headers={"Authorization": f"Bearer {service.token}", "Content-Type": "image/png"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status in (200, 201)
        return json.loads(response.read())["id"]


def staff_view(service, number):
    status, body = service.call("GET", f"/api/v1/orders/{number}", service.supervisor)
    assert status == 200, body
    return body


def photos_of(service, number):
    status, body = service.call("GET", f"/api/v1/orders/{number}/attachments", service.supervisor)
    assert status == 200, body
    return [photo["id"] for photo in body]


def submit(service, who, url=None, **slots):
    messages, after, _ = run(service, ActionSubmitReport(),
                             tracker(who, message("对", "affirm"), slots=filled_report(**slots)), url)
    return texts(messages), after


def open_order(service, who):
    submit(service, who)
    return latest_order(service, who)["number"]


def later(minutes):
    return lambda: datetime.now(timezone.utc) + timedelta(minutes=minutes)


# ----------------------------------------------------------------- during the report form


def test_photos_during_the_form_go_with_the_order(service):
    who = sender("photo-form")
    first, second = stage(service, who), stage(service, who)
    state = tracker(who, photo_message(first), slots=filled_report(confirmed=None),
                    requested="confirmed", form="report_form")
    messages, slots, _ = run(service, ActionReceivePhoto(), state)
    assert texts(messages) == [replies.PHOTO_KEPT] and slots == {"attachment_ids": [first]}
    state = tracker(who, photo_message(second), slots=filled_report(confirmed=None, attachment_ids=[first]),
                    requested="confirmed", form="report_form")
    messages, slots, _ = run(service, ActionReceivePhoto(), state)
    assert texts(messages) == [replies.PHOTO_KEPT] and slots == {"attachment_ids": [first, second]}
    # the read-back counts them and offers the two answers as buttons
    state = tracker(who, photo_message(second), slots=filled_report(confirmed=None,
                                                                    attachment_ids=[first, second]),
                    requested="confirmed", form="report_form")
    messages, _, _ = run(service, AskConfirmed(), state)
    assert "附照片2张" in messages[0]["text"]
    assert messages[0]["buttons"] == [{"title": "对", "payload": "对"},
                                      {"title": "不对", "payload": "不对"}]

    told, after = submit(service, who, attachment_ids=[first, second])
    number = latest_order(service, who)["number"]
    assert number in told[0]
    assert staff_view(service, number)["attachments"] == 2
    assert sorted(photos_of(service, number)) == sorted([first, second])
    assert after["attachment_ids"] is None  # forgotten with the report


def test_the_same_photo_twice_and_a_sixth_photo_are_not_added(service):
    who = sender("photo-max")
    kept = [f"id{n}" for n in range(MAX_PHOTOS)]
    state = tracker(who, photo_message("id0"), slots={"attachment_ids": kept},
                    requested="description", form="report_form")
    messages, slots, _ = run(service, ActionReceivePhoto(), state)
    assert texts(messages) == [replies.PHOTO_KEPT] and slots == {}
    state = tracker(who, photo_message("another"), slots={"attachment_ids": kept},
                    requested="description", form="report_form")
    messages, slots, _ = run(service, ActionReceivePhoto(), state)
    assert texts(messages) == [replies.too_many_photos(MAX_PHOTOS)] and slots == {}


def test_a_location_while_the_place_is_asked_is_acknowledged_once(service):
    who = sender("loc-form")
    state = tracker(who, location_message(), slots={"description": "井盖被人偷了"},
                    requested="location", form="report_form")
    messages, slots, _ = run(service, ActionReceiveLocation(), state)
    assert messages == [] and slots == {"latitude": LATITUDE, "longitude": LONGITUDE}
    # the form then asks for the place, saying it got the location
    state = tracker(who, location_message(), slots={"description": "井盖被人偷了", **slots},
                    requested="location", form="report_form")
    messages, _, _ = run(service, AskLocation(), state)
    assert texts(messages) == [replies.LOCATION_ASK_PLACE]
    # a later question about the place (after another message) does not repeat "收到"
    state = tracker(who, message("井盖被人偷了", "report_incident"),
                    slots={"latitude": LATITUDE, "longitude": LONGITUDE}, requested="location",
                    form="report_form")
    messages, _, _ = run(service, AskLocation(), state)
    assert texts(messages) == [replies.ASK_PLACE_BESIDES_LOCATION]


def test_a_location_once_the_place_is_known_goes_with_the_order(service):
    who = sender("loc-known")
    state = tracker(who, location_message(), slots=filled_report(confirmed=None),
                    requested="confirmed", form="report_form")
    messages, slots, _ = run(service, ActionReceiveLocation(), state)
    assert texts(messages) == [replies.LOCATION_KEPT]
    told, after = submit(service, who, **slots)
    full = staff_view(service, latest_order(service, who)["number"])
    assert (full["latitude"], full["longitude"]) == (LATITUDE, LONGITUDE)
    assert full["location_text"] == "幸福里小区3号楼"  # the place's name stays what was said
    assert after["latitude"] is None and after["longitude"] is None


def test_payloads_are_never_taken_as_answers(service):
    who = sender("payload")
    base = filled_report(confirmed=None, duplicate_number="12345678")
    for payload in (photo_message("AbC12345678901234567890"), location_message()):
        for requested in ("description", "location", "community", "contact", "confirmed",
                          "same_matter"):
            slots = {k: v for k, v in base.items() if k != requested}
            state = tracker(who, payload, slots=slots, requested=requested, form="report_form")
            _, filled, _ = run(service, ValidateReportForm(), state)
            assert requested not in filled or filled[requested] is None, (payload["text"], requested)
        state = tracker(who, payload, slots={"cancel_number": "12345678"},
                        requested="cancel_confirmed", form="cancel_form")
        _, filled, _ = run(service, ValidateCancelForm(), state)
        assert "cancel_confirmed" not in filled
        for requested in ("satisfaction", "satisfaction_reason"):
            state = tracker(who, payload, slots={"rating_number": "12345678",
                                                 "satisfaction": "unsatisfied"
                                                 if requested == "satisfaction_reason" else None},
                            requested=requested, form="satisfaction_form")
            _, filled, _ = run(service, ValidateSatisfactionForm(), state)
            assert requested not in filled, (payload["text"], requested)


# ----------------------------------------------------------------- outside a form


def test_a_photo_soon_after_a_report_is_added_to_that_order(service):
    who = sender("photo-late")
    number = open_order(service, who)
    photo = stage(service, who)
    messages, slots, events = run(service, ActionReceivePhoto(), tracker(who, photo_message(photo)))
    assert texts(messages) == [replies.photo_added(number)]
    assert listens(events) and slots == {}  # no report starts
    assert photos_of(service, number) == [photo]
    assert staff_view(service, number)["attachments"] == 1


def test_a_location_soon_after_a_report_sets_its_coordinates(service):
    who = sender("loc-late")
    number = open_order(service, who)
    messages, slots, events = run(service, ActionReceiveLocation(), tracker(who, location_message()))
    assert texts(messages) == [replies.location_added(number)] and listens(events)
    full = staff_view(service, number)
    assert (full["latitude"], full["longitude"]) == (LATITUDE, LONGITUDE)


def test_a_photo_long_after_the_last_report_starts_a_new_one(service):
    who = sender("photo-new")
    old = open_order(service, who)
    photo = stage(service, who)
    action = ActionReceivePhoto(clock=later(RECENT.total_seconds() / 60 + 1))
    messages, slots, events = run(service, action, tracker(who, photo_message(photo)))
    assert messages == [] and not listens(events)  # the report form asks next
    assert slots["attachment_ids"] == [photo] and slots["report_key"].startswith(who + ":")
    assert slots["description"] is None and photos_of(service, old) == []
    # the form opens on the photo: it asks what happened, never takes the payload as an answer
    started = {k: v for k, v in slots.items() if v is not None}
    state = tracker(who, photo_message(photo), slots=started, form="report_form")
    _, filled, _ = run(service, ValidateReportForm(), state)
    assert filled.get("requested_slot") == "description" and not filled.get("description")
    state = tracker(who, photo_message(photo), slots=started, requested="description",
                    form="report_form", history=[])
    state.events.extend(opened_now())
    messages, _, _ = run(service, AskDescription(), state)
    assert texts(messages) == [replies.PHOTO_STARTS_REPORT]
    # once the report is taken, the photo goes with the new order
    told, _ = submit(service, who, attachment_ids=[photo], location="幸福里小区7号楼",
                     report_key=slots["report_key"])
    new = latest_order(service, who)["number"]
    assert new != old and new in told[0] and photos_of(service, new) == [photo]


def test_a_location_with_no_open_order_starts_a_report(service):
    who = sender("loc-new")
    messages, slots, events = run(service, ActionReceiveLocation(), tracker(who, location_message()))
    assert messages == [] and not listens(events)
    assert (slots["latitude"], slots["longitude"]) == (LATITUDE, LONGITUDE)
    state = tracker(who, location_message(), slots={"latitude": LATITUDE}, requested="description",
                    form="report_form")
    state.events.extend(opened_now())
    messages, _, _ = run(service, AskDescription(), state)
    assert texts(messages) == [replies.LOCATION_STARTS_REPORT]


def test_when_the_service_is_down_the_photo_is_kept_and_sent_with_the_report(service):
    who = sender("photo-down")
    photo = stage(service, who)
    dead = f"http://127.0.0.1:{free_port()}"
    messages, slots, events = run(service, ActionReceivePhoto(), tracker(who, photo_message(photo)), dead)
    assert texts(messages) == [replies.media_kept_while_down("照片")] and not listens(events)
    assert slots["attachment_ids"] == [photo]
    key = slots["report_key"]
    # the report is taken while the service is still down: kept with its photo and location
    told, after = submit(service, who, dead, attachment_ids=[photo], latitude=LATITUDE,
                         longitude=LONGITUDE, report_key=key)
    assert told == [replies.SERVICE_DOWN]
    kept = after["pending_reports"]
    assert kept[0]["key"] == key and kept[0]["order"]["attachment_ids"] == [photo]
    assert (kept[0]["order"]["latitude"], kept[0]["order"]["longitude"]) == (LATITUDE, LONGITUDE)
    assert latest_order(service, who) is None
    # "再试一次" once it is back: one order, with the photo and the coordinates
    messages, after, _ = run(service, ActionSubmitReport(), tracker(
        who, message("再试一次", "retry"), slots={"pending_reports": kept}))
    number = latest_order(service, who)["number"]
    assert number in texts(messages)[0] and after["pending_reports"] is None
    full = staff_view(service, number)
    assert full["attachments"] == 1 and (full["latitude"], full["longitude"]) == (LATITUDE, LONGITUDE)


def test_a_photo_that_is_gone_does_not_stop_the_report(service):
    who = sender("photo-gone")
    told, _ = submit(service, who, attachment_ids=["NoSuchPhoto1234567890"])
    number = latest_order(service, who)["number"]
    assert number in told[0] and "照片没能一起提交" in told[0]
    assert staff_view(service, number)["attachments"] == 0


def test_an_unreadable_payload_asks_to_send_again(service):
    who = sender("broken")
    broken = {**photo_message("x"), "entities": []}
    messages, slots, events = run(service, ActionReceivePhoto(), tracker(who, broken))
    assert texts(messages) == [replies.PHOTO_UNREADABLE] and slots == {} and listens(events)
    broken = location_message(latitude=123.0)
    messages, slots, events = run(service, ActionReceiveLocation(), tracker(
        who, broken, requested="location", form="report_form"))
    assert texts(messages) == [replies.LOCATION_UNREADABLE] and slots == {} and not listens(events)


def test_the_transcript_for_staff_names_a_photo_instead_of_its_payload():
    state = tracker("web:t", message("转人工", "request_human"), history=[
        {"event": "user", "text": photo_message("AbC")["text"], "parse_data": photo_message("AbC")},
        {"event": "user", "text": location_message()["text"], "parse_data": location_message()}])
    assert [line["text"] for line in transcript(state)] == ["（发来一张照片）", "（发来一个定位）", "转人工"]


# ----------------------------------------------------------------- buttons


def test_closed_questions_carry_buttons_whose_payload_is_their_title(service):
    who = sender("buttons")
    number = open_order(service, who)
    cases = [
        (AskContact(), tracker(who, message("路灯坏了", "report_incident"), requested="contact",
                               form="report_form"), ("不用留电话", "匿名反映")),
        (AskCancelConfirmed(), tracker(who, message("撤销", "cancel_report"),
                                       slots={"cancel_number": number}, form="cancel_form"),
         ("确定撤销", "不撤了")),
        (AskSatisfaction(), tracker(who, message("满意", "rate_satisfaction"),
                                    form="satisfaction_form"), ("满意", "基本满意", "不满意")),
    ]
    for action, state, titles in cases:
        messages, _, _ = run(service, action, state)
        assert messages[0]["buttons"] == [{"title": t, "payload": t} for t in titles], action.name()
    # the phone line's question offers the caller's own number; the gateway
    # speaks the options and takes keys 1-3 for them
    messages, _, _ = run(service, AskContact(), tracker("voice:h:" + "0" * 32, message("路灯坏了"),
                                                        requested="contact", form="report_form"))
    assert texts(messages) == [replies.ASK_CONTACT_CALLER]
    assert [b["title"] for b in messages[0]["buttons"]] == ["可以", "不用留电话", "匿名反映"]
