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

from sqlalchemy import select

from integrations.shared.identity import caller_ref
from integrations.shared.privacy import Vault, normalize_phone

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
