"""``POST /api/v1/warnings/{id}/link``: a surge's orders under one parent order (合并办理)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from ...domain.lifecycle import STATUS_LABELS, Status
from ...service.linking import SurgeLinks
from .common import Input


class LinkRequest(Input):
    parent_number: str | None = Field(
        default=None, max_length=32,
        description="The parent order; default the earliest open order of the surge")


class LinkedOrderPublic(BaseModel):
    number: str
    status: str
    status_label: str


class SurgeLinksPublic(BaseModel):
    warning_id: int
    parent_number: str | None
    children: list[LinkedOrderPublic]

    @classmethod
    def from_view(cls, links: SurgeLinks) -> SurgeLinksPublic:
        return cls(warning_id=links.warning_id, parent_number=links.parent_number,
                   children=[LinkedOrderPublic(number=c.number, status=c.status,
                                               status_label=STATUS_LABELS[Status(c.status)])
                             for c in links.children])
