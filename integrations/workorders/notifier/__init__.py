"""The notifier: delivers the outbox (DESIGN.md, "Processes and data flow").

The work-order service writes one ``OutboxMessage`` row per notification in
the same transaction as the change it announces. The notifier leases due rows,
hands each to the ``Sender`` registered for its channel, and records the
outcome: delivered, retried later with exponential backoff, or dead (a
permanent failure or too many attempts; an operator looks at those).

Guarantees
    At least once: a row is delivered until a sender accepts it; after a crash
    its lease expires and any notifier process delivers it again. A receiver
    sees each message once in effect by de-duplicating on the dedupe key
    (``Idempotency-Key`` for webhooks).
    Several processes at once: a row is leased by one process at a time
    (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, ``BEGIN IMMEDIATE``
    on SQLite), and only the holder of the current lease records an outcome.

Modules
    ``senders``  the ``Sender`` protocol, ``Delivery``, errors, the log and
                 webhook senders, ``SenderRegistry``, ``verify_signature``.
    ``delivery`` ``claim``, ``deliver_batch``, ``drain``, ``run_forever``.
    ``process``  arguments, the service's senders, the run loop; the process is
                 ``python -m integrations.notifier [--once]`` (it adds the channels).
"""

from integrations.shared.delivery import (
    Delivery,
    DeliveryError,
    PermanentError,
    Sender,
    TransientError,
)

from .delivery import (
    DEFAULT_BATCH,
    DEFAULT_LEASE_S,
    DEFAULT_MAX_ATTEMPTS,
    Counts,
    backoff_delay,
    claim,
    deliver_batch,
    drain,
    release,
    run_forever,
)
from .senders import LogSender, SenderRegistry, WebhookSender, sign, verify_signature

__all__ = [
    "DEFAULT_BATCH",
    "DEFAULT_LEASE_S",
    "DEFAULT_MAX_ATTEMPTS",
    "Counts",
    "Delivery",
    "DeliveryError",
    "LogSender",
    "PermanentError",
    "Sender",
    "SenderRegistry",
    "TransientError",
    "WebhookSender",
    "backoff_delay",
    "claim",
    "deliver_batch",
    "drain",
    "release",
    "run_forever",
    "sign",
    "verify_signature",
]
