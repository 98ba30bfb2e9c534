"""Typed settings of the Telegram channel, read from the environment once.

Build them in an entrypoint with ``load_settings()`` and pass them down; nothing
else in the package reads the environment. Each field is read from the
environment variable of the same name in capitals (``TELEGRAM_BOT_TOKEN``,
``RASA_URL``, ``WORKORDERS_API_URL``, ...).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from integrations.shared.paths import DEFAULT_DATABASE_URL, DEFAULT_TAXONOMY_PATH

DEFAULT_API_BASE = "https://api.telegram.org"


def bot_id(token: str) -> int:
    """The bot's numeric id: the part of its token before the colon."""
    head, sep, _ = token.partition(":")
    if not sep or not head.isdigit():
        raise ValueError("a Telegram bot token looks like '<digits>:<secret>'")
    return int(head)


class TelegramSettings(BaseSettings):
    """The resident bot, the handlers' bot, and what they talk to."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True, case_sensitive=False)

    #: The residents' bot. Unset: the channel does not run.
    telegram_bot_token: str | None = Field(default=None, repr=False)
    #: The handlers' bot; unset: the residents' bot also serves handlers.
    telegram_handler_bot_token: str | None = Field(default=None, repr=False)
    #: Bot API server: Telegram's, a local Bot API server, or a test emulator.
    telegram_api_base: str = DEFAULT_API_BASE
    #: ``polling`` (no public address needed) or ``webhook``.
    telegram_mode: Literal["polling", "webhook"] = "polling"
    #: Public HTTPS base URL Telegram posts updates to (webhook mode); the
    #: bot's path ``/telegram/<bot id>`` is appended.
    telegram_webhook_url: str | None = None
    #: Checked against ``X-Telegram-Bot-Api-Secret-Token`` (webhook mode).
    telegram_webhook_secret: str | None = Field(default=None, repr=False)
    telegram_webhook_host: str = "127.0.0.1"
    telegram_webhook_port: int = Field(default=8081, gt=0, lt=65536)
    #: Messages one chat may send in a burst, and how fast the allowance refills.
    telegram_rate_burst: int = Field(default=6, ge=1)
    telegram_rate_per_second: float = Field(default=0.5, gt=0)
    #: Largest photo taken from a resident (the service enforces its own limit too).
    telegram_max_photo_bytes: int = Field(default=5 * 1024 * 1024, gt=0)
    #: Updates handled at once (different chats; one chat's updates stay in order).
    telegram_concurrency: int = Field(default=32, ge=1)

    #: Rasa's HTTP server (the REST channel is ``/webhooks/rest/webhook``).
    rasa_url: str = "http://127.0.0.1:5005"
    #: The REST channel's token for ``tg:*`` senders (``make run`` generates one).
    channel_token_telegram: str | None = Field(default=None, repr=False)
    #: The work-order service and its credential for this adapter (WORKORDERS_TELEGRAM_TOKEN).
    workorders_api_url: str = "http://127.0.0.1:8000"
    workorders_telegram_token: str | None = Field(default=None, repr=False)
    #: Privacy mode and master key, shared with the work-order service
    #: (``WORKORDERS_DEVELOPMENT``, ``WORKORDERS_SECRET_KEY``): checked at start-up
    #: (``integrations.shared.startup``).
    workorders_development: bool = True
    workorders_secret_key: str | None = Field(default=None, repr=False)
    #: Where the channel keeps its state (handled updates, unreachable chats,
    #: pending inputs): the work-order database.
    workorders_database_url: str = DEFAULT_DATABASE_URL
    #: The service's taxonomy: the categories a handler may reclassify an order as (转类).
    workorders_taxonomy_path: Path = DEFAULT_TAXONOMY_PATH

    @field_validator("telegram_bot_token", "telegram_handler_bot_token")
    @classmethod
    def _check_token(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = value.strip()
        bot_id(value)
        return value

    @field_validator("telegram_api_base", "rasa_url", "workorders_api_url")
    @classmethod
    def _no_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @property
    def enabled(self) -> bool:
        return self.telegram_bot_token is not None

    @property
    def handler_token(self) -> str | None:
        """The handlers' bot token (the residents' bot when no separate one is set)."""
        return self.telegram_handler_bot_token or self.telegram_bot_token

    @property
    def one_bot(self) -> bool:
        """True when residents and handlers talk to the same bot."""
        return self.handler_token == self.telegram_bot_token


def load_settings(**overrides: Any) -> TelegramSettings:
    """Settings from the environment; keyword overrides win."""
    return TelegramSettings(**overrides)
