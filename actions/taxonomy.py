"""Category names from taxonomy.yml (the contract shared with the service)."""
from __future__ import annotations

from functools import lru_cache
from pathlib import Path

import yaml

TAXONOMY_PATH = Path(__file__).resolve().parent.parent / "taxonomy.yml"


@lru_cache(maxsize=1)
def _categories() -> dict:
    return yaml.safe_load(TAXONOMY_PATH.read_text(encoding="utf-8"))["categories"]


def category_name(code: str | None) -> str | None:
    """"incident.water" → "供排水问题"; None for an unknown code."""
    entry = _categories().get(code or "")
    return entry["name"] if entry else None


def resolve_hours(code: str | None) -> int | None:
    """The category's time limit for a normal order (taxonomy.yml)."""
    entry = _categories().get(code or "")
    return int(entry["resolve_hours"]) if entry else None


def is_request(code: str | None) -> bool:
    """A question, suggestion or complaint (kind `request`), not a dispute or incident."""
    return is_category(code) and kind_of(code) == "request"


def is_category(code: str | None) -> bool:
    return bool(code) and code in _categories()


def kind_of(code: str) -> str:
    return code.split(".", 1)[0]
