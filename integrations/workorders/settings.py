"""Typed settings of the work-order service, read from the environment once.

Build them in an entrypoint with ``load_settings()`` and pass them down (see
``bootstrap``); nothing else in the package reads the environment. Every
field can be set as ``WORKORDERS_<FIELD>`` (e.g. ``WORKORDERS_DATABASE_URL``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.shared.paths import DEFAULT_DATABASE_URL, DEFAULT_TAXONOMY_PATH, REPO_ROOT
from integrations.shared.privacy import EXAMPLE_KEY


class Settings(BaseSettings):
    """Configuration of the work-order service, its notifier and its CLI."""

    model_config = SettingsConfigDict(env_prefix="WORKORDERS_", extra="ignore", frozen=True)

    #: SQLAlchemy URL; ``postgresql://`` is read as ``postgresql+psycopg://``.
    database_url: str = DEFAULT_DATABASE_URL
    #: Master key of ``privacy.Vault`` (urlsafe base64 of 32 bytes). Hidden from repr.
    secret_key: str = Field(default=EXAMPLE_KEY, repr=False)
    #: Keys of before a rotation (comma-separated): they only decrypt and find
    #: old lookup hashes until ``rotate-key`` has re-encrypted everything. Hidden from repr.
    old_secret_keys: str = Field(default="", repr=False)
    #: Development mode accepts the public example key; production refuses it.
    development: bool = True
    taxonomy_path: Path = DEFAULT_TAXONOMY_PATH
    #: The 研判预警 settings (thresholds and windows of the detectors), documented in the file.
    warnings_path: Path = REPO_ROOT / "warnings.yml"
    #: Hours a resident has to answer the follow-up (回访) before the order closes.
    follow_up_hours: int = Field(default=72, gt=0)
    #: Where ``web:`` and ``open311:`` residents' status changes are posted; None logs them.
    webhook_url: str | None = None
    webhook_secret: str | None = Field(default=None, repr=False)
    #: Where phone callers' status changes go (an SMS or outbound-call gateway); None logs them.
    voice_webhook_url: str | None = None
    voice_webhook_secret: str | None = Field(default=None, repr=False)
    api_port: int = Field(default=8000, gt=0, lt=65536)
    #: Largest photo a channel may upload (``POST /api/v1/attachments``; 413 above).
    max_attachment_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    #: Photos one work order may carry.
    max_attachments_per_order: int = Field(default=10, gt=0)
    #: Hours a staged photo (uploaded, not attached to an order) is kept; the sweeper removes it.
    staged_photo_hours: float = Field(default=24.0, gt=0)
    #: Staged photos one resident may hold at once (count and total bytes).
    max_staged_photos: int = Field(default=20, gt=0)
    max_staged_bytes: int = Field(default=50 * 1024 * 1024, gt=0)
    #: Days a delivered outbox row is kept before the sweeper deletes it.
    outbox_retention_days: float = Field(default=7.0, gt=0)
    #: Rasa's tracker store (SQLAlchemy URL); None: the sweeper does not prune trackers.
    tracker_database_url: str | None = Field(default=None, repr=False)
    #: Days a conversation is kept after its last event; older ones are deleted by the sweeper.
    tracker_retention_days: float = Field(default=30.0, gt=0)

    @property
    def old_keys(self) -> tuple[str, ...]:
        """``old_secret_keys`` as a list (blanks dropped)."""
        return tuple(k.strip() for k in self.old_secret_keys.split(",") if k.strip())


def load_settings(**overrides: Any) -> Settings:
    """Settings from ``WORKORDERS_*`` environment variables; keyword overrides win.

    Relative ``taxonomy_path`` and SQLite paths stay as given (relative to the
    working directory); the defaults are absolute paths under the repository.
    """
    return Settings(**overrides)
