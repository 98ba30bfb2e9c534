"""A phone caller's number, as the phone line hands it over: encrypted, and bound to the caller.

The gateway names a caller ``voice:h:<keyed hash>`` and sends their number
encrypted (``integrations.shared.identity``) in each message's metadata; the
actions pass that token on as ``caller_token`` when the number is to be the
contact of an order or a callback request. Here it is decrypted, checked to
belong to the ``reporter_ref`` it comes with, and put in as the contact,
which is then stored encrypted like any other. Neither Rasa nor the action
server can read the number.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, TypeVar

from integrations.shared.identity import InvalidCallerToken, caller_number, is_caller_ref
from integrations.shared.privacy import Vault, normalize_phone

from .errors import InvalidInput

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


def with_caller_contact(vault: Vault, data: T, contact_field: str) -> T:
    """``data`` with its ``caller_token`` decrypted into ``contact_field`` (and the token dropped).

    ``InvalidInput`` on ``caller_token`` if it does not decrypt, is not the
    caller's of ``data.reporter_ref``, or comes with a contact of its own or
    an anonymous report. A number the contact cannot hold (an extension, a
    number abroad) is dropped: the report goes in without a contact.
    """
    token = getattr(data, "caller_token", None)
    if token is None:
        return data
    ref = getattr(data, "reporter_ref", None)
    if not is_caller_ref(ref):
        raise InvalidInput("caller_token", "only a phone caller (voice:h:...) has a caller token",
                           "来电号码凭据与反映人不符。")
    if getattr(data, "anonymous", False):
        raise InvalidInput("caller_token", "an anonymous report takes no contact",
                           "匿名反映无需留下联系电话。")
    given = getattr(data, contact_field, None)
    if given is not None and given.strip():
        raise InvalidInput("caller_token", f"give either {contact_field} or caller_token",
                           "联系电话只能提供一个。")
    try:
        number = caller_number(vault, token, ref)
    except InvalidCallerToken as exc:
        raise InvalidInput("caller_token", str(exc), "来电号码凭据无效。") from None
    contact = normalize_phone(number)
    return dataclasses.replace(data, caller_token=None, **{contact_field: contact})
