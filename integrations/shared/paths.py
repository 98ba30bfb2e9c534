"""Where the project keeps its files by default (each process's settings can override them)."""

from __future__ import annotations

from pathlib import Path

__all__ = ["DEFAULT_DATABASE_URL", "DEFAULT_TAXONOMY_PATH", "REPO_ROOT"]

#: The repository root (``integrations/shared/paths.py`` -> three levels up).
REPO_ROOT = Path(__file__).resolve().parents[2]

#: The work-order database; the Telegram channel keeps its own tables in it too.
DEFAULT_DATABASE_URL = f"sqlite:///{REPO_ROOT / 'var' / 'workorders.db'}"
#: The report taxonomy: the service's categories, and those the handlers' bot offers for 转类.
DEFAULT_TAXONOMY_PATH = REPO_ROOT / "taxonomy.yml"
