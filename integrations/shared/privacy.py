"""Personal data at rest and in logs: encryption, lookup hashes, masking, redaction.

DESIGN.md, "Privacy and roles": names and phone numbers are encrypted at rest,
a phone number is found by a keyed hash (never a plain column), and both are
masked in logs. This module holds the mechanisms; the caller supplies the keys
(nothing here reads the environment) and decides what goes through them.

Keys
    One master key: 32 random bytes, urlsafe base64 (``generate_key()`` makes
    one). HKDF-SHA256 derives independent subkeys from it: ``info=b"encrypt"``
    for AES-256-GCM, ``info=b"lookup"`` for the HMAC-SHA256 lookup hashes, and
    ``info=b"key-id"`` for a 4-hex-character key id that is not secret.
    ``EXAMPLE_KEY`` is public and only for development; ``require_production_key``
    refuses it (and any malformed key) outside development mode.

Tokens
    ``v1.<kid>.<urlsafe base64 without padding of nonce(12) + ciphertext + tag(16)>``.
    The GCM associated data binds the format version, the key id and the
    caller's ``context`` (say ``"resident.phone"``): a token copied into another
    column does not decrypt. A fresh random 96-bit nonce per call, so one key
    must not encrypt more than about 2**32 values; rotate long before that.

Rotation
    ``Vault(new_key, old_keys=[old_key])`` decrypts tokens of either key and
    encrypts with the new one. Lookup hashes depend on the key too: after a
    rotation, stored hashes must be recomputed (``lookup_hashes`` gives the
    hash under every key, for searching while that migration runs).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Iterable
from typing import overload

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

__all__ = [
    "EXAMPLE_KEY",
    "DecryptionError",
    "PrivacyKeyError",
    "RedactingFilter",
    "Vault",
    "generate_key",
    "install_log_redaction",
    "mask_name",
    "mask_phone",
    "normalize_phone",
    "redact",
    "require_production_key",
]

# urlsafe base64 of the 32 ASCII bytes b"community-workorder-example-key!".
# Public on purpose: anything encrypted with it is readable by anyone. Use it in
# development and tests only; the service refuses to start with it otherwise.
EXAMPLE_KEY: str = "Y29tbXVuaXR5LXdvcmtvcmRlci1leGFtcGxlLWtleSE="

KEY_BYTES = 32
_NONCE_BYTES = 12
_TAG_BYTES = 16
_VERSION = "v1"


class PrivacyKeyError(ValueError):
    """A master key that is malformed, or not acceptable in production."""


class DecryptionError(ValueError):
    """A token that cannot be decrypted: tampered, wrong key, wrong context, malformed."""


# --------------------------------------------------------------------------- keys

_B64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def _b64url_decode_strict(text: str) -> bytes | None:
    """Bytes of canonical urlsafe base64 (padding optional), else None."""
    if not _B64URL.fullmatch(text):
        return None
    body = text.rstrip("=")
    try:
        raw = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (binascii.Error, ValueError):
        return None
    # Reject non-canonical spellings (stray bits in the last character), so one
    # byte string has exactly one text form and a changed character never
    # decodes to the same bytes.
    if base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=") != body:
        return None
    return raw


def _parse_key(master_key: object) -> bytes:
    if not isinstance(master_key, str):
        raise PrivacyKeyError(
            f"the master key must be a string (urlsafe base64 of {KEY_BYTES} bytes), "
            f"not {type(master_key).__name__}"
        )
    text = master_key.strip()
    if not text:
        raise PrivacyKeyError(
            f"no master key given; expected urlsafe base64 of {KEY_BYTES} random bytes"
        )
    raw = _b64url_decode_strict(text)
    if raw is None:
        raise PrivacyKeyError(
            "the master key is not valid urlsafe base64 (alphabet A-Z a-z 0-9 - _, "
            "optional '=' padding)"
        )
    if len(raw) != KEY_BYTES:
        raise PrivacyKeyError(
            f"the master key decodes to {len(raw)} bytes; it must be exactly {KEY_BYTES}"
        )
    return raw


def _derive(raw: bytes, info: bytes, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=info).derive(raw)


_EXAMPLE_RAW = _parse_key(EXAMPLE_KEY)


def generate_key() -> str:
    """A fresh random master key, in the form ``Vault`` and the configuration expect."""
    return base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode("ascii")


def require_production_key(master_key: str, development: bool) -> None:
    """Refuse to run outside development mode with the example key or a malformed key.

    Call it at start-up, before anything is encrypted. In development mode it
    accepts anything (``Vault`` still rejects a malformed key). The messages
    never contain the key.
    """
    if development:
        return
    try:
        raw = _parse_key(master_key)
    except PrivacyKeyError as exc:
        raise PrivacyKeyError(
            f"refusing to start outside development mode: {exc}. "
            "Generate a key with privacy.generate_key() and keep it in the secret store."
        ) from None
    if hmac.compare_digest(raw, _EXAMPLE_RAW):
        raise PrivacyKeyError(
            "refusing to start outside development mode with the built-in example key "
            "(privacy.EXAMPLE_KEY is public, so residents' names and phone numbers would "
            "be readable by anyone). Configure a random key (privacy.generate_key()), "
            "or run in development mode."
        )
    if len(set(raw)) < 8:
        # 32 random bytes have ~30 distinct values; this catches placeholders
        # such as 32 zero bytes, never a generated key.
        raise PrivacyKeyError(
            "refusing to start outside development mode: the master key is a placeholder "
            "(almost all its bytes are the same), not a random key"
        )


class _Key:
    __slots__ = ("kid", "aead", "lookup")

    def __init__(self, raw: bytes) -> None:
        self.kid = _derive(raw, b"key-id", 2).hex()
        self.aead = AESGCM(_derive(raw, b"encrypt"))
        self.lookup = _derive(raw, b"lookup")


# ------------------------------------------------------------------------- vault

_TOKEN = re.compile(r"v1\.([0-9a-f]{4})\.([A-Za-z0-9_-]+)")
_KIND = re.compile(r"[a-z][a-z0-9_]*")
_SPACES = re.compile(r"\s+")


def _aad(kid: str, context: str) -> bytes:
    return f"{_VERSION}.{kid}.".encode("ascii") + context.encode("utf-8")


def _check_context(context: object) -> str:
    if not isinstance(context, str):
        raise TypeError(f"context must be a str, not {type(context).__name__}")
    return context


class Vault:
    """Encrypts and decrypts personal data and computes lookup hashes.

    ``Vault(master_key, old_keys=[...])``: the master key encrypts and hashes;
    old keys (from before a rotation) only decrypt. Keys are urlsafe base64 of
    32 bytes; a malformed one raises ``PrivacyKeyError``.
    """

    __slots__ = ("_current", "_keys", "_is_example")

    def __init__(self, master_key: str, old_keys: Iterable[str] | None = None) -> None:
        raw = _parse_key(master_key)
        if isinstance(old_keys, (str, bytes)):
            raise TypeError("old_keys must be a list of keys, not a single key")
        self._is_example = hmac.compare_digest(raw, _EXAMPLE_RAW)
        self._current = _Key(raw)
        self._keys = [self._current]
        seen = {raw}
        for old in old_keys or ():
            old_raw = _parse_key(old)
            if old_raw not in seen:
                seen.add(old_raw)
                self._keys.append(_Key(old_raw))

    def __repr__(self) -> str:  # never the key itself
        return f"<Vault key_id={self._current.kid} old_keys={len(self._keys) - 1}>"

    @property
    def is_example(self) -> bool:
        """True when the current master key is the public ``EXAMPLE_KEY``."""
        return self._is_example

    @property
    def key_id(self) -> str:
        """The 4-hex-character id of the current key, as written into new tokens."""
        return self._current.kid

    # ---- encryption

    @overload
    def encrypt(self, plain: str, context: str = "") -> str: ...
    @overload
    def encrypt(self, plain: None, context: str = "") -> None: ...
    @overload
    def encrypt(self, plain: str | None, context: str = "") -> str | None: ...

    def encrypt(self, plain: str | None, context: str = "") -> str | None:
        """An ASCII token ``v1.<kid>.<b64>`` for ``plain``; None stays None.

        ``context`` (e.g. the column name) must be given again to decrypt.
        """
        if plain is None:
            return None
        if not isinstance(plain, str):
            raise TypeError(f"can only encrypt str, not {type(plain).__name__}")
        context = _check_context(context)
        key = self._current
        nonce = secrets.token_bytes(_NONCE_BYTES)
        sealed = key.aead.encrypt(nonce, plain.encode("utf-8"), _aad(key.kid, context))
        body = base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")
        return f"{_VERSION}.{key.kid}.{body}"

    def decrypt(self, token: str | None, context: str = "") -> str | None:
        """The text in ``token``; None stays None. Raises ``DecryptionError``."""
        if token is None:
            return None
        if not isinstance(token, str):
            raise TypeError(f"a token is a str, not {type(token).__name__}")
        context = _check_context(context)
        match = _TOKEN.fullmatch(token)
        if match is None:
            raise DecryptionError("not a v1 token")
        kid, body = match.groups()
        raw = _b64url_decode_strict(body)
        if raw is None or len(raw) < _NONCE_BYTES + _TAG_BYTES:
            raise DecryptionError("malformed token")
        candidates = [k for k in self._keys if k.kid == kid]
        if not candidates:
            raise DecryptionError(f"token made with an unknown key (id {kid})")
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        aad = _aad(kid, context)
        for key in candidates:  # several only if two keys share a 16-bit id
            try:
                plain = key.aead.decrypt(nonce, sealed, aad)
            except InvalidTag:
                continue
            try:
                return plain.decode("utf-8")
            except UnicodeDecodeError:  # pragma: no cover - authenticated, so ours
                break
        raise DecryptionError(
            "token does not authenticate: tampered, wrong key or wrong context"
        )

    # ---- lookup hashes

    def lookup_hash(self, value: str, kind: str = "phone") -> str:
        """HMAC-SHA256 (hex) of ``kind + ":" + normalized value`` under the lookup key.

        ``kind="phone"`` normalises with ``normalize_phone`` (so spellings of one
        number hash alike) and raises ``ValueError`` for anything not a phone
        number; ``kind="caller"`` (a phone line's caller id) normalises a mainland
        number the same way and keeps other numbers of 3 to 15 digits (an
        extension, a number abroad, with its ``+``) as given. Other kinds
        (lower-case identifiers, e.g. ``"name"``) use NFKC, case folding and
        collapsed whitespace.
        """
        return self._hash(self._current, kind, _normalize_for_lookup(value, kind))

    def lookup_hashes(self, value: str, kind: str = "phone") -> list[str]:
        """The lookup hash under the current key, then under each old key.

        For searching while stored hashes are being recomputed after a rotation.
        """
        normalized = _normalize_for_lookup(value, kind)
        return [self._hash(key, kind, normalized) for key in self._keys]

    @staticmethod
    def _hash(key: _Key, kind: str, normalized: str) -> str:
        message = f"{kind}:{normalized}".encode()
        return hmac.new(key.lookup, message, hashlib.sha256).hexdigest()


def _normalize_for_lookup(value: str, kind: str) -> str:
    if not isinstance(kind, str) or not _KIND.fullmatch(kind):
        raise ValueError(f"kind must be a lower-case identifier such as 'phone', not {kind!r}")
    if not isinstance(value, str):
        raise TypeError(f"can only hash str, not {type(value).__name__}")
    if kind == "phone":
        phone = normalize_phone(value)
        if phone is None:
            raise ValueError("not a mainland mobile or landline number")
        return phone
    if kind == "caller":  # a caller id: a mainland number as "phone", else 3-15 digits
        caller = normalize_phone(value)
        if caller is None:
            text = value.strip().translate(_TO_ASCII)
            digits = text.removeprefix("+")
            if not (digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 15):
                raise ValueError("not a caller number")
            caller = text
        return caller
    normalized = _SPACES.sub(" ", unicodedata.normalize("NFKC", value)).strip().casefold()
    if not normalized:
        raise ValueError("cannot hash an empty value")
    return normalized


# ------------------------------------------------------------------------ phones

_ASCII_DIGITS = "0123456789"
_TO_ASCII = str.maketrans({**{chr(0xFF10 + i): str(i) for i in range(10)}, "＋": "+"})
# Spaces (incl. no-break and ideographic), dashes of every width, parentheses.
_PHONE_SEPARATORS = frozenset(" \t\u00a0\u3000-‐‑‒–—―－﹣()（）")
_MOBILE = re.compile(r"1[3-9][0-9]{9}")
# Area codes: 010, 02x (3 digits), 0[3-9]xx (4 digits); local numbers 7-8 digits.
_LANDLINE = re.compile(r"0(?:10|2[0-9])[0-9]{7,8}|0[3-9][0-9]{2}[0-9]{7,8}")


def _national(digits: str, international: bool) -> str | None:
    if _MOBILE.fullmatch(digits):
        return digits
    if len(digits) == 12 and digits[0] == "0" and _MOBILE.fullmatch(digits[1:]):
        return digits[1:]  # a trunk 0 dialled before a mobile
    if _LANDLINE.fullmatch(digits):
        return digits
    if international and digits[:1] != "0" and _LANDLINE.fullmatch("0" + digits):
        return "0" + digits  # +86 10 1234 5678: the trunk 0 is left out after +86
    return None


def normalize_phone(text: str) -> str | None:
    """The canonical mainland number in ``text``, or None if it is not one.

    Accepts ASCII and full-width digits, spaces, dashes and parentheses, and a
    leading +86 / 0086 (or a bare 86 before an 11-digit mobile). Returns the
    11-digit mobile (``1[3-9]xxxxxxxxx``) or the landline with its area code
    (``0`` + 9 to 11 digits). Anything else, including other text around the
    number, gives None: this reads a phone field, ``redact`` searches free text.
    """
    if not isinstance(text, str):
        return None
    s = text.translate(_TO_ASCII).strip()
    plus = s.startswith("+")
    if plus:
        s = s[1:]
    digits = []
    for ch in s:
        if ch in _ASCII_DIGITS:
            digits.append(ch)
        elif ch not in _PHONE_SEPARATORS:
            return None
    d = "".join(digits)
    if plus:
        return _national(d[2:], True) if d.startswith("86") else None
    if d.startswith("0086"):
        return _national(d[4:], True)
    if len(d) == 13 and d.startswith("86") and _MOBILE.fullmatch(d[2:]):
        return d[2:]
    return _national(d, False)


def _mask_normalized(phone: str) -> str:
    if phone[0] == "1":
        return f"{phone[:3]}****{phone[-4:]}"
    area_len = 3 if phone[1] in "12" else 4
    area, local = phone[:area_len], phone[area_len:]
    return f"{area}-{'*' * (len(local) - 2)}{local[-2:]}"


def mask_phone(text: str) -> str:
    """``138****5678`` for a mobile, ``010-******78`` for a landline, else ``***``."""
    phone = normalize_phone(text)
    return "***" if phone is None else _mask_normalized(phone)


# ------------------------------------------------------------------------- names

_CJK = re.compile(
    "[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0002ebef\U00030000-\U0003134f]"
)


def mask_name(text: str) -> str:
    """``张*``, ``欧***`` for Chinese names (first character kept); ``J***`` for others.

    Chinese: the first character (normally the surname, which alone identifies
    nobody) and one ``*`` per further character, so a one-character name gives
    ``张*``. Other scripts: the first letter and ``***``, whatever the length.
    Empty or unreadable input gives ``***``.
    """
    if not isinstance(text, str):
        return "***"
    name = unicodedata.normalize("NFKC", text).strip()
    if not name:
        return "***"
    first = name[0]
    if _CJK.match(first):
        rest = [ch for ch in name[1:] if not ch.isspace()]
        return first + "*" * max(1, len(rest))
    if first.isalpha():
        return first + "***"
    return "***"


# ------------------------------------------------------------------------- redact

_D = "[0-9０-９]"
_SEP = "[ \u00a0\u3000\\-‐‑‒–—―－]"
_INTL = f"(?:[+＋]|00)86{_SEP}?"
_MOBILE_TEXT = f"[1１][3-9３-９]{_D}{_SEP}?{_D}{{4}}{_SEP}?{_D}{{4}}"
_AREA = f"[0０](?:[1１][0０]|[2２]{_D}|[3-9３-９]{_D}{{2}})"
_AREA_INTL = f"[0０]?(?:[1１][0０]|[2２]{_D}|[3-9３-９]{_D}{{2}})"
_LOCAL = f"(?:{_D}{{7,8}}|{_D}{{3,4}}{_SEP}{_D}{{4}})"
_PHONE_IN_TEXT = (
    f"(?<![0-9０-９])(?:"
    f"(?:{_INTL}|86)?{_MOBILE_TEXT}"
    f"|[(（]{_AREA}[)）]{_SEP}?{_LOCAL}"
    f"|{_INTL}[(（]?{_AREA_INTL}[)）]?{_SEP}?{_LOCAL}"
    f"|{_AREA}{_SEP}?{_LOCAL}"
    f")(?![0-9０-９])"
)
# Identifiers that log lines carry and whose digit groups can look like a
# phone number (a UUID's "-0755-1234-5678-", a run of digits inside a hex
# trace id): matched first and kept whole.
_H = "[0-9a-fA-F]"
_IDENTIFIER = (
    f"(?<![0-9A-Za-z])(?:{_H}{{8}}-{_H}{{4}}-{_H}{{4}}-{_H}{{4}}-{_H}{{12}}"
    f"|(?=[0-9]*[a-fA-F]){_H}{{16,}})(?![0-9A-Za-z])"
)
_REDACT = re.compile(f"(?P<keep>{_IDENTIFIER})|{_PHONE_IN_TEXT}")


def _redact_match(match: re.Match[str]) -> str:
    if match.group("keep") is not None:
        return match.group()
    phone = normalize_phone(match.group())
    return match.group() if phone is None else _mask_normalized(phone)


def redact(text: str) -> str:
    """``text`` with every mainland phone number masked as by ``mask_phone``.

    Finds mobiles (also written 138 1234 5678, 138-1234-5678, +86 ...) and
    landlines (010-12345678, (0755)1234567, ...) that are not part of a longer
    run of digits. Work-order numbers (8 digits, never starting with 0),
    other digit runs, UUIDs and hex ids of 16+ characters are left alone.
    Only phone numbers: names in free text are not recognised.
    """
    if not isinstance(text, str):
        text = str(text)
    return _REDACT.sub(_redact_match, text)


# ------------------------------------------------------------------------ logging


class RedactingFilter(logging.Filter):
    """Masks phone numbers in a record's message (after ``%`` formatting), traceback and stack.

    Attach it to handlers: a filter on a logger does not see records that
    propagate to it from child loggers (``install_log_redaction`` does both).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # bad args: leave it to the handler to report
            return True
        record.msg = redact(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def install_log_redaction(logger: logging.Logger | None = None) -> RedactingFilter:
    """Add a ``RedactingFilter`` to ``logger`` (root if None) and to each of its handlers.

    Idempotent. Handlers added to the logger afterwards need the filter too
    (``handler.addFilter(the returned filter)``). Returns the filter.
    """
    target = logger if logger is not None else logging.getLogger()
    existing = next((f for f in target.filters if isinstance(f, RedactingFilter)), None)
    flt = existing or RedactingFilter()
    if existing is None:
        target.addFilter(flt)
    for handler in target.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(flt)
    return flt
