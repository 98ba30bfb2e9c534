"""Phone callers recorded before ``voice:h:``: their plain numbers become keyed hashes.

Until the phone line named callers ``voice:h:<keyed hash>`` (``integrations.
shared.identity``), a caller was ``voice:<number>`` in the orders, the
callback requests, staged photos and the outbox (its recipient and dedupe
key). ``hash_legacy_caller_refs`` rewrites those ids in one transaction; an
order or request without a contact gets the number as its contact, encrypted
(unless the report was anonymous), so status changes still reach the caller;
pending ``voice`` outbox rows get it as ``phone_enc`` for the SMS sender.
Idempotent: a second run finds nothing to do. ``voice:unknown-<call>`` ids
(withheld numbers) are left as they are.
"""

from __future__ import annotations

from collections import Counter
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session, sessionmaker

from integrations.shared.identity import caller_ref, caller_refs_all_keys
from integrations.shared.privacy import DecryptionError, Vault, normalize_phone

from ..adapters.orm import Attachment, CallbackRequest, OutboxMessage, WorkOrder
from ..adapters.outbox_table import PENDING
from .callbacks import CONTACT_CONTEXT as CALLBACK_CONTACT
from .orders import CONTACT_CONTEXT as ORDER_CONTACT
from .outbox import PHONE_CONTEXT
from .uow import UnitOfWork


def legacy_number(ref: str | None) -> str | None:
    """The number in a ``voice:<number>`` id; None for anything else."""
    if not ref or not ref.startswith("voice:") or ref.startswith(("voice:h:", "voice:unknown-")):
        return None
    number = ref.removeprefix("voice:")
    digits = number.removeprefix("+")
    return number if digits.isascii() and digits.isdigit() and 3 <= len(digits) <= 15 else None


def _new_ref(vault: Vault, ref: str) -> tuple[str, str] | None:
    number = legacy_number(ref)
    if number is None:
        return None
    try:
        return caller_ref(vault, number), number
    except ValueError:
        return None


def hash_legacy_caller_refs(uow: UnitOfWork) -> dict[str, int]:
    """Rewrite every ``voice:<number>`` id; how many rows of each kind changed."""
    vault = uow.config.vault
    counts: Counter[str] = Counter()
    with uow:
        session = uow.session
        like = WorkOrder.reporter_ref.like("voice:%")
        for order in session.scalars(select(WorkOrder).where(like)):
            new = _new_ref(vault, order.reporter_ref)
            if new is None:
                continue
            order.reporter_ref, number = new
            phone = normalize_phone(number)
            if order.reporter_contact_enc is None and phone and not order.anonymous:
                order.reporter_contact_enc = vault.encrypt(phone, context=ORDER_CONTACT)
                order.reporter_contact_hash = vault.lookup_hash(phone)
            counts["orders"] += 1
        for request in session.scalars(
                select(CallbackRequest).where(CallbackRequest.reporter_ref.like("voice:%"))):
            new = _new_ref(vault, request.reporter_ref)
            if new is None:
                continue
            request.reporter_ref, number = new
            phone = normalize_phone(number)
            if request.contact_enc is None and phone:
                request.contact_enc = vault.encrypt(phone, context=CALLBACK_CONTACT)
                request.contact_hash = vault.lookup_hash(phone)
            counts["callbacks"] += 1
        for photo in session.scalars(
                select(Attachment).where(Attachment.reporter_ref.like("voice:%"))):
            new = _new_ref(vault, photo.reporter_ref)
            if new is not None:
                photo.reporter_ref = new[0]
                counts["attachments"] += 1
        for message in session.scalars(
                select(OutboxMessage).where(OutboxMessage.recipient_ref.like("voice:%"))):
            new = _new_ref(vault, message.recipient_ref)
            if new is None:
                continue
            old = message.recipient_ref
            message.recipient_ref, number = new
            message.dedupe_key = message.dedupe_key.replace(old, new[0])
            payload = dict(message.payload or {})
            if message.channel == "voice" and message.status == PENDING and "phone_enc" not in payload:
                payload["phone_enc"] = vault.encrypt(number, context=PHONE_CONTEXT)
                message.payload = payload
            counts["outbox"] += 1
        uow.commit()
    return {kind: counts[kind] for kind in ("orders", "callbacks", "attachments", "outbox")}


# ------------------------------------------------------------- after a key rotation


def _numbers_by_ref(session: Session, vault: Vault) -> dict[str, set[str]]:
    """Every number the database holds for each ``voice:h:`` ref (decrypted contacts)."""
    found: dict[str, set[str]] = {}
    sources = (
        (select(WorkOrder.reporter_ref, WorkOrder.reporter_contact_enc)
         .where(WorkOrder.reporter_ref.like("voice:h:%"), WorkOrder.reporter_contact_enc.is_not(None)),
         ORDER_CONTACT),
        (select(CallbackRequest.reporter_ref, CallbackRequest.contact_enc)
         .where(CallbackRequest.reporter_ref.like("voice:h:%"), CallbackRequest.contact_enc.is_not(None)),
         CALLBACK_CONTACT),
    )
    for query, context in sources:
        for ref, token in session.execute(query):
            try:
                number = vault.decrypt(token, context=context)
            except DecryptionError:
                continue
            if number:
                found.setdefault(ref, set()).add(number)
    for ref, payload in session.execute(
            select(OutboxMessage.recipient_ref, OutboxMessage.payload)
            .where(OutboxMessage.recipient_ref.like("voice:h:%"))):
        token = (payload or {}).get("phone_enc")
        if isinstance(token, str):
            try:
                number = vault.decrypt(token, context=PHONE_CONTEXT)
            except DecryptionError:
                continue
            if number:
                found.setdefault(ref, set()).add(number)
    return found


def rekey_caller_refs(sessions: sessionmaker[Session], vault: Vault, batch: int = 500) -> int:
    """After ``rotate-key``: ``voice:h:`` refs made under an old key, made under the current one.

    A ref is recomputed when the database holds the caller's number (the
    order's or callback's contact, or a pending SMS): the number whose hash
    under an old key is the stored ref. A caller who left no number keeps the
    old ref (their orders stay, but a new call is a new caller). The rows of
    one ref change in one transaction; a second run finds nothing to do.
    Returns the number of rows changed.
    """
    with sessions() as session:
        numbers = _numbers_by_ref(session, vault)
    mapping: dict[str, str] = {}
    for ref, candidates in numbers.items():
        for number in candidates:
            try:
                refs = caller_refs_all_keys(vault, number)
            except ValueError:
                continue
            if ref in refs[1:]:
                mapping[ref] = refs[0]
                break
    changed = 0
    for old, new in mapping.items():
        with sessions() as session, session.begin():
            for model, column in ((WorkOrder, WorkOrder.reporter_ref),
                                  (CallbackRequest, CallbackRequest.reporter_ref),
                                  (Attachment, Attachment.reporter_ref)):
                result = session.execute(
                    update(model).where(column == old).values({column.key: new})
                    .execution_options(synchronize_session=False))
                changed += cast("CursorResult[Any]", result).rowcount or 0
            for message in session.scalars(
                    select(OutboxMessage).where(OutboxMessage.recipient_ref == old)):
                message.recipient_ref = new
                message.dedupe_key = message.dedupe_key.replace(old, new)
                changed += 1
    return changed
