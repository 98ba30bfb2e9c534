"""Signing in to the web console: passwords, throttling and sessions.

    signed = sign_in(uow, "alice", password, "10.0.0.5", now, policy)   # SignedIn
    session = session_by_token(uow, signed.token, now, policy)          # SessionView | None
    sign_out(uow, signed.token)

A password is checked against its argon2id hash (argon2-cffi). At most
``policy.max_failures`` failed sign-ins per account and per address in
``policy.window``: once either is reached, the next attempt is refused with
``TooManyAttempts`` before the password is looked at, so a correct guess after
five wrong ones fails too. Unknown names, disabled accounts and accounts
without a password fail exactly like a wrong password (same answer, an argon2
check of the same cost), so nobody learns which usernames exist.

A session is the sha256 of a random cookie token; it ends at sign-out, after
``policy.idle`` without a request, at ``policy.lifetime``, and when its account
is disabled or gets a new password (``staff.set_password``,
``staff.set_staff_active`` delete its sessions).
"""

from __future__ import annotations

import functools
import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import delete, func, or_, select

from ..adapters.orm import ConsoleSession, SignInFailure, StaffUser
from .common import require_aware
from .errors import InvalidInput, TooManyAttempts
from .uow import UnitOfWork

_HASHER = PasswordHasher()
#: a session's last_seen_at is written at most this often (not on every request)
TOUCH_EVERY = timedelta(seconds=60)
WRONG_ZH = "用户名或密码不正确。"


@dataclass(frozen=True)
class SignInPolicy:
    """How long sessions last and how many failures are allowed."""

    idle: timedelta = timedelta(minutes=30)
    lifetime: timedelta = timedelta(hours=12)
    window: timedelta = timedelta(minutes=15)
    max_failures: int = 5


@dataclass(frozen=True)
class SessionView:
    """A live session and the account it belongs to."""

    staff_user_id: int
    username: str
    role: str
    handler_id: int | None
    areas: tuple[str, ...]
    csrf_token: str
    created_at: datetime


@dataclass(frozen=True)
class SignedIn:
    """A new session: ``token`` goes into the cookie and nowhere else."""

    token: str
    session: SessionView


class WrongCredentials(InvalidInput):
    """The username or the password is wrong (or the account cannot sign in)."""

    def __init__(self) -> None:
        super().__init__("password", "wrong username or password", WRONG_ZH)


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def _name_key(username: str) -> str:
    return (username or "").strip().lower()[:64]


def sign_in(
    uow: UnitOfWork,
    username: str,
    password: str,
    address: str,
    now: datetime,
    policy: SignInPolicy = SignInPolicy(),
) -> SignedIn:
    """A new session for the account, or ``WrongCredentials`` / ``TooManyAttempts``."""
    require_aware(now)
    name = (username or "").strip()
    key = _name_key(name)
    address = (address or "unknown")[:64]
    since = now - policy.window
    with uow:
        session = uow.session
        session.execute(delete(SignInFailure).where(SignInFailure.at < since))
        counts = session.execute(
            select(
                func.count().filter(SignInFailure.username == key),
                func.count().filter(SignInFailure.address == address),
            ).where(SignInFailure.at >= since,
                    or_(SignInFailure.username == key, SignInFailure.address == address))
        ).one()
        if max(counts) >= policy.max_failures:
            uow.commit()
            minutes = int(policy.window.total_seconds() // 60)
            raise TooManyAttempts(
                "too many failed sign-ins for this account or address",
                f"登录失败次数过多，请{minutes}分钟后再试。",
                retry_after_s=int(policy.window.total_seconds()),
            )
        user = session.scalar(select(StaffUser).where(StaffUser.username == name)) if name else None
        if not _password_matches(user, password):
            session.add(SignInFailure(username=key, address=address, at=now))
            uow.commit()
            raise WrongCredentials()
        assert user is not None
        if user.password_hash and _HASHER.check_needs_rehash(user.password_hash):
            user.password_hash = _HASHER.hash(password)
        session.execute(delete(SignInFailure).where(SignInFailure.username == key))
        session.execute(delete(ConsoleSession).where(ConsoleSession.last_seen_at < now - policy.idle))
        token = secrets.token_urlsafe(32)
        row = ConsoleSession(
            token_hash=_hash(token), staff_user_id=user.id, csrf_token=secrets.token_urlsafe(32),
            created_at=now, last_seen_at=now, address=address,
        )
        session.add(row)
        view = _view(row, user)
        uow.commit()
    return SignedIn(token=token, session=view)


@functools.cache
def _dummy_hash() -> str:
    """Verified for unknown users, so they cost what a real check costs (made at first use,
    not when every process imports the service)."""
    return _HASHER.hash("not a password of anybody")


def _password_matches(user: StaffUser | None, password: str) -> bool:
    usable = user is not None and user.active and bool(user.password_hash)
    digest = user.password_hash if usable and user is not None else None
    ok: bool
    try:
        ok = _HASHER.verify(digest or _dummy_hash(), password or "")
    except (VerificationError, InvalidHashError):
        ok = False
    return ok and usable


def session_by_token(
    uow: UnitOfWork, token: str | None, now: datetime, policy: SignInPolicy = SignInPolicy(),
    *, touch: bool = True,
) -> SessionView | None:
    """The live session of the cookie ``token``, or None (expired ones are removed).

    ``touch``: the request counts as activity (the idle clock restarts). A page
    polling by itself passes False, so an open tab does not keep a session alive.
    """
    require_aware(now)
    if not token or len(token) > 128:
        return None
    digest = _hash(token)
    with uow.read_only():
        found = uow.session.execute(
            select(ConsoleSession, StaffUser)
            .join(StaffUser, StaffUser.id == ConsoleSession.staff_user_id)
            .where(ConsoleSession.token_hash == digest)
        ).one_or_none()
        if found is None:
            return None
        row, user = found
        expired = (not user.active or now - row.last_seen_at > policy.idle
                   or now - row.created_at > policy.lifetime)
        stale = touch and now - row.last_seen_at > TOUCH_EVERY
        view = None if expired else _view(row, user)
    if expired:
        sign_out(uow, token)
        return None
    if stale:
        with uow:
            uow.session.execute(
                ConsoleSession.__table__.update()
                .where(ConsoleSession.token_hash == digest)
                .values(last_seen_at=now)
            )
            uow.commit()
    return view


def sign_out(uow: UnitOfWork, token: str | None) -> None:
    """End the session of ``token`` (nothing if there is none)."""
    if not token:
        return
    with uow:
        uow.session.execute(delete(ConsoleSession).where(ConsoleSession.token_hash == _hash(token)))
        uow.commit()


def end_sessions_of(uow: UnitOfWork, staff_user_id: int) -> None:
    """Inside a running unit of work: end every session of the account."""
    uow.session.execute(delete(ConsoleSession).where(ConsoleSession.staff_user_id == staff_user_id))


def _view(row: ConsoleSession, user: StaffUser) -> SessionView:
    return SessionView(
        staff_user_id=user.id, username=user.username, role=user.role, handler_id=user.handler_id,
        areas=tuple(user.areas or ()), csrf_token=row.csrf_token, created_at=row.created_at,
    )
