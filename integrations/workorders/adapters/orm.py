"""The work-order tables (SQLAlchemy 2.0 declarative, ``Mapped[]``).

The schema is created only by Alembic (``migrations/``); importing this module
creates no engine and touches no database. Personal data sits in ``*_enc``
columns (``privacy.Vault`` tokens, context ``"<table>.<column>"``) and is found
through ``*_hash`` columns (``Vault.lookup_hash``), never through plain text.

``work_orders`` and ``handlers`` carry a ``version`` column used by the ORM as
an optimistic lock (``version_id_col``): an UPDATE that lost a race raises
``StaleDataError`` instead of overwriting. The service also takes row locks
(PostgreSQL) or write-serialized transactions (SQLite), so the version check is
the second line of defence.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from .base import Base, UTCDateTime
from .conversation_tables import Conversation, ConversationEvent
from .outbox_table import OutboxMessage
from .request_keys_table import RequestKey
from .warnings_tables import RiskWarning, ScanCursor, WarningEvent, WarningOrder, WeeklyReport

__all__ = [
    "Area",
    "AreaAlias",
    "Attachment",
    "Base",
    "CallbackRequest",
    "Conversation",
    "ConversationEvent",
    "Handler",
    "OrderDecline",
    "OrderEvent",
    "OutboxMessage",
    "RequestKey",
    "StaffAccessLog",
    "StaffUser",
    "TelegramLinkAttempt",
    "TelegramLinkCode",
    "WorkOrder",
    "AuditCheck",
    "RiskWarning",
    "ScanCursor",
    "WarningEvent",
    "WarningOrder",
    "WeeklyReport",
]

#: The taxonomy's kinds and handler roles as the schema allows them (check constraints
#: ``ck_work_orders_kind`` and ``ck_handlers_role``, migration 0005). A kind or role
#: added to ``taxonomy.yml`` needs a migration too; a test compares the two.
KINDS = ("dispute", "incident", "request")
HANDLER_ROLES = ("mediator", "grid_worker", "staff")


def _one_of(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"



class Area(Base):
    """A place in the hierarchy county > township > grid (县 > 乡镇/街道 > 网格)."""

    __tablename__ = "areas"

    #: e.g. "county:qy", "township:qy-dz", "grid:qy-dz-01"
    code: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(100), nullable=False)
    #: grid | township | county (the taxonomy's tiers)
    tier: Mapped[str] = mapped_column(String(16), nullable=False)
    parent_code: Mapped[str | None] = mapped_column(
        String(64), ForeignKey("areas.code"), index=True
    )
    #: the grid that receives reports whose place matches no grid (at most one; the
    #: service keeps it so, the partial unique index is the second line of defence)
    fallback: Mapped[bool] = mapped_column(
        Boolean, nullable=False, default=False, server_default=false()
    )

    __table_args__ = (
        Index("uq_areas_fallback", "fallback", unique=True,
              sqlite_where=text("fallback"), postgresql_where=text("fallback")),
    )


class AreaAlias(Base):
    """Another name of a grid: a street, a landmark, what residents call the place.

    ``alias_key`` is the alias compared loosely (``domain.places.location_key``):
    one alias, however spelt, names one area.
    """

    __tablename__ = "area_aliases"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    area_code: Mapped[str] = mapped_column(
        String(64), ForeignKey("areas.code"), nullable=False, index=True
    )
    alias: Mapped[str] = mapped_column(String(100), nullable=False)
    alias_key: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)


class Handler(Base):
    """A mediator (人民调解员), grid worker (网格员) or community staff member (社区工作人员)
    who can be assigned orders."""

    __tablename__ = "handlers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name_enc: Mapped[str] = mapped_column(Text, nullable=False)
    phone_enc: Mapped[str | None] = mapped_column(Text)
    phone_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    #: mediator | grid_worker | staff (the taxonomy's handler roles)
    role: Mapped[str] = mapped_column(String(32), nullable=False)
    #: category codes they handle
    skills: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    #: area codes they cover (at their own tier)
    areas: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    tier: Mapped[str] = mapped_column(String(16), nullable=False)
    capacity: Mapped[int] = mapped_column(Integer, nullable=False)
    on_duty: Mapped[bool] = mapped_column(Boolean, nullable=False)
    #: supervises their tier for their areas: told of escalations and overdue orders
    is_supervisor: Mapped[bool] = mapped_column(Boolean, nullable=False)
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        Index("ix_handlers_role_duty", "role", "on_duty"),
        CheckConstraint(_one_of("role", HANDLER_ROLES), name="role"),
    )
    __mapper_args__ = {"version_id_col": version}


class WorkOrder(Base):
    """A work order (工单): one resident's report and its handling."""

    __tablename__ = "work_orders"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[str] = mapped_column(String(8), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    category: Mapped[str] = mapped_column(String(64), nullable=False)
    priority: Mapped[str] = mapped_column(String(8), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False)
    location_text: Mapped[str] = mapped_column(String(200), nullable=False)
    #: a grid code; its township and county come from ``areas.parent_code``
    area_code: Mapped[str] = mapped_column(String(64), ForeignKey("areas.code"), nullable=False)
    latitude: Mapped[float | None] = mapped_column(Float)
    longitude: Mapped[float | None] = mapped_column(Float)
    #: tg | voice | web | open311
    reporter_channel: Mapped[str] = mapped_column(String(16), nullable=False)
    #: the channel's sender id as given, e.g. "tg:123"
    reporter_ref: Mapped[str] = mapped_column(String(128), nullable=False)
    reporter_contact_enc: Mapped[str | None] = mapped_column(Text)
    reporter_contact_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    anonymous: Mapped[bool] = mapped_column(Boolean, nullable=False)
    #: the caller's idempotency key: the same key never makes a second order
    client_ref: Mapped[str | None] = mapped_column(String(128), unique=True)
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("handlers.id"))
    tier: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    accept_by: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolve_by: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: a resolve limit passed at some point (never cleared)
    breached: Mapped[bool] = mapped_column(Boolean, nullable=False)
    #: set when the top tier's resolve limit passed and supervisors were told
    overdue_notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the assignee was reminded (催办) to accept; cleared by every new assignment
    accept_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: the assignee was reminded to resolve; cleared whenever ``resolve_by`` is set anew
    resolve_reminded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    first_assigned_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: hash of the last audit event (``GENESIS`` before the first)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    #: seq of the last audit event (0 before the first)
    event_seq: Mapped[int] = mapped_column(Integer, nullable=False)
    #: satisfied | basically_satisfied | unsatisfied (the latest answer)
    satisfaction: Mapped[str | None] = mapped_column(String(24))
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    version: Mapped[int] = mapped_column(Integer, nullable=False)

    __table_args__ = (
        # a handler's load: open orders per assignee
        Index("ix_work_orders_assignee_status", "assignee_id", "status"),
        # the sweeper: assigned past accept_by, accepted past resolve_by, ...
        Index("ix_work_orders_status_accept_by", "status", "accept_by"),
        Index("ix_work_orders_status_resolve_by", "status", "resolve_by"),
        Index("ix_work_orders_status_resolved_at", "status", "resolved_at"),
        # the pending queue (oldest first) and listings
        Index("ix_work_orders_status_created_at", "status", "created_at"),
        Index("ix_work_orders_created_at", "created_at"),
        # a resident's own orders
        Index("ix_work_orders_reporter_ref", "reporter_ref", "created_at"),
        # duplicates: same category and place
        Index("ix_work_orders_category_area", "category", "area_code", "status"),
        # the console's lists and 待办 (migration 0009): an area's orders by status,
        # kind, urgent ones, answers, and what changed last (the worklist's version)
        Index("ix_work_orders_area_status_created", "area_code", "status", "created_at"),
        Index("ix_work_orders_kind_created", "kind", "created_at"),
        Index("ix_work_orders_priority_status", "priority", "status"),
        Index("ix_work_orders_satisfaction", "satisfaction", "created_at"),
        Index("ix_work_orders_updated_at", "updated_at"),
        # repeats (研判预警): earlier orders of one area and category
        Index("ix_work_orders_area_category_created", "area_code", "category", "created_at"),
        CheckConstraint(_one_of("kind", KINDS), name="kind"),
    )
    __mapper_args__ = {"version_id_col": version}


class OrderEvent(Base):
    """One audit event of an order, chained by hash (see ``domain.audit``)."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), nullable=False)
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    #: a lifecycle action, or "create" / "report" / "overdue" (no status change)
    action: Mapped[str] = mapped_column(String(32), nullable=False)
    #: "handler:3", "resident", "system", "staff:alice"
    actor: Mapped[str] = mapped_column(String(80), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    from_status: Mapped[str | None] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16), nullable=False)
    note: Mapped[str | None] = mapped_column(Text)
    #: the handler the event concerns (dispatch, accept, decline, ...); not hashed,
    #: the note repeats it for the audit. Indexed to count recent assignments.
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("handlers.id"))
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)

    __table_args__ = (
        UniqueConstraint("order_id", "seq", name="uq_order_events_order_id_seq"),
        Index("ix_order_events_handler_action_at", "handler_id", "action", "at"),
        # orders with an answer or a step of a kind (不满意, escalations): migration 0009
        Index("ix_order_events_action_order", "action", "order_id"),
        # the dashboard: residents' unsatisfied answers (and their reasons) in a period
        Index("ix_order_events_action_at", "action", "at"),
    )


class OrderDecline(Base):
    """A handler who gave an order back (declined, or let it time out): never again."""

    __tablename__ = "order_declines"

    order_id: Mapped[int] = mapped_column(ForeignKey("work_orders.id"), primary_key=True)
    handler_id: Mapped[int] = mapped_column(ForeignKey("handlers.id"), primary_key=True)
    declined_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class StaffUser(Base):
    """A staff account of the HTTP API (handler, dispatcher, supervisor, admin)."""

    __tablename__ = "staff_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    #: handler | dispatcher | supervisor | admin
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("handlers.id"))
    #: area codes they see (dispatcher, supervisor); any tier
    areas: Mapped[list[str]] = mapped_column(JSON, nullable=False)
    #: sha256 hex of the bearer token; the token itself is never stored
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    #: argon2id hash of the sign-in password (``set-password``); None: no password set
    password_hash: Mapped[str | None] = mapped_column(String(255))
    #: where a dispatcher hears about queued orders (None: the log)
    telegram_chat_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    active: Mapped[bool] = mapped_column(Boolean, nullable=False)


class ConsoleSession(Base):
    """A signed-in session of the web console (工作台).

    Only the sha256 of the cookie's token is stored. ``csrf_token`` is the
    session's synchronizer token (every state-changing request carries it).
    A session ends at sign-out, after ``idle`` minutes without a request, at
    its absolute lifetime, or when its account is disabled or its password changed.
    """

    __tablename__ = "console_sessions"

    token_hash: Mapped[str] = mapped_column(String(64), primary_key=True)
    staff_user_id: Mapped[int] = mapped_column(
        ForeignKey("staff_users.id", ondelete="CASCADE"), nullable=False, index=True)
    csrf_token: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    #: the address it was opened from (for the staff member's own list; not a check)
    address: Mapped[str | None] = mapped_column(String(64))


class SignInFailure(Base):
    """A failed console sign-in: counted per account and per address over a window."""

    __tablename__ = "sign_in_failures"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: the username as typed (lower-cased, cut to 64): unknown names count too
    username: Mapped[str] = mapped_column(String(64), nullable=False)
    address: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)

    __table_args__ = (
        Index("ix_sign_in_failures_username_at", "username", "at"),
        Index("ix_sign_in_failures_address_at", "address", "at"),
    )



class CallbackRequest(Base):
    """A resident's request to be called back by a person (转人工).

    The transcript and the phone number are personal data: ``transcript_enc``
    holds the JSON list ``[{"speaker", "text"}]`` and ``contact_enc`` the
    phone number, both ``privacy.Vault`` tokens; the phone is found by
    ``contact_hash``. ``area_code`` comes from the linked order, if any.
    """

    __tablename__ = "callback_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: the channel's sender id, e.g. "voice:13800000000"
    reporter_ref: Mapped[str] = mapped_column(String(128), nullable=False)
    #: tg | voice | web | open311 (the prefix of reporter_ref)
    reporter_channel: Mapped[str] = mapped_column(String(16), nullable=False)
    #: asked | not_understood | service_error
    reason: Mapped[str] = mapped_column(String(24), nullable=False)
    transcript_enc: Mapped[str] = mapped_column(Text, nullable=False)
    contact_enc: Mapped[str | None] = mapped_column(Text)
    contact_hash: Mapped[str | None] = mapped_column(String(64), index=True)
    order_number: Mapped[str | None] = mapped_column(
        String(8), ForeignKey("work_orders.number")
    )
    area_code: Mapped[str | None] = mapped_column(String(64), ForeignKey("areas.code"))
    #: open | done
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: who called back, as the audit names staff ("staff:alice")
    done_by: Mapped[str | None] = mapped_column(String(80))
    note: Mapped[str | None] = mapped_column(Text)
    #: the caller's idempotency key: the same key never makes a second request
    client_ref: Mapped[str | None] = mapped_column(String(128), unique=True)

    __table_args__ = (
        # the queue (open ones, oldest first) and a dispatcher's areas
        Index("ix_callback_requests_status_created_at", "status", "created_at"),
        Index("ix_callback_requests_area_status", "area_code", "status"),
    )


class Attachment(Base):
    """A resident's photo: staged when a channel uploads it, then attached to one
    of their orders.

    Personal data: the bytes are never logged, and ``public_id`` (a random
    urlsafe token, not guessable) is the only name the API and the audit trail
    use. The same bytes from the same resident are stored once (unique
    ``reporter_ref, sha256``). ``data`` is deferred: listing photos never loads them.
    """

    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    #: the channel's sender id of the resident who sent it, e.g. "tg:123"
    reporter_ref: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    #: None while staged (uploaded, not attached to an order yet)
    order_id: Mapped[int | None] = mapped_column(ForeignKey("work_orders.id"), index=True)
    #: image/jpeg | image/png | image/webp (checked against the bytes)
    content_type: Mapped[str] = mapped_column(String(32), nullable=False)
    size: Mapped[int] = mapped_column(Integer, nullable=False)
    #: hex sha256 of ``data``
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False, deferred=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    attached_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (
        UniqueConstraint("reporter_ref", "sha256", name="uq_attachments_reporter_ref_sha256"),
    )


class TelegramLinkCode(Base):
    """A one-time code (绑定码) that links a Telegram chat to a handler or a staff user.

    Exactly one of ``handler_id`` and ``staff_user_id`` is set. Only the
    sha256 of the code is stored; a code is valid until ``expires_at`` and
    until it is used (``used_at``). Issuing a new code for the same person
    makes their older unused ones expire.
    """

    __tablename__ = "telegram_link_codes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    #: sha256 hex of the code
    code_hash: Mapped[str] = mapped_column(String(64), nullable=False, unique=True)
    handler_id: Mapped[int | None] = mapped_column(ForeignKey("handlers.id"))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    #: who issued it, as the audit names people ("staff:alice", "cli")
    created_by: Mapped[str] = mapped_column(String(80), nullable=False)

    __table_args__ = (
        CheckConstraint(
            "(handler_id IS NULL AND staff_user_id IS NOT NULL)"
            " OR (handler_id IS NOT NULL AND staff_user_id IS NULL)",
            name="one_owner",
        ),
    )


class TelegramLinkAttempt(Base):
    """A failed attempt to redeem a link code from a chat (the brute-force counter)."""

    __tablename__ = "telegram_link_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[str] = mapped_column(String(64), nullable=False)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_telegram_link_attempts_chat_id_at", "chat_id", "at"),
        Index("ix_telegram_link_attempts_at", "at"),
    )


class StaffAccessLog(Base):
    """Who read personal data or changed an account outside an order's audit chain.

    A callback request's transcript revealed (``callback_transcript_revealed``,
    subject ``callback:<id>``), a staff account created or changed
    (``staff_created``, ``staff_updated``, ``password_set``, ``staff_disabled``,
    ``staff_enabled``, subject ``staff:<username>``). Reveals of an order's
    contact are events of the order's chain instead.
    """

    __tablename__ = "staff_access_log"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    #: as the audit names staff ("staff:alice")
    actor: Mapped[str] = mapped_column(String(80), nullable=False)
    action: Mapped[str] = mapped_column(String(48), nullable=False)
    #: what was read or changed ("callback:12", "staff:bob")
    subject: Mapped[str] = mapped_column(String(128), nullable=False)

    __table_args__ = (
        Index("ix_staff_access_log_subject_at", "subject", "at"),
        Index("ix_staff_access_log_at", "at"),
    )


class AuditCheck(Base):
    """One run of the audit-chain check over every order (``service.dashboard``).

    The dashboard shows the latest row instead of hashing every event on each
    view; ``first_number`` / ``first_seq`` name the first broken event found.
    """

    __tablename__ = "audit_checks"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    #: how long the check took
    seconds: Mapped[float] = mapped_column(Float, nullable=False)
    #: orders whose chains were checked; orders with an altered history
    orders: Mapped[int] = mapped_column(Integer, nullable=False)
    broken: Mapped[int] = mapped_column(Integer, nullable=False)
    first_number: Mapped[str | None] = mapped_column(String(8))
    first_seq: Mapped[int | None] = mapped_column(Integer)
