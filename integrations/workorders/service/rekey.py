"""Key rotation: re-encrypt every encrypted column under the current key and
recompute every keyed ``*_hash`` lookup column.

    settings: WORKORDERS_SECRET_KEY=<new key>, WORKORDERS_OLD_SECRET_KEYS=<old key>[,<older>]
    python -m integrations.workorders rotate-key

The vault decrypts tokens of any of its keys (the token names its key id) and
encrypts with the current one. ``rotate_key`` walks each table by primary key
in batches of ``batch`` rows, one transaction per batch, so it can be stopped
and run again at any time: a value whose token already carries the current key
id is left alone (its hash was written with it, in the same transaction), so a
second run changes nothing and an interrupted run resumes where it stopped.
Each row is updated only if its token is still the one read (a concurrent
writer wins). After a complete run without failures the old keys can be
removed from the configuration.

Pseudonymous references (a reporter ref that embeds a keyed hash, such as
``voice:h:<hash>``) depend on the key too. ``rotate_key`` takes them through
the ``rekey_refs`` hook (``RefRekeyer``); the CLI passes
``service.caller_refs.rekey_caller_refs``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Table, and_, select, update
from sqlalchemy.orm import Session, sessionmaker

from integrations.shared.privacy import DecryptionError, Vault

from ..adapters.orm import CallbackRequest, Handler, WorkOrder
from .callbacks import CONTACT_CONTEXT as CALLBACK_CONTACT_CONTEXT
from .callbacks import TRANSCRIPT_CONTEXT
from .handlers import NAME_CONTEXT, PHONE_CONTEXT
from .orders import CONTACT_CONTEXT as ORDER_CONTACT_CONTEXT

DEFAULT_BATCH = 200


@dataclass(frozen=True)
class EncryptedColumn:
    """An encrypted column, its decryption context, and the lookup hash kept beside it."""

    enc: str
    context: str
    hash: str | None = None
    hash_kind: str = "phone"


@dataclass(frozen=True)
class EncryptedTable:
    table: Table
    columns: tuple[EncryptedColumn, ...]

    @property
    def name(self) -> str:
        return self.table.name


#: Every table with personal data encrypted at rest (``*_enc``) and its keyed hashes.
ENCRYPTED_TABLES: tuple[EncryptedTable, ...] = (
    EncryptedTable(Handler.__table__, (
        EncryptedColumn("name_enc", NAME_CONTEXT),
        EncryptedColumn("phone_enc", PHONE_CONTEXT, hash="phone_hash"),
    )),
    EncryptedTable(WorkOrder.__table__, (
        EncryptedColumn("reporter_contact_enc", ORDER_CONTACT_CONTEXT,
                        hash="reporter_contact_hash"),
    )),
    EncryptedTable(CallbackRequest.__table__, (
        EncryptedColumn("transcript_enc", TRANSCRIPT_CONTEXT),
        EncryptedColumn("contact_enc", CALLBACK_CONTACT_CONTEXT, hash="contact_hash"),
    )),
)

#: The hook for pseudonymous references: given a session factory, the vault
#: (current key plus old keys) and the batch size, re-key every stored ref
#: that embeds a keyed hash and return how many rows it changed.
RefRekeyer = Callable[[sessionmaker[Session], Vault, int], int]


@dataclass
class TableCount:
    scanned: int = 0
    rekeyed: int = 0  # rows whose tokens (and hashes) were rewritten under the current key
    current: int = 0  # rows already under the current key (or with nothing encrypted)
    failed: int = 0  # rows with a token no configured key opens (left unchanged)
    changed_meanwhile: int = 0  # rows a concurrent writer changed between read and update


@dataclass
class RekeyReport:
    key_id: str
    tables: dict[str, TableCount] = field(default_factory=dict)
    refs_rekeyed: int | None = None  # None: no ``rekey_refs`` hook was given

    @property
    def failed(self) -> int:
        return sum(c.failed for c in self.tables.values())


def token_key_id(token: str) -> str | None:
    """The key id a ``v1.<kid>.<body>`` token names, or None if it is not such a token."""
    parts = token.split(".", 2)
    return parts[1] if len(parts) == 3 and parts[0] == "v1" else None


def rotate_key(
    session_factory: sessionmaker[Session],
    vault: Vault,
    *,
    batch: int = DEFAULT_BATCH,
    tables: Sequence[EncryptedTable] = ENCRYPTED_TABLES,
    rekey_refs: RefRekeyer | None = None,
    progress: Callable[[str, TableCount], None] | None = None,
) -> RekeyReport:
    """Bring every encrypted value and lookup hash under ``vault``'s current key (module doc)."""
    if batch < 1:
        raise ValueError("batch must be at least 1")
    report = RekeyReport(key_id=vault.key_id)
    for spec in tables:
        count = report.tables[spec.name] = TableCount()
        last_id = 0
        while True:
            with session_factory() as session, session.begin():
                last_id, more = _rekey_batch(session, vault, spec, last_id, batch, count)
            if progress is not None:
                progress(spec.name, count)
            if not more:
                break
    if rekey_refs is not None:
        report.refs_rekeyed = rekey_refs(session_factory, vault, batch)
    return report


def _rekey_batch(
    session: Session, vault: Vault, spec: EncryptedTable, after_id: int, batch: int,
    count: TableCount,
) -> tuple[int, bool]:
    table = spec.table
    wanted = [table.c.id] + [table.c[col.enc] for col in spec.columns]
    rows = session.execute(
        select(*wanted).where(table.c.id > after_id).order_by(table.c.id).limit(batch)
    ).all()
    for row in rows:
        count.scanned += 1
        values: dict[str, object] = {}
        guards = [table.c.id == row.id]
        failed = False
        for col in spec.columns:
            token = getattr(row, col.enc)
            if token is None or token_key_id(token) == vault.key_id:
                continue
            try:
                plain = vault.decrypt(token, context=col.context)
            except DecryptionError:
                failed = True
                break
            values[col.enc] = vault.encrypt(plain, context=col.context)
            guards.append(table.c[col.enc] == token)
            if col.hash is not None and plain is not None:
                values[col.hash] = vault.lookup_hash(plain, col.hash_kind)
        if failed:
            count.failed += 1
        elif not values:
            count.current += 1
        elif _updated(session.execute(update(table).where(and_(*guards)).values(**values))):
            count.rekeyed += 1
        else:
            count.changed_meanwhile += 1
    return (rows[-1].id if rows else after_id), len(rows) == batch


def _updated(result: object) -> bool:
    return bool(getattr(result, "rowcount", 0))
