"""Hash-chained audit events, one chain per work order.

Each event's ``hash`` is sha256 over the previous event's hash and the
canonical JSON of its own fields, so editing, deleting or reordering history
breaks the chain. One chain per order: its events are already serialized by
the order's row lock, whereas a global chain would serialize every write.

Two strengthenings are optional: pass ``key`` (a secret kept outside the
database) to use HMAC-SHA256, so someone who can rewrite the table cannot
recompute a valid chain; pass ``head`` (the last hash, kept on the order row)
to ``verify`` so that deleting the latest events is detected too.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from enum import Enum

GENESIS = "0" * 64

#: The fields an event's hash covers.
EVENT_FIELDS = (
    "order_number", "seq", "action", "actor", "at", "from_status", "to_status", "note",
)

_HEX = frozenset("0123456789abcdef")


def _same(stored: object, expected: str) -> bool:
    """Constant-time equality of a stored value (any type) and a hex digest."""
    return isinstance(stored, str) and hmac.compare_digest(
        stored.encode("utf-8"), expected.encode("ascii")
    )


def _plain(value: object) -> object:
    if isinstance(value, datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError("audit datetimes must be timezone-aware")
        return value.astimezone(UTC).isoformat(timespec="microseconds")
    if isinstance(value, Enum):
        return value.value
    return value


def _canonical_json(fields: Mapping[str, object]) -> str:
    missing = [name for name in EVENT_FIELDS if name not in fields]
    if missing:
        raise KeyError(f"event fields missing: {', '.join(missing)}")
    return json.dumps(
        {name: _plain(fields[name]) for name in EVENT_FIELDS},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
        allow_nan=False,
    )


def event_digest(prev_hash: str, fields: Mapping[str, object], *, key: bytes | None = None) -> str:
    """Hex digest chaining ``prev_hash`` (``GENESIS`` for the first event) to ``fields``.

    Only ``EVENT_FIELDS`` are covered (all required; ``note`` may be None), so a
    stored row with extra columns can be passed as is. Datetimes must be
    timezone-aware and are hashed as ISO 8601 UTC.
    """
    if len(prev_hash) != 64 or not set(prev_hash) <= _HEX:
        raise ValueError("prev_hash must be 64 lowercase hex digits")
    data = (prev_hash + _canonical_json(fields)).encode("utf-8")
    if key is not None:
        return hmac.new(key, data, hashlib.sha256).hexdigest()
    return hashlib.sha256(data).hexdigest()


def verify(
    events: Sequence[Mapping[str, object]], *, key: bytes | None = None, head: str | None = None
) -> int | None:
    """Index of the first event that breaks the chain, or None if intact.

    Events are one order's, in ``seq`` order, each with its stored ``hash``
    and optionally ``prev_hash``. An event breaks the chain when a covered
    field is missing, its ``prev_hash`` is not the previous event's hash, or
    its ``hash`` does not match. With ``head`` (the last hash as recorded on
    the order), an intact chain that goes past it returns the index of the
    first event after it (appended), one that never reaches it returns
    ``len(events)`` (events deleted at the end).
    """
    prev = GENESIS
    hashes: list[str] = []
    for index, event in enumerate(events):
        stored_prev = event.get("prev_hash")
        if stored_prev is not None and stored_prev != prev:
            return index
        if any(name not in event for name in EVENT_FIELDS):
            return index
        stored = event.get("hash")
        expected = event_digest(prev, event, key=key)
        if not _same(stored, expected):
            return index
        prev = expected
        hashes.append(expected)
    if head is not None and not _same(head, prev):
        matches = [i for i, h in enumerate(hashes) if _same(head, h)]
        return matches[0] + 1 if matches else len(events)
    return None
