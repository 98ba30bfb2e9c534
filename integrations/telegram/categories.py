"""The categories the handlers' bot offers for 转类, read from ``taxonomy.yml``.

The channel needs only each category's code and Chinese name, kind by kind in
the file's order; the service validates the full taxonomy (time limits, tiers)
and decides whether a reclassification is allowed. Reading the file here keeps
the channel independent of the service's code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

__all__ = ["Category", "load_categories", "parse_categories"]


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    kind: str


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError(f"taxonomy: {where} must be a mapping")
    return value


def parse_categories(document: Any) -> tuple[Category, ...]:
    """The categories of a loaded taxonomy document, kind by kind; ValueError if malformed.

    A category's kind is its code's prefix (``dispute.neighbor`` -> ``dispute``)
    unless it states ``kind:``, as in the service's reading of the file.
    """
    document = _mapping(document, "the document")
    kinds = list(_mapping(document.get("kinds"), "kinds"))
    found: list[Category] = []
    for code, spec in _mapping(document.get("categories"), "categories").items():
        spec = _mapping(spec, f"categories.{code}")
        name, kind = spec.get("name"), str(spec.get("kind", str(code).partition(".")[0]))
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"taxonomy: categories.{code} has no name")
        if kind not in kinds:
            raise ValueError(f"taxonomy: categories.{code} has unknown kind {kind!r}")
        found.append(Category(code=str(code), name=name, kind=kind))
    return tuple(sorted(found, key=lambda c: kinds.index(c.kind)))  # stable: file order within a kind


def load_categories(path: str | Path) -> tuple[Category, ...]:
    """The categories in the taxonomy file at ``path``; ValueError if it is malformed."""
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise ValueError(f"{path} is not valid YAML: {exc}") from None
    return parse_categories(document)
