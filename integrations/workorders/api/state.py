"""What the API's request handlers share: built once by ``create_app``, read per request."""

from __future__ import annotations

from dataclasses import dataclass

from ..bootstrap import App
from .config import ApiSettings
from .open311.catalog import Catalog
from .telemetry import Telemetry


@dataclass(frozen=True)
class ApiState:
    """Settings, the service's wiring (engine, sessions, config), metrics, Open311 catalogue."""

    settings: ApiSettings
    app: App
    telemetry: Telemetry
    catalog: Catalog
