"""Who a phone caller is to the rest of the system: a keyed hash, never the number.

A caller's sender id (Rasa's conversation, ``orders.reporter_ref``, outbox
recipients, callback requests, logs) is ``voice:h:<hash>``: the first 32 hex
characters (128 bits) of the vault's keyed lookup hash of the number, kind
``"caller"``. The same number always gives the same id under one key, so a
caller finds their orders again; without the key the id reveals nothing, and
nobody can name an id from a number they know. After a key rotation the ids
must be recomputed (``caller_ref`` is the one place that makes them).

The number itself travels only encrypted (``CALLER_CONTEXT``): the gateway
encrypts it into the REST message's metadata, and the work-order service
decrypts it (``caller_number``) to keep it, encrypted again, as the contact.
A withheld number has no hash: the gateway names such a call
``voice:unknown-<call id>``.
"""

from __future__ import annotations

from typing import TypeGuard

from .privacy import DecryptionError, Vault

__all__ = ["CALLER_CONTEXT", "CALLER_PREFIX", "METADATA_KEY", "InvalidCallerToken", "caller_refs_all_keys",
           "caller_number", "caller_ref", "is_caller_ref"]

CALLER_PREFIX = "voice:h:"
#: Associated data of the encrypted number in a message's metadata.
CALLER_CONTEXT = "voice.caller"
#: The key of the encrypted number in the REST message's ``metadata``.
METADATA_KEY = "caller_token"
_HASH_CHARS = 32


class InvalidCallerToken(ValueError):
    """An encrypted caller number that does not decrypt, or is not this caller's."""


def caller_ref(vault: Vault, phone: str) -> str:
    """``voice:h:<32 hex>`` for the caller ``phone`` (spellings of one number agree)."""
    return CALLER_PREFIX + vault.lookup_hash(phone, kind="caller")[:_HASH_CHARS]


def is_caller_ref(ref: object) -> TypeGuard[str]:
    """Whether ``ref`` has the form of a hashed caller id."""
    if not isinstance(ref, str) or not ref.startswith(CALLER_PREFIX):
        return False
    tail = ref[len(CALLER_PREFIX):]
    return len(tail) == _HASH_CHARS and all(c in "0123456789abcdef" for c in tail)


def caller_number(vault: Vault, token: str, reporter_ref: str) -> str:
    """The number in ``token`` (made by ``vault.encrypt(number, CALLER_CONTEXT)``).

    Raises ``InvalidCallerToken`` if it does not decrypt, or if the number's
    ``caller_ref`` is not ``reporter_ref``: one caller's token cannot become
    another's contact.
    """
    if not isinstance(token, str) or len(token) > 512:
        raise InvalidCallerToken("not a caller token")
    try:
        number = vault.decrypt(token, context=CALLER_CONTEXT)
    except DecryptionError as exc:
        raise InvalidCallerToken(f"caller token does not decrypt: {exc}") from None
    try:
        matches = number is not None and caller_ref(vault, number) == reporter_ref
    except ValueError:
        matches = False
    if not matches:
        raise InvalidCallerToken("caller token is not this caller's")
    assert number is not None
    return number


def caller_refs_all_keys(vault: Vault, phone: str) -> list[str]:
    """``caller_ref`` of ``phone`` under the current key, then under each old key."""
    return [CALLER_PREFIX + h[:_HASH_CHARS] for h in vault.lookup_hashes(phone, kind="caller")]
