"""``Idempotency-Key`` on a channel's requests on an existing order.

Creating orders and callbacks keeps the key on the row it makes (``client_ref``);
what changes an existing order (cancel, satisfaction, attach, location, a photo)
keeps it in ``request_keys``, written in the change's own transaction
(``service.request_keys``). A retry with the same key changes nothing and
gets the order as the first call left it (as it is now); the same key for
another request is 409.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Annotated, Any, TypeVar

from fastapi import Header
from pydantic import BaseModel

from ..domain.errors import DomainError
from ..domain.numbers import normalize
from ..service import UnitOfWork
from ..service.request_keys import KeyedRequest, KeyTaken, claim_on_commit, fingerprint, is_replay
from .deps import Principal

T = TypeVar("T")

IdempotencyKey = Annotated[str | None, Header(
    alias="Idempotency-Key", min_length=1, max_length=128,
    description="The same key on a retry: applied once, answered again",
)]


def once(
    uow: UnitOfWork,
    now: datetime,
    principal: Principal,
    key: str | None,
    *,
    action: str,
    number: str,
    body: BaseModel | None,
    apply: Callable[[], T],
    replay: Callable[[str], T],
) -> T:
    """``apply()`` once per ``key``; on a repeat, ``replay(order number)``."""
    if not key:
        return apply()
    canonical = normalize(number) or number
    parts: list[Any] = [action, canonical, None if body is None else body.model_dump(mode="json")]
    request = KeyedRequest(caller=principal.actor, key=key, fingerprint=fingerprint(parts),
                           order_number=canonical[:8])
    if is_replay(uow, request):
        return replay(canonical)
    claim_on_commit(uow, request, now)
    try:
        return apply()
    except KeyTaken:
        is_replay(uow, request)  # Conflict if the winner asked something else
        return replay(canonical)
    except DomainError:
        # a concurrent copy committed while this one waited for the order: it is a replay
        if is_replay(uow, request):
            return replay(canonical)
        raise
