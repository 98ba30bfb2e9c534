"""Privacy: encryption at rest, lookup hashes, masking, log redaction, key checks."""

import base64
import io
import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from integrations.shared import privacy
from integrations.shared.privacy import (
    EXAMPLE_KEY,
    DecryptionError,
    PrivacyKeyError,
    RedactingFilter,
    Vault,
    install_log_redaction,
    mask_name,
    mask_phone,
    normalize_phone,
    redact,
    require_production_key,
)

KEY_A = base64.urlsafe_b64encode(bytes(range(32))).decode()
KEY_B = base64.urlsafe_b64encode(bytes(range(100, 132))).decode()


@pytest.fixture
def vault():
    return Vault(KEY_A)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ------------------------------------------------------------------ keys


def test_example_key_is_32_bytes_of_documented_text():
    assert base64.urlsafe_b64decode(EXAMPLE_KEY) == b"community-workorder-example-key!"
    assert Vault(EXAMPLE_KEY).is_example
    assert Vault(EXAMPLE_KEY.rstrip("=")).is_example  # padding is optional
    assert not Vault(KEY_A).is_example
    assert not Vault(KEY_A, old_keys=[EXAMPLE_KEY]).is_example


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "not base64!",
        base64.urlsafe_b64encode(b"x" * 16).decode(),  # too short
        base64.urlsafe_b64encode(b"x" * 33).decode(),  # too long
        base64.b64encode(b"\xfb" * 32).decode(),  # standard alphabet: + and /
        None,
        b"bytes are not a key",
    ],
)
def test_malformed_keys_are_refused(bad):
    with pytest.raises(PrivacyKeyError):
        Vault(bad)
    with pytest.raises(PrivacyKeyError):
        Vault(KEY_A, old_keys=[bad])
    assert issubclass(PrivacyKeyError, ValueError)


def test_old_keys_must_be_a_list_not_a_single_key():
    with pytest.raises(TypeError):
        Vault(KEY_A, old_keys=KEY_B)


def test_repr_does_not_show_the_key(vault):
    assert KEY_A not in repr(vault) and KEY_A.rstrip("=") not in repr(vault)
    assert vault.key_id in repr(vault)


def test_generated_keys_are_valid_and_distinct():
    a, b = privacy.generate_key(), privacy.generate_key()
    assert a != b
    require_production_key(a, development=False)
    Vault(a)


# ------------------------------------------------------------- encryption


@pytest.mark.parametrize(
    "plain", ["张三", "欧阳娜娜", "13812345678", "", "住址：朝阳区某街道 3 号楼 2 单元 🏠", "x" * 5000]
)
def test_round_trip(vault, plain):
    token = vault.encrypt(plain)
    assert token.isascii() and token.startswith(f"v1.{vault.key_id}.")
    assert plain not in token or plain == ""
    assert vault.decrypt(token) == plain
    assert Vault(KEY_A).decrypt(token) == plain  # a fresh Vault with the same key


@settings(max_examples=50, deadline=None)
@given(plain=st.text(), context=st.text(max_size=20))
def test_round_trip_any_text(plain, context):
    vault = Vault(KEY_A)
    assert vault.decrypt(vault.encrypt(plain, context=context), context=context) == plain


def test_none_passes_through(vault):
    assert vault.encrypt(None) is None
    assert vault.decrypt(None) is None
    assert vault.encrypt(None, context="resident.phone") is None


def test_token_shape(vault):
    token = vault.encrypt("张三")
    version, kid, body = token.split(".")
    assert version == "v1" and len(kid) == 4 and int(kid, 16) >= 0
    assert "=" not in body
    raw = _unb64(body)
    assert len(raw) == 12 + len("张三".encode()) + 16  # nonce + ciphertext + tag


def test_same_plaintext_gives_different_tokens(vault):
    tokens = {vault.encrypt("13812345678") for _ in range(50)}
    assert len(tokens) == 50
    nonces = {_unb64(t.split(".")[2])[:12] for t in tokens}
    assert len(nonces) == 50


def test_tampering_any_character_raises(vault):
    token = vault.encrypt("张三")
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.v"
    for i, ch in enumerate(token):
        for replacement in {alphabet[(alphabet.find(ch) + k) % len(alphabet)] for k in (1, 7, 33)} - {ch}:
            tampered = token[:i] + replacement + token[i + 1 :]
            with pytest.raises(DecryptionError):
                vault.decrypt(tampered)


def test_tampering_any_byte_of_nonce_ciphertext_or_tag_raises(vault):
    token = vault.encrypt("欧阳娜娜 13812345678")
    prefix, body = token.rsplit(".", 1)
    raw = _unb64(body)
    for i in range(len(raw)):
        for flip in (0x01, 0x80, 0xFF):
            changed = raw[:i] + bytes([raw[i] ^ flip]) + raw[i + 1 :]
            with pytest.raises(DecryptionError):
                vault.decrypt(f"{prefix}.{_b64(changed)}")


@pytest.mark.parametrize(
    "mangle",
    [
        lambda t: t[:-1],  # truncated
        lambda t: t + "A",  # extended
        lambda t: t.rsplit(".", 1)[0] + "." + _b64(_unb64(t.rsplit(".", 1)[1])[:27]),
        lambda t: "v2" + t[2:],
        lambda t: t.replace(".", "", 1),
        lambda t: "v1." + t.split(".")[2],  # key id removed
        lambda t: t + "==",
        lambda t: " " + t,
        lambda t: "",
    ],
)
def test_malformed_tokens_raise(vault, mangle):
    with pytest.raises(DecryptionError):
        vault.decrypt(mangle(vault.encrypt("张三")))


def test_wrong_key_raises(vault):
    token = vault.encrypt("张三")
    other = Vault(KEY_B)
    with pytest.raises(DecryptionError):
        other.decrypt(token)
    # Even with the key id forged to the other key's, GCM rejects it.
    forged = f"v1.{other.key_id}.{token.split('.')[2]}"
    with pytest.raises(DecryptionError):
        other.decrypt(forged)


def test_context_mismatch_raises(vault):
    token = vault.encrypt("13812345678", context="resident.phone")
    assert vault.decrypt(token, context="resident.phone") == "13812345678"
    for wrong in ("", "resident.name", "resident.phone ", "Resident.phone"):
        with pytest.raises(DecryptionError):
            vault.decrypt(token, context=wrong)
    plain_token = vault.encrypt("张三")
    with pytest.raises(DecryptionError):
        vault.decrypt(plain_token, context="resident.name")


def test_type_errors(vault):
    with pytest.raises(TypeError):
        vault.encrypt(b"bytes")
    with pytest.raises(TypeError):
        vault.encrypt(13812345678)
    with pytest.raises(TypeError):
        vault.decrypt(b"v1.abcd.xxxx")
    with pytest.raises(TypeError):
        vault.encrypt("x", context=None)


def test_decryption_error_does_not_leak_plaintext(vault):
    token = vault.encrypt("13812345678", context="resident.phone")
    with pytest.raises(DecryptionError) as info:
        vault.decrypt(token, context="other")
    assert "138" not in str(info.value)


# --------------------------------------------------------------- rotation


def test_rotation_old_tokens_decrypt_new_use_new_key():
    old_vault = Vault(KEY_A)
    old_token = old_vault.encrypt("张三", context="resident.name")

    rotated = Vault(KEY_B, old_keys=[KEY_A])
    assert rotated.key_id == Vault(KEY_B).key_id != old_vault.key_id
    assert rotated.decrypt(old_token, context="resident.name") == "张三"

    new_token = rotated.encrypt("张三", context="resident.name")
    assert new_token.split(".")[1] == rotated.key_id
    assert new_token.split(".")[1] != old_token.split(".")[1]
    assert Vault(KEY_B).decrypt(new_token, context="resident.name") == "张三"
    with pytest.raises(DecryptionError):  # the old key alone can't read new tokens
        old_vault.decrypt(new_token, context="resident.name")
    with pytest.raises(DecryptionError):  # once the old key is dropped, old tokens are gone
        Vault(KEY_B).decrypt(old_token, context="resident.name")


def test_rotation_with_several_old_keys_and_duplicates():
    key_c = privacy.generate_key()
    tokens = {k: Vault(k).encrypt(f"value {i}") for i, k in enumerate([KEY_A, KEY_B, key_c])}
    vault = Vault(key_c, old_keys=[KEY_A, KEY_B, KEY_A, key_c])
    for i, k in enumerate([KEY_A, KEY_B, key_c]):
        assert vault.decrypt(tokens[k]) == f"value {i}"


def test_rotation_lookup_hashes_list_every_key():
    rotated = Vault(KEY_B, old_keys=[KEY_A])
    hashes = rotated.lookup_hashes("138 1234 5678")
    assert hashes == [Vault(KEY_B).lookup_hash("13812345678"), Vault(KEY_A).lookup_hash("13812345678")]
    assert rotated.lookup_hash("13812345678") == hashes[0]


# ----------------------------------------------------------- lookup hashes


@pytest.mark.parametrize(
    "spelling",
    [
        "13812345678",
        "138 1234 5678",
        "138-1234-5678",
        "+86 13812345678",
        "+8613812345678",
        "0086 138 1234 5678",
        "8613812345678",
        "１３８１２３４５６７８",
        "＋８６ １３８－１２３４－５６７８",
        " 138\u30001234\u30005678 ",
    ],
)
def test_lookup_hash_equal_for_equivalent_spellings(vault, spelling):
    assert vault.lookup_hash(spelling) == vault.lookup_hash("13812345678")
    assert vault.lookup_hash(spelling, kind="phone") == vault.lookup_hash("13812345678")


def test_lookup_hash_shape_and_definition(vault):
    import hashlib
    import hmac

    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    digest = vault.lookup_hash("138 1234 5678")
    assert len(digest) == 64 and int(digest, 16) >= 0
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"lookup").derive(
        base64.urlsafe_b64decode(KEY_A)
    )
    expected = hmac.new(subkey, b"phone:13812345678", hashlib.sha256).hexdigest()
    assert digest == expected
    # Not a plain hash of the number: without the key it cannot be recomputed.
    assert digest != hashlib.sha256(b"phone:13812345678").hexdigest()


def test_lookup_hash_differs_for_different_numbers_and_keys(vault):
    numbers = ["13812345678", "13812345679", "13912345678", "01012345678", "075512345678"]
    assert len({vault.lookup_hash(n) for n in numbers}) == len(numbers)
    assert vault.lookup_hash("13812345678") != Vault(KEY_B).lookup_hash("13812345678")


def test_lookup_hash_separates_kinds(vault):
    assert vault.lookup_hash("13812345678", kind="phone") != vault.lookup_hash(
        "13812345678", kind="text"
    )
    assert vault.lookup_hash("张三", kind="name") == vault.lookup_hash(" 张三 ", kind="name")
    assert vault.lookup_hash("John  Smith", kind="name") == vault.lookup_hash("john smith", kind="name")
    assert vault.lookup_hash("张三", kind="name") != vault.lookup_hash("张四", kind="name")


def test_encryption_uses_the_hkdf_encrypt_subkey_and_binds_context(vault):
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

    raw_key = base64.urlsafe_b64decode(KEY_A)
    subkey = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"encrypt").derive(raw_key)
    token = vault.encrypt("张三", context="resident.name")
    _, kid, body = token.split(".")
    raw = _unb64(body)
    aad = f"v1.{kid}.resident.name".encode()
    assert AESGCM(subkey).decrypt(raw[:12], raw[12:], aad) == "张三".encode()
    assert subkey != raw_key  # the master key itself never encrypts


@pytest.mark.parametrize("bad", ["", "hello", "12345678", "工单73920416", "1381234567"])
def test_lookup_hash_rejects_non_phones(vault, bad):
    with pytest.raises(ValueError):
        vault.lookup_hash(bad)


@pytest.mark.parametrize("kind", ["", "Phone", "a:b", "phone ", None])
def test_lookup_hash_rejects_bad_kinds(vault, kind):
    with pytest.raises(ValueError):
        vault.lookup_hash("13812345678", kind=kind)


# ----------------------------------------------------------- normalize


@pytest.mark.parametrize(
    "text, expected",
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("138-1234-5678", "13812345678"),
        ("+86 13812345678", "13812345678"),
        ("+86-138-1234-5678", "13812345678"),
        ("8613812345678", "13812345678"),
        ("0086 13812345678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("１３８　１２３４　５６７８", "13812345678"),
        ("＋８６１３８１２３４５６７８", "13812345678"),
        ("019912345678", "19912345678"),  # trunk 0 before a mobile
        ("010-12345678", "01012345678"),
        ("(010) 1234 5678", "01012345678"),
        ("（０２１）１２３４５６７８", "02112345678"),
        ("0755-1234567", "07551234567"),
        ("0755-12345678", "075512345678"),
        ("+86 10 12345678", "01012345678"),
        ("+86 (0)755 12345678", "075512345678"),
        # Not phones:
        ("12812345678", None),  # 12x is not a mobile prefix
        ("1381234567", None),  # 10 digits
        ("138123456789", None),  # 12 digits
        ("73920416", None),  # a work-order number
        ("12345678", None),  # a landline without area code
        ("00112345678", None),  # 00 is an international prefix
        ("+1 415 555 1234", None),
        ("+44 20 7946 0958", None),
        ("138.1234.5678", None),
        ("电话13812345678", None),  # free text: use redact
        ("86 0101234567", None),  # bare 86 only before a mobile
        ("1+3812345678", None),
        ("", None),
        ("---", None),
        (None, None),
        (13812345678, None),
    ],
)
def test_normalize_phone(text, expected):
    assert normalize_phone(text) == expected


# ---------------------------------------------------------------- masking


@pytest.mark.parametrize(
    "text, expected",
    [
        ("13812345678", "138****5678"),
        ("+86 138-1234-5678", "138****5678"),
        ("１３８１２３４５６７８", "138****5678"),
        ("010-12345678", "010-******78"),
        ("021 1234 5678", "021-******78"),
        ("0755-1234567", "0755-*****67"),
        ("075512345678", "0755-******78"),
        ("73920416", "***"),
        ("hello", "***"),
        ("", "***"),
        (None, "***"),
    ],
)
def test_mask_phone(text, expected):
    assert mask_phone(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("张三", "张*"),
        ("欧阳娜娜", "欧***"),
        ("王小明", "王**"),
        ("张", "张*"),
        (" 李 四 ", "李*"),
        ("买买提·艾力", "买*****"),
        ("John Smith", "J***"),
        ("alice", "a***"),
        ("Ｊｏｈｎ", "J***"),
        ("Зоя", "З***"),
        ("", "***"),
        ("   ", "***"),
        ("123", "***"),
        (None, "***"),
    ],
)
def test_mask_name(text, expected):
    assert mask_name(text) == expected


# ----------------------------------------------------------------- redact


@pytest.mark.parametrize(
    "text, expected",
    [
        ("居民来电13812345678反映楼道漏水", "居民来电138****5678反映楼道漏水"),
        ("电话：138 1234 5678。", "电话：138****5678。"),
        ("call 138-1234-5678 please", "call 138****5678 please"),
        ("tel +86 13812345678", "tel 138****5678"),
        ("tel +86 138 1234 5678", "tel 138****5678"),
        ("tel 0086-13812345678", "tel 138****5678"),
        ("tel 8613812345678", "tel 138****5678"),
        ("手机１３８１２３４５６７８", "手机138****5678"),
        ("物业010-12345678转人工", "物业010-******78转人工"),
        ("座机(0755)1234567", "座机0755-*****67"),
        ("座机（021）12345678", "座机021-******78"),
        ("办公室 0755 1234 5678", "办公室 0755-******78"),
        ("+86 10 12345678", "010-******78"),
        ("a=13812345678,b=13987654321", "a=138****5678,b=139****4321"),
        # Work-order numbers and other digit runs are left alone.
        ("工单73920416", "工单73920416"),
        ("工单73920416已派单", "工单73920416已派单"),
        ("工单 73920416 13812345678", "工单 73920416 138****5678"),
        ("order=73920416 user=13812345678", "order=73920416 user=138****5678"),
        ("工单73920416，联系电话13812345678", "工单73920416，联系电话138****5678"),
        ("tracking 9138123456789012", "tracking 9138123456789012"),
        ("2024-05-01 13:45:12 took 138ms", "2024-05-01 13:45:12 took 138ms"),
        ("12345678901", "12345678901"),  # 12x is not a mobile
        ("amount 1381234567", "amount 1381234567"),  # 10 digits
        # Identifiers whose digit groups look like phone numbers are kept whole.
        ("req 0a1b2c3d-0755-1234-5678-9abcdef01234 done", "req 0a1b2c3d-0755-1234-5678-9abcdef01234 done"),
        ("trace=4bf92f3577b34da6a3ce929d0e0e4736", "trace=4bf92f3577b34da6a3ce929d0e0e4736"),
        ("trace=ab01012345678cdab01012345678cd", "trace=ab01012345678cdab01012345678cd"),
        ("phone13812345678", "phone138****5678"),
        ("cafe 13812345678", "cafe 138****5678"),
        ("", ""),
    ],
)
def test_redact(text, expected):
    assert redact(text) == expected


@settings(max_examples=100, deadline=None)
@given(st.integers(min_value=1_000_000, max_value=9_999_999))
def test_redact_never_touches_order_numbers(body):
    from integrations.workorders.domain import new_number

    number = new_number()
    for text in (f"工单{number}", f"工单号：{number}。", f"#{number} {body}"):
        assert redact(text) == text


def test_redact_is_idempotent():
    once = redact("电话13812345678，座机010-12345678")
    assert redact(once) == once


# --------------------------------------------------------- production key


def test_example_key_refused_outside_development():
    with pytest.raises(PrivacyKeyError) as info:
        require_production_key(EXAMPLE_KEY, development=False)
    message = str(info.value)
    assert "example key" in message and "development" in message
    assert EXAMPLE_KEY not in message
    with pytest.raises(PrivacyKeyError):
        require_production_key(EXAMPLE_KEY.rstrip("="), development=False)
    with pytest.raises(PrivacyKeyError):
        require_production_key(f"  {EXAMPLE_KEY}\n", development=False)


@pytest.mark.parametrize(
    "bad",
    ["", "short", "not base64!", None, base64.urlsafe_b64encode(bytes(32)).decode()],
)
def test_malformed_or_placeholder_key_refused_outside_development(bad):
    with pytest.raises(PrivacyKeyError) as info:
        require_production_key(bad, development=False)
    assert "refusing to start" in str(info.value)


def test_real_key_accepted_and_development_accepts_example():
    require_production_key(KEY_A, development=False)
    require_production_key(KEY_A.rstrip("=") + "\n", development=False)
    require_production_key(EXAMPLE_KEY, development=True)


# ---------------------------------------------------------------- logging


@pytest.fixture
def captured_logger():
    logger = logging.getLogger("test_privacy.redaction")
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    yield logger, handler, stream
    logger.removeHandler(handler)
    logger.filters.clear()


def test_log_filter_redacts_a_record_with_args(captured_logger):
    logger, handler, stream = captured_logger
    install_log_redaction(logger)
    logger.info("工单%s 居民电话 %s 座机 %s", "73920416", "138 1234 5678", "010-12345678")
    logger.warning("dict args: %(phone)s", {"phone": "+86 13912345678"})
    output = stream.getvalue()
    assert "13812345678" not in output and "1234 5678" not in output
    assert "12345678" not in output.replace("73920416", "")
    assert "INFO 工单73920416 居民电话 138****5678 座机 010-******78" in output
    assert "WARNING dict args: 139****5678" in output


def test_log_filter_redacts_records_from_child_loggers(captured_logger):
    logger, handler, stream = captured_logger
    install_log_redaction(logger)
    child = logging.getLogger("test_privacy.redaction.child")
    child.error("resident %s called", "13812345678")
    assert "138****5678" in stream.getvalue() and "13812345678" not in stream.getvalue()


def test_log_filter_redacts_tracebacks(captured_logger):
    logger, handler, stream = captured_logger
    install_log_redaction(logger)
    try:
        raise ValueError("bad phone 13812345678")
    except ValueError:
        logger.exception("failed for %s", "13812345678")
    output = stream.getvalue()
    assert "13812345678" not in output
    assert "bad phone 138****5678" in output


def test_install_is_idempotent(captured_logger):
    logger, handler, stream = captured_logger
    first = install_log_redaction(logger)
    second = install_log_redaction(logger)
    assert first is second
    assert sum(isinstance(f, RedactingFilter) for f in logger.filters) == 1
    assert sum(isinstance(f, RedactingFilter) for f in handler.filters) == 1
    logger.info("x %s", "13812345678")
    assert stream.getvalue() == "INFO x 138****5678\n"


def test_install_defaults_to_root_logger():
    root = logging.getLogger()
    handler = logging.StreamHandler(io.StringIO())
    root.addHandler(handler)
    try:
        flt = install_log_redaction()
        assert flt in root.filters and flt in handler.filters
    finally:
        root.removeHandler(handler)
        root.removeFilter(flt)
        for other in root.handlers:
            other.removeFilter(flt)


def test_filter_leaves_bad_args_to_the_handler():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "%d", ("not a number",), None)
    assert RedactingFilter().filter(record) is True
    assert record.args == ("not a number",)
