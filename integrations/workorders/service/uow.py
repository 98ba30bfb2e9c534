"""The unit of work: one database transaction, and the only place that commits.

    uow = UnitOfWork(session_factory, config)   # per request / per job
    view = accept(uow, "57401920", handler_id=3, now=now)

Use cases enter the unit of work themselves (``with uow:``), do their reads
and writes through ``uow.session`` and call ``uow.commit()`` at the end;
leaving the block without a commit, or with an exception, rolls back. A unit
of work can be entered again after it was left (each time a new session and
transaction), which lets a use case follow up in a separate short transaction
(e.g. dispatching queued orders after capacity freed).

``with uow.read_only():`` is for queries: on SQLite it begins a deferred
transaction (a WAL snapshot, no write lock); it never commits.

A unit of work belongs to one thread at a time (like its session): make one
per request or job from the factory built at start-up (``bootstrap.App.uow``).

``before_next_commit(write)``: ``write(session)`` runs in the next committed
transaction, just before its commit (e.g. an idempotency key written together
with the change it guards).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import TracebackType

from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from ..adapters.db import READ_ONLY
from .config import ServiceConfig
from .errors import Conflict


class UnitOfWork:
    """A session's lifetime and its transaction; see the module docstring."""

    def __init__(self, session_factory: sessionmaker[Session], config: ServiceConfig) -> None:
        self._session_factory = session_factory
        self.config = config
        self._session: Session | None = None
        self._before_commit: list[Callable[[Session], None]] = []

    @property
    def session(self) -> Session:
        """The session of the current transaction (only inside ``with uow``)."""
        if self._session is None:
            raise RuntimeError("the unit of work is not active: use `with uow:`")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._open(read_only=False)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._close()

    @contextmanager
    def read_only(self) -> Iterator[UnitOfWork]:
        """Enter for reading only; everything is rolled back at the end."""
        self._open(read_only=True)
        try:
            yield self
        finally:
            self._close()

    def before_next_commit(self, write: Callable[[Session], None]) -> None:
        """Run ``write(session)`` in the next transaction that commits, before it commits."""
        self._before_commit.append(write)

    def commit(self) -> None:
        """Commit the transaction; a lost optimistic-lock race becomes ``Conflict``."""
        writes, self._before_commit = self._before_commit, []
        for write in writes:
            write(self.session)
        try:
            self.session.commit()
        except StaleDataError as exc:
            self.session.rollback()
            raise Conflict(f"concurrent update: {exc}") from exc

    def rollback(self) -> None:
        self.session.rollback()

    def _open(self, *, read_only: bool) -> None:
        if self._session is not None:
            raise RuntimeError("the unit of work is already active (no nesting)")
        options = {READ_ONLY: True} if read_only else {}
        self._session = self._session_factory(execution_options=options)

    def _close(self) -> None:
        session, self._session = self._session, None
        if session is not None:
            try:
                session.rollback()
            finally:
                session.close()
