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

from integrations.shared.privacy import EXAMPLE_KEY

#: The repository root (``integrations/workorders/settings.py`` -> three levels up).
REPO_ROOT = Path(__file__).resolve().parents[2]

DEFAULT_DATABASE_URL = f"sqlite:///{REPO_ROOT / 'var' / 'workorders.db'}"
DEFAULT_TAXONOMY_PATH = REPO_ROOT / "taxonomy.yml"


class Settings(BaseSettings):
    """Configuration of the work-order service, its notifier and its CLI."""

    model_config = SettingsConfigDict(env_prefix="WORKORDERS_", extra="ignore", frozen=True)

    #: SQLAlchemy URL; ``postgresql://`` is read as ``postgresql+psycopg://``.
    database_url: str = DEFAULT_DATABASE_URL
    #: Master key of ``privacy.Vault`` (urlsafe base64 of 32 bytes). Hidden from repr.
    secret_key: str = Field(default=EXAMPLE_KEY, repr=False)
    #: Development mode accepts the public example key; production refuses it.
    development: bool = True
    taxonomy_path: Path = DEFAULT_TAXONOMY_PATH
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


def load_settings(**overrides: Any) -> Settings:
    """Settings from ``WORKORDERS_*`` environment variables; keyword overrides win.

    Relative ``taxonomy_path`` and SQLite paths stay as given (relative to the
    working directory); the defaults are absolute paths under the repository.
    """
    return Settings(**overrides)
