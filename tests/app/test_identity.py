"""A phone caller's id: a keyed hash of the number, the same for every spelling of it,
different under another key, and never the number; the number's token binds to the id."""

from __future__ import annotations

import pytest

from integrations.shared.identity import (
    CALLER_CONTEXT,
    InvalidCallerToken,
    caller_number,
    caller_ref,
    is_caller_ref,
)
from integrations.shared.privacy import EXAMPLE_KEY, Vault, generate_key

VAULT = Vault(EXAMPLE_KEY)


def test_one_number_one_id_whatever_the_spelling() -> None:
    ref = caller_ref(VAULT, "13800000000")
    assert is_caller_ref(ref) and "13800000000" not in ref
    for spelling in ("+86 138-0000-0000", "008613800000000", "１３８００００００００"):
        assert caller_ref(VAULT, spelling) == ref
    assert caller_ref(VAULT, "13800000001") != ref
    assert caller_ref(Vault(generate_key()), "13800000000") != ref
    # a caller id is not a contact hash: the same number hashes apart as kind "phone"
    assert VAULT.lookup_hash("13800000000")[:32] != ref.removeprefix("voice:h:")


def test_extensions_and_numbers_abroad_have_ids_too() -> None:
    assert is_caller_ref(caller_ref(VAULT, "1001"))
    assert caller_ref(VAULT, "+4420794600") != caller_ref(VAULT, "4420794600")
    for bad in ("", "12", "abc", "1" * 16):
        with pytest.raises(ValueError):
            caller_ref(VAULT, bad)


def test_is_caller_ref() -> None:
    assert not is_caller_ref("voice:13800000000")
    assert not is_caller_ref("voice:h:" + "g" * 32)
    assert not is_caller_ref("voice:unknown-0b9d1c1e")
    assert not is_caller_ref(None)


def test_a_token_opens_only_for_its_own_caller() -> None:
    ref = caller_ref(VAULT, "13800000000")
    token = VAULT.encrypt("13800000000", context=CALLER_CONTEXT)
    assert caller_number(VAULT, token, ref) == "13800000000"
    for bad_token, bad_ref in ((token, caller_ref(VAULT, "13900000000")),
                               (VAULT.encrypt("13800000000", context="other"), ref),
                               (Vault(generate_key()).encrypt("13800000000",
                                                              context=CALLER_CONTEXT), ref),
                               ("v1.0000.AAAA", ref), (token[:-2], ref)):
        with pytest.raises(InvalidCallerToken):
            caller_number(VAULT, bad_token, bad_ref)
