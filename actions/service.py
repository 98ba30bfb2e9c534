"""The one work-order client of this action server, built from the
environment on first use (rasa_sdk offers no start-up hook) and reused, so
connections are pooled."""
from __future__ import annotations

import os

from .workorders_client import ClientSettings, WorkOrderClient

_client: WorkOrderClient | None = None


def client() -> WorkOrderClient:
    global _client
    if _client is None:
        _client = WorkOrderClient(ClientSettings.from_env(os.environ))
    return _client


def use(replacement: WorkOrderClient | None) -> None:
    """Point the actions at another client (tests, or a settings change)."""
    global _client
    _client = replacement
