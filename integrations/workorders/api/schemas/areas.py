"""Areas, their aliases, and which grid a place lies in."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ...service import AreaDetailView, AreaMatchView
from .common import Input


class AliasCreate(Input):
    alias: str = Field(min_length=1, max_length=100, examples=["人民路"],
                       description="Another name of the grid: a street, a landmark")


class AreaPublic(BaseModel):
    code: str
    name: str
    tier: str
    parent_code: str | None
    fallback: bool = Field(description="Receives reports whose place matches no grid")
    aliases: list[str]

    @classmethod
    def from_view(cls, view: AreaDetailView) -> AreaPublic:
        return cls(code=view.code, name=view.name, tier=view.tier, parent_code=view.parent_code,
                   fallback=view.fallback, aliases=list(view.aliases))


class AreaMatchPublic(BaseModel):
    """The grid a place lies in."""

    code: str
    name: str
    matched: bool = Field(description="False: nothing matched, this is the fallback grid")
    alias: str | None = Field(description="The name or alias that matched; null if none did")

    @classmethod
    def from_view(cls, view: AreaMatchView) -> AreaMatchPublic:
        return cls(code=view.code, name=view.name, matched=view.matched, alias=view.alias)
