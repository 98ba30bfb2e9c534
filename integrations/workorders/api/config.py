"""Settings of the HTTP API: the service's settings plus a few knobs of its own.

Built once by the entrypoint (``load_api_settings()``) and passed to
``create_app``; like ``Settings``, every field can be set as
``WORKORDERS_<FIELD>`` (e.g. ``WORKORDERS_OPEN311_DEFAULT_AREA``).
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator
from pydantic_settings import NoDecode

from ..adapters.db import is_sqlite
from ..settings import Settings

DEFAULT_MAX_BODY_BYTES = 64 * 1024
#: Shortest channel token or Open311 key accepted (like staff tokens).
MIN_TOKEN_LENGTH = 24
#: Measured with ``benchmarks/api.py`` on 2 cores: PostgreSQL served most orders/s
#: with 2-4 threads a process (40, anyio's default, was 20-40 % slower);
#: SQLite with 1 (more threads only queue in SQLite's busy handler).
DEFAULT_DB_THREADS = 4
SQLITE_DB_THREADS = 1


class ApiSettings(Settings):
    """``Settings`` and what only the HTTP API needs."""

    #: Bearer token of the Rasa action server: resident operations for ``web:``, ``tg:``
    #: and ``voice:`` reporters, and place resolution. None disables it.
    actions_token: str | None = Field(default=None, min_length=MIN_TOKEN_LENGTH, repr=False)
    #: Bearer token of the Telegram adapter: resident operations for ``tg:`` reporters,
    #: linking chats, and acting as the handler or dispatcher linked to a chat
    #: (``X-Telegram-Chat``). None disables it.
    telegram_token: str | None = Field(default=None, min_length=MIN_TOKEN_LENGTH, repr=False)
    #: ``api_key`` values that may file Open311 requests (comma-separated in the
    #: environment); empty: ``POST /open311/v2/requests`` is closed.
    open311_api_keys: Annotated[tuple[str, ...], NoDecode] = Field(default=(), repr=False)

    #: Grid code used for Open311 requests that carry no ``attribute[area_code]``;
    #: None makes that attribute required.
    open311_default_area: str | None = None
    #: Largest request body accepted (413 above).
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    #: Serve ``/openapi.json`` and ``/docs`` (they hold no data, only the API's shape).
    public_docs: bool = True
    #: Requests doing database work at once per process (the thread pool's size);
    #: the others wait on the event loop. None: 1 on SQLite (one writer at a
    #: time anyway), 4 otherwise. See ``app.create_app``.
    db_threads: int | None = Field(default=None, gt=0, le=200)
    #: Level of the service's logs (the access log is INFO).
    log_level: str = "info"
    #: Minutes without a request after which a console session ends.
    console_idle_minutes: int = Field(default=30, gt=0, le=24 * 60)
    #: Console cookies ``Secure``: None (default) when the request came over HTTPS
    #: (behind a proxy, uvicorn's ``--proxy-headers`` tells); true/false to force.
    console_secure_cookie: bool | None = None


    @field_validator("open311_api_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: Any) -> Any:
        if isinstance(value, str):
            return tuple(k.strip() for k in value.split(",") if k.strip())
        return value

    @field_validator("open311_api_keys")
    @classmethod
    def _long_keys(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if any(len(k) < MIN_TOKEN_LENGTH for k in value):
            raise ValueError(f"each Open311 api key needs at least {MIN_TOKEN_LENGTH} characters")
        return value

    @model_validator(mode="after")
    def _distinct_credentials(self) -> ApiSettings:
        given = [t for t in (self.actions_token, self.telegram_token, *self.open311_api_keys) if t]
        if len(given) != len(set(given)):
            raise ValueError("the actions token, the Telegram token and the Open311 keys "
                             "must all differ")
        return self


def load_api_settings(**overrides: Any) -> ApiSettings:
    """API settings from ``WORKORDERS_*`` environment variables; keyword overrides win."""
    return ApiSettings(**overrides)


def db_threads(settings: ApiSettings) -> int:
    """The thread pool size: the setting, or the default for the database."""
    if settings.db_threads is not None:
        return settings.db_threads
    return SQLITE_DB_THREADS if is_sqlite(settings.database_url) else DEFAULT_DB_THREADS


def as_api_settings(settings: Settings) -> ApiSettings:
    """``settings`` as ``ApiSettings``; plain ``Settings`` get the API defaults.

    Never reads the environment again (``model_construct`` skips the sources).
    """
    if isinstance(settings, ApiSettings):
        return settings
    return ApiSettings.model_construct(**dict(settings))
