"""Residents' photos in and out (the bytes themselves travel as raw bodies, not JSON)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime

from pydantic import BaseModel, Field

from ...domain.images import IMAGE_TYPES
from ...service import AttachmentView
from .common import Input, ReporterRef

#: The OpenAPI request body of an upload: the image's bytes, one of the accepted types.
IMAGE_BODY = {
    "required": True,
    "content": {kind: {"schema": {"type": "string", "format": "binary"}} for kind in IMAGE_TYPES},
}


class AttachmentReceipt(BaseModel):
    """What the channel learns of a photo it uploaded."""

    id: str = Field(description="The photo's public id (random, not guessable)")
    content_type: str
    size: int = Field(description="Bytes")
    sha256: str
    order_number: str | None = Field(
        description="The order it is attached to; null while staged (uploaded, not attached)"
    )

    @classmethod
    def from_view(cls, view: AttachmentView) -> AttachmentReceipt:
        fields = asdict(view)
        return cls(**{name: fields[name] for name in cls.model_fields})


class AttachmentPublic(BaseModel):
    """A photo of an order (its bytes: ``GET /api/v1/attachments/{id}``)."""

    id: str
    content_type: str
    size: int
    sha256: str
    created_at: datetime

    @classmethod
    def from_view(cls, view: AttachmentView) -> AttachmentPublic:
        fields = asdict(view)
        return cls(**{name: fields[name] for name in cls.model_fields})


class OrderAttachmentCreate(Input):
    """The reporter attaches one of their staged photos to their own order."""

    reporter_ref: ReporterRef
    attachment_id: str = Field(min_length=1, max_length=32,
                               description="The id ``POST /api/v1/attachments`` returned")
