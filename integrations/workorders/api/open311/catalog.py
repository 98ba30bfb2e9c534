"""The Open311 service list: the categories ``taxonomy.yml`` marks ``public: true``.

The feed is public: whatever it lists, anyone may read. A dispute is between
neighbours, family members, an employer...: publishing it, or letting anyone
file one anonymously through a civic-tech client, would tell the other party
about the report; a request (其他诉求) is one resident's own question,
suggestion or complaint. Even among incidents, safety hazards, public order
and care for vulnerable people are not for a public list. So only the
categories the taxonomy flags are offered (public facilities, water,
sanitation), and orders of any other category are invisible through Open311:
not listed, not found by number, not filed.

Keywords come from each category's ``covers`` line in ``taxonomy.yml``
(read once at start-up; the domain's ``Taxonomy`` does not keep it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import yaml

from ...domain.taxonomy import Taxonomy

_SPLIT = re.compile(r"[、，,；;]\s*")


@dataclass(frozen=True)
class Open311Service:
    code: str
    name: str
    description: str
    keywords: tuple[str, ...]
    group: str


@dataclass(frozen=True)
class Catalog:
    services: tuple[Open311Service, ...]

    def get(self, code: str) -> Open311Service | None:
        return next((s for s in self.services if s.code == code), None)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.services)

    @classmethod
    def build(cls, taxonomy: Taxonomy, covers: Mapping[str, str]) -> Catalog:
        services = tuple(
            Open311Service(
                code=c.code,
                name=c.name,
                description=covers.get(c.code, c.name),
                keywords=tuple(k for k in _SPLIT.split(covers.get(c.code, "")) if k),
                group=taxonomy.kind_name(c.kind),
            )
            for c in taxonomy.public_categories()
        )
        return cls(services)


def read_covers(path: str | Path) -> dict[str, str]:
    """``{category code: covers text}`` from ``taxonomy.yml`` (empty if it has none)."""
    document = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    categories = document.get("categories") or {}
    return {
        str(code): str(spec.get("covers", ""))
        for code, spec in categories.items()
        if isinstance(spec, Mapping)
    }
