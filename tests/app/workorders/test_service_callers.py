"""A phone caller is voice:h:<keyed hash>; their number reaches the service only encrypted
(the gateway's caller token) and is kept only encrypted, as the contact of the order or the
callback request, and in the outbox for the SMS/callback sender."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select

from integrations.shared.identity import CALLER_CONTEXT, caller_ref
from integrations.shared.privacy import Vault, generate_key
from integrations.workorders.adapters.orm import CallbackRequest, OutboxMessage, WorkOrder
from integrations.workorders.service import (
    CallbackCreate,
    InvalidInput,
    TranscriptLine,
    accept,
    request_callback,
)
from integrations.workorders.service.callbacks import CONTACT_CONTEXT as CALLBACK_CONTACT
from integrations.workorders.service.orders import CONTACT_CONTEXT as ORDER_CONTACT
from integrations.workorders.service.outbox import PHONE_CONTEXT

NUMBER = "13800001111"


def token(vault: Vault, number: str = NUMBER) -> str:
    """What the gateway puts in each message's metadata."""
    return vault.encrypt(number, context=CALLER_CONTEXT)


def every_value(world, model) -> str:
    """Every column of every row of ``model``, as text: where a plain number would show."""
    with world.db.session() as s:
        rows = s.scalars(select(model)).all()
        return json.dumps([{c.name: str(getattr(r, c.key, "")) for c in model.__table__.columns}
                           for r in rows], ensure_ascii=False)


def test_an_order_from_a_caller_keeps_the_number_only_encrypted_as_its_contact(world, vault):
    ref = caller_ref(vault, NUMBER)
    assert ref.startswith("voice:h:") and len(ref) == 40 and NUMBER not in ref
    assert caller_ref(vault, "+86 138-0000-1111") == ref  # one number, one id
    view = world.order(reporter_ref=ref, caller_token=token(vault))
    row = world.row(view.number)
    assert row.reporter_ref == ref and row.reporter_channel == "voice"
    assert vault.decrypt(row.reporter_contact_enc, context=ORDER_CONTACT) == NUMBER
    assert row.reporter_contact_hash == vault.lookup_hash(NUMBER)

    h = world.handler()
    accept(world.uow(), view.number, h, world.tick(minutes=5))
    (told,) = [m for m in world.outbox(view.number) if m.recipient_kind == "resident"]
    assert told.channel == "voice" and told.recipient_ref == ref
    assert vault.decrypt(told.payload["phone_enc"], context=PHONE_CONTEXT) == NUMBER
    for model in (WorkOrder, OutboxMessage):
        assert NUMBER not in every_value(world, model)


def test_a_caller_who_left_no_contact_is_told_in_the_log_not_by_a_guessed_number(world, vault):
    view = world.order(reporter_ref=caller_ref(vault, NUMBER))
    assert world.row(view.number).reporter_contact_enc is None
    accept(world.uow(), view.number, world.handler(), world.tick(minutes=5))
    (told,) = [m for m in world.outbox(view.number) if m.recipient_kind == "resident"]
    assert told.channel == "log" and "phone_enc" not in told.payload


@pytest.mark.parametrize("case", ["other caller", "other key", "garbage", "not a caller",
                                  "anonymous", "two contacts", "wrong context"])
def test_a_caller_token_that_is_not_this_callers_is_refused(world, vault, case):
    ref = caller_ref(vault, NUMBER)
    kw = {"reporter_ref": ref, "caller_token": token(vault)}
    if case == "other caller":
        kw["caller_token"] = token(vault, "13900002222")
    elif case == "other key":
        kw["caller_token"] = token(Vault(generate_key()))
    elif case == "garbage":
        kw["caller_token"] = "v1.abcd.AAAA"
    elif case == "not a caller":
        kw["reporter_ref"] = "tg:42"
    elif case == "anonymous":
        kw["anonymous"] = True
    elif case == "two contacts":
        kw["reporter_contact"] = "13900002222"
    elif case == "wrong context":
        kw["caller_token"] = vault.encrypt(NUMBER, context=ORDER_CONTACT)
    with pytest.raises(InvalidInput) as caught:
        world.order(**kw)
    assert caught.value.field == "caller_token"
    assert world.count(WorkOrder) == 0


def test_a_callback_for_a_caller_keeps_the_number_only_encrypted(world, vault):
    ref = caller_ref(vault, NUMBER)
    view, created = request_callback(world.uow(), CallbackCreate(
        reporter_ref=ref, reason="asked", transcript=(TranscriptLine("resident", "转人工"),),
        caller_token=token(vault)), world.clock)
    assert created
    with world.db.session() as s:
        (row,) = s.scalars(select(CallbackRequest)).all()
        assert row.reporter_ref == ref
        assert vault.decrypt(row.contact_enc, context=CALLBACK_CONTACT) == NUMBER
    for model in (CallbackRequest, OutboxMessage):
        assert NUMBER not in every_value(world, model)
    with pytest.raises(InvalidInput):
        request_callback(world.uow(), CallbackCreate(
            reporter_ref=caller_ref(vault, "13900002222"), reason="asked",
            caller_token=token(vault)), world.clock)


def test_callers_recorded_as_plain_numbers_become_keyed_hashes(world, vault):
    from integrations.workorders.service.caller_refs import hash_legacy_caller_refs

    legacy = f"voice:{NUMBER}"
    view = world.order(reporter_ref=legacy)
    accept(world.uow(), view.number, world.handler(), world.tick(minutes=5))
    request_callback(world.uow(), CallbackCreate(reporter_ref=legacy, reason="asked"),
                     world.clock)
    kept = world.order(reporter_ref="voice:unknown-0b9d1c1e")
    with world.db.session() as s, s.begin():  # as the service wrote them before: voice rows
        for m in s.scalars(select(OutboxMessage).where(OutboxMessage.recipient_ref == legacy)):
            m.channel = "voice"
    assert NUMBER in every_value(world, OutboxMessage)

    counts = hash_legacy_caller_refs(world.uow())
    assert counts["orders"] == 1 and counts["callbacks"] == 1 and counts["outbox"] >= 1
    ref = caller_ref(vault, NUMBER)
    row = world.row(view.number)
    assert row.reporter_ref == ref
    assert vault.decrypt(row.reporter_contact_enc, context=ORDER_CONTACT) == NUMBER
    assert world.row(kept.number).reporter_ref == "voice:unknown-0b9d1c1e"
    with world.db.session() as s:
        (request,) = s.scalars(select(CallbackRequest)).all()
        assert request.reporter_ref == ref
        assert vault.decrypt(request.contact_enc, context=CALLBACK_CONTACT) == NUMBER
    for model in (WorkOrder, CallbackRequest, OutboxMessage):
        assert NUMBER not in every_value(world, model)
    # pending messages to the caller now carry the number for the SMS sender, encrypted
    told = [m for m in world.outbox(view.number) if m.recipient_kind == "resident"]
    assert told and all(m.recipient_ref == ref and ref in m.dedupe_key for m in told)
    assert all(m.channel == "voice" for m in told)
    assert all(vault.decrypt(m.payload["phone_enc"], context=PHONE_CONTEXT) == NUMBER
               for m in told)
    assert hash_legacy_caller_refs(world.uow()) == {
        "orders": 0, "callbacks": 0, "attachments": 0, "outbox": 0}
