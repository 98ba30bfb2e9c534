"""The dispatcher's inbox (待办) as JSON."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from ...service import WorkItem, Worklist


class WorkItemPublic(BaseModel):
    section: str = Field(description="pending, urgent, triage, escalated, overdue, callbacks "
                                     "or dissatisfied")
    section_label: str = Field(description="待派单, 紧急工单, 待分拣, 已升级, 已逾期, 转人工, 不满意")
    key: str = Field(description="The order number, or callback:<id>")
    order_number: str | None
    callback_id: int | None
    title: str = Field(description="Category and place; for a callback, why and the channel")
    entered_at: datetime = Field(description="When it entered the section")
    age_seconds: int
    status: str | None
    priority: str | None
    area_code: str | None

    @classmethod
    def from_item(cls, item: WorkItem) -> WorkItemPublic:
        return cls(
            section=item.section, section_label=item.section_label, key=item.key,
            order_number=item.order_number, callback_id=item.callback_id, title=item.title,
            entered_at=item.entered_at, age_seconds=int(item.age.total_seconds()),
            status=item.status, priority=item.priority, area_code=item.area_code,
        )


class WorklistPublic(BaseModel):
    version: str = Field(description="Changes whenever an order or a callback request changes; "
                                     "also the ETag (send it back as If-None-Match)")
    generated_at: datetime
    newest_at: datetime | None = Field(description="The newest entered_at; null when empty")
    counts: dict[str, int] = Field(description="Items shown per section (every section)")
    truncated: list[str] = Field(description="Sections with more items than the limit")
    items: list[WorkItemPublic] = Field(description="Every section's items, newest first")

    @classmethod
    def from_worklist(cls, found: Worklist) -> WorklistPublic:
        return cls(
            version=found.version, generated_at=found.now, newest_at=found.newest_at,
            counts=found.counts, truncated=sorted(found.truncated),
            items=[WorkItemPublic.from_item(i) for i in found.items],
        )


class WorklistVersionPublic(BaseModel):
    version: str
