"""The Open311 service list: incident categories of the taxonomy, never disputes.

A dispute is between neighbours, family members, an employer...: publishing
it, or letting anyone file one anonymously through a civic-tech client, would
tell the other party about the report. So only the ``incident`` kind is
offered, and requests of other kinds are invisible through Open311.

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

#: Kinds offered through Open311.
OPEN311_KINDS = frozenset({"incident"})

_KIND_NAMES = {"incident": "事件隐患", "dispute": "矛盾纠纷"}
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
                group=_KIND_NAMES.get(c.kind, c.kind),
            )
            for c in taxonomy.categories.values()
            if c.kind in OPEN311_KINDS
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
