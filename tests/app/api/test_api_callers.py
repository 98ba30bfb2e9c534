"""POST /api/v1/orders and /api/v1/callbacks with a phone caller's token: the number it holds
becomes the contact (revealed only by the logged contact reveal); a token that is not the
caller's is 422 on caller_token, and nothing is written."""

from __future__ import annotations

from integrations.shared.identity import CALLER_CONTEXT, caller_ref

NUMBER = "13800001111"


def test_a_callers_token_becomes_the_contact_and_a_foreign_one_is_refused(api, vault):
    ref = caller_ref(vault, NUMBER)
    token = vault.encrypt(NUMBER, context=CALLER_CONTEXT)
    order = api.report(reporter_ref=ref, caller_token=token)
    # supervisors see the reporter's id: a hash, not the number (finding 6)
    supervisor = api.get("supervisor", f"/api/v1/orders/{order['number']}").json()
    assert supervisor["reporter_ref"] == ref and NUMBER not in str(supervisor)
    # the number only through the logged contact reveal
    revealed = api.get("dispatcher", f"/api/v1/orders/{order['number']}/contact").json()
    assert revealed["contact"] == NUMBER

    other = caller_ref(vault, "13900002222")
    refused = api.report(reporter_ref=other, caller_token=token, expect=422)
    assert refused["detail"]["field"] == "caller_token" and refused["detail"]["reason_zh"]
    response = api.post("actions", "/api/v1/callbacks", json={
        "reporter_ref": other, "reason": "asked", "caller_token": token})
    assert response.status_code == 422 and response.json()["detail"]["field"] == "caller_token"
    response = api.post("actions", "/api/v1/callbacks", json={
        "reporter_ref": ref, "reason": "asked", "caller_token": token})
    assert response.status_code == 201, response.text
