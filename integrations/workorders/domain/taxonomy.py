"""The report taxonomy: kinds, categories, escalation tiers and time limits.

Parsed from the structure of ``taxonomy.yml`` once it is loaded (no file I/O
here); the result is immutable and shared.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from types import MappingProxyType
from typing import Any, NamedTuple

from .errors import InvalidTaxonomy, UnknownCategory, UnknownKind, UnknownPriority, UnknownTier


class Priority(StrEnum):
    """Priority of a work order."""

    NORMAL = "normal"
    URGENT = "urgent"

    @classmethod
    def parse(cls, value: object) -> Priority:
        """``Priority(value)``, raising ``UnknownPriority`` instead of ValueError."""
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        raise UnknownPriority(value)


class Deadlines(NamedTuple):
    """When an order must be accepted (签收) and resolved (办结), in UTC."""

    accept_by: datetime
    resolve_by: datetime


@dataclass(frozen=True)
class Category:
    """One report category, e.g. ``dispute.neighbor`` / 邻里纠纷.

    ``public``: listed on the public Open311 feed (``public: true`` in the file;
    no other category ever is).
    """

    code: str
    name: str
    kind: str
    resolve_hours: int
    public: bool = False


def _positive_int(value: object, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise InvalidTaxonomy(f"{where} must be a positive integer, got {value!r}")
    return value


def _flag(value: object, where: str) -> bool:
    if not isinstance(value, bool):
        raise InvalidTaxonomy(f"{where} must be true or false, got {value!r}")
    return value


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidTaxonomy(f"{where} must be a mapping")
    return value


@dataclass(frozen=True)
class Taxonomy:
    """Kinds (kind -> handler role), categories, tiers (lowest first) and limits.

    ``kind_names``: each kind's Chinese name (``request`` -> 其他诉求), where the
    file gives one.
    """

    kinds: Mapping[str, str]
    categories: Mapping[str, Category]
    tiers: tuple[str, ...]
    normal_accept_minutes: int
    urgent_accept_minutes: int
    urgent_resolve_hours: int
    kind_names: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "kinds", MappingProxyType(dict(self.kinds)))
        object.__setattr__(self, "kind_names", MappingProxyType(dict(self.kind_names)))
        object.__setattr__(self, "categories", MappingProxyType(dict(self.categories)))
        object.__setattr__(self, "tiers", tuple(self.tiers))
        if not self.tiers or len(set(self.tiers)) != len(self.tiers):
            raise InvalidTaxonomy("tiers must be a non-empty list of distinct names")
        for code, category in self.categories.items():
            if category.code != code:
                raise InvalidTaxonomy(f"category {code!r} is stored under another code")
            if category.kind not in self.kinds:
                raise InvalidTaxonomy(f"category {code!r} has unknown kind {category.kind!r}")
        for kind in self.kind_names:
            if kind not in self.kinds:
                raise InvalidTaxonomy(f"a name is given for unknown kind {kind!r}")
            _positive_int(category.resolve_hours, f"categories.{code}.resolve_hours")
        _positive_int(self.normal_accept_minutes, "normal.accept_minutes")
        _positive_int(self.urgent_accept_minutes, "urgent.accept_minutes")
        _positive_int(self.urgent_resolve_hours, "urgent.resolve_hours")

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Taxonomy:
        """Build from the loaded ``taxonomy.yml``; raise ``InvalidTaxonomy`` if malformed.

        A category's kind is its code's prefix (``dispute.neighbor`` -> ``dispute``)
        unless it states ``kind:`` explicitly; ``public`` defaults to false.
        Unknown top-level keys (``intents``) are ignored.
        """
        d = _mapping(d, "the document")
        try:
            kind_specs = {
                str(kind): _mapping(spec, f"kinds.{kind}")
                for kind, spec in _mapping(d["kinds"], "kinds").items()
            }
            kinds = {kind: str(spec["handler"]) for kind, spec in kind_specs.items()}
            kind_names = {
                kind: str(spec["name"]) for kind, spec in kind_specs.items() if "name" in spec
            }
            categories = {}
            for code, spec in _mapping(d["categories"], "categories").items():
                spec = _mapping(spec, f"categories.{code}")
                code = str(code)
                categories[code] = Category(
                    code=code,
                    name=str(spec["name"]),
                    kind=str(spec.get("kind", code.partition(".")[0])),
                    resolve_hours=_positive_int(
                        spec["resolve_hours"], f"categories.{code}.resolve_hours"
                    ),
                    public=_flag(spec.get("public", False), f"categories.{code}.public"),
                )
            tiers = d["tiers"]
            if not isinstance(tiers, (list, tuple)):
                raise InvalidTaxonomy("tiers must be a list")
            urgent = _mapping(d["urgent"], "urgent")
            normal = _mapping(d["normal"], "normal")
            return cls(
                kinds=kinds,
                categories=categories,
                tiers=tuple(str(t) for t in tiers),
                normal_accept_minutes=normal["accept_minutes"],
                urgent_accept_minutes=urgent["accept_minutes"],
                urgent_resolve_hours=urgent["resolve_hours"],
                kind_names=kind_names,
            )
        except KeyError as exc:
            raise InvalidTaxonomy(f"missing key {exc.args[0]!r}") from None

    def category(self, code: str) -> Category:
        """The category with this code; raise ``UnknownCategory``."""
        try:
            return self.categories[code]
        except KeyError:
            raise UnknownCategory(code) from None

    def handler_role(self, kind: str) -> str:
        """The handler role for a kind (``dispute`` -> ``mediator``); raise ``UnknownKind``."""
        try:
            return self.kinds[kind]
        except KeyError:
            raise UnknownKind(kind) from None

    def kind_name(self, kind: str) -> str:
        """The kind's Chinese name (``request`` -> 其他诉求); the kind itself if unnamed."""
        return self.kind_names.get(kind, kind)

    def public_categories(self) -> tuple[Category, ...]:
        """The categories the public Open311 feed lists, in the file's order."""
        return tuple(c for c in self.categories.values() if c.public)

    def next_tier(self, tier: str) -> str | None:
        """The tier above ``tier``, or None at the top; raise ``UnknownTier``."""
        if tier not in self.tiers:
            raise UnknownTier(tier)
        index = self.tiers.index(tier) + 1
        return self.tiers[index] if index < len(self.tiers) else None

    def deadlines(self, code: str, priority: Priority | str, created_at: datetime) -> Deadlines:
        """Accept-by and resolve-by for an order created (or re-dispatched) at ``created_at``.

        Normal: ``normal.accept_minutes`` / the category's ``resolve_hours``.
        Urgent: the ``urgent`` block, but never looser than the normal limits.
        ``created_at`` must be timezone-aware; the result is in UTC.
        """
        if created_at.tzinfo is None or created_at.utcoffset() is None:
            raise ValueError("created_at must be a timezone-aware datetime")
        start = created_at.astimezone(UTC)
        category = self.category(code)
        accept = timedelta(minutes=self.normal_accept_minutes)
        resolve = timedelta(hours=category.resolve_hours)
        if Priority.parse(priority) is Priority.URGENT:
            accept = min(accept, timedelta(minutes=self.urgent_accept_minutes))
            resolve = min(resolve, timedelta(hours=self.urgent_resolve_hours))
        return Deadlines(accept_by=start + accept, resolve_by=start + resolve)
