"""Settings of the HTTP API: the service's settings plus a few knobs of its own.

Built once by the entrypoint (``load_api_settings()``) and passed to
``create_app``; like ``Settings``, every field can be set as
``WORKORDERS_<FIELD>`` (e.g. ``WORKORDERS_OPEN311_DEFAULT_AREA``).
"""

from __future__ import annotations

from typing import Any

from pydantic import Field

from ..settings import Settings

DEFAULT_MAX_BODY_BYTES = 64 * 1024


class ApiSettings(Settings):
    """``Settings`` and what only the HTTP API needs."""

    #: Grid code used for Open311 requests that carry no ``attribute[area_code]``;
    #: None makes that attribute required.
    open311_default_area: str | None = None
    #: Largest request body accepted (413 above).
    max_body_bytes: int = Field(default=DEFAULT_MAX_BODY_BYTES, gt=0)
    #: Serve ``/openapi.json`` and ``/docs`` (they hold no data, only the API's shape).
    public_docs: bool = True
    #: Level of the service's logs (the access log is INFO).
    log_level: str = "info"


def load_api_settings(**overrides: Any) -> ApiSettings:
    """API settings from ``WORKORDERS_*`` environment variables; keyword overrides win."""
    return ApiSettings(**overrides)


def as_api_settings(settings: Settings) -> ApiSettings:
    """``settings`` as ``ApiSettings``; plain ``Settings`` get the API defaults.

    Never reads the environment again (``model_construct`` skips the sources).
    """
    if isinstance(settings, ApiSettings):
        return settings
    return ApiSettings.model_construct(**dict(settings))
