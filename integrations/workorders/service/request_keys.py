"""Idempotency keys for a channel's requests on an existing order.

    request = KeyedRequest(caller="actions", key=key, order_number=number,
                           fingerprint=fingerprint(["cancel", number, body]))
    if is_replay(uow, request): ...answer from the order as it is...
    claim_on_commit(uow, request, now)      # then run the change with the same uow

The key is written in the same transaction as the change (``UnitOfWork.
before_next_commit``), so the change and its key commit together or not at
all: a retry finds the key and changes nothing. Two copies of one request at
once: the second waits for the first (the order's row lock, or the key's
unique index) and then finds its key (``KeyTaken`` if it is the index). The
same key for a different request (another endpoint, order, resident or body)
is ``Conflict``. Keys are kept for ``KEY_RETENTION``; older ones are deleted
as new ones are written.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from ..adapters.request_keys_table import RequestKey
from .errors import Conflict
from .uow import UnitOfWork

KEY_RETENTION = timedelta(days=7)
REUSED_ZH = "请求标识已被使用，请重新提交。"


class KeyTaken(Exception):
    """A concurrent request with the same key committed first: answer as a replay."""


@dataclass(frozen=True)
class KeyedRequest:
    caller: str
    key: str
    fingerprint: str
    order_number: str


def fingerprint(parts: Any) -> str:
    """sha256 of ``parts`` as canonical JSON (what the request asked)."""
    text = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_replay(uow: UnitOfWork, request: KeyedRequest) -> bool:
    """Whether this request was applied already; ``Conflict`` if its key was used for
    another request."""
    with uow.read_only():
        row = uow.session.scalar(select(RequestKey).where(
            RequestKey.caller == request.caller, RequestKey.key == request.key))
        if row is None:
            return False
        if row.fingerprint != request.fingerprint or row.order_number != request.order_number:
            raise Conflict("the Idempotency-Key was used for another request", REUSED_ZH)
        return True


def claim_on_commit(uow: UnitOfWork, request: KeyedRequest, now: datetime) -> None:
    """Write the key in the next transaction ``uow`` commits (the change it guards)."""

    def write(session: Session) -> None:
        session.execute(delete(RequestKey).where(RequestKey.created_at < now - KEY_RETENTION))
        try:
            with session.begin_nested():
                session.add(RequestKey(caller=request.caller, key=request.key,
                                       fingerprint=request.fingerprint,
                                       order_number=request.order_number, created_at=now))
        except IntegrityError:
            raise KeyTaken(request.key) from None

    uow.before_next_commit(write)
