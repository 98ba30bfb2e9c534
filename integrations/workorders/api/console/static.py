"""The console's static files at ``/console/static/`` (CSS, icons, vendored htmx and ECharts)."""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

STATIC_DIR = Path(__file__).resolve().parent / "static"
STATIC_PATH = "/console/static"


def mount_static(app: FastAPI) -> None:
    app.mount(STATIC_PATH, StaticFiles(directory=STATIC_DIR), name="console-static")
