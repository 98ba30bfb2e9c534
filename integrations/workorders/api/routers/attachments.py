"""``/api/v1/attachments`` and ``/api/v1/orders/{number}/attachments``: residents' photos.

- ``POST /attachments?reporter_ref=``: a channel (its token) uploads a
  photo a resident sent, as the raw body (``image/jpeg``, ``image/png`` or
  ``image/webp``, checked against the bytes; up to ``max_attachment_bytes``).
  It is staged: 201 with its id, or 200 with the first id when the same
  resident sent the same bytes before; 409 over the resident's quota of
  staged photos. Staged photos never attached expire (the sweeper removes them).
- ``POST /orders/{number}/attachments``: a channel attaches a staged photo
  of the reporter to their own order.
- ``GET /orders/{number}/attachments``: the photos of an order (not the
  bytes), for staff who may see the order and a channel for its reporter.
- ``GET /attachments/{id}``: the bytes, for staff who may see the photo's
  order; a staged photo only for admins. Everyone else: 404. Each download is
  logged (the id and who, never the content).
"""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Query, Request, Response

from ...domain.images import IMAGE_TYPES, media_type
from ...service import (
    ImageTooLarge,
    NotFound,
    UnitOfWork,
    UnsupportedImage,
    add_attachment,
    get_attachment_file,
    get_order,
    list_attachments,
    upload_attachment,
)
from ..access import can_see, reporter_order, require_reporter_ref, visible_order
from ..body_limit import BodyTooLarge
from ..deps import ADMIN, READERS, RESIDENT_AGENT, STAFF, NowDep, Principal, StateDep, UowDep
from ..idempotency import IdempotencyKey, once
from ..present import resident_order
from ..schemas.attachments import (
    IMAGE_BODY,
    AttachmentPublic,
    AttachmentReceipt,
    OrderAttachmentCreate,
)
from ..schemas.common import AUTH_ERRORS, ErrorBody
from ..schemas.orders import ResidentOrderPublic
from . import API_V1

router = APIRouter(prefix=API_V1, tags=["attachments"], responses=AUTH_ERRORS)
audit_log = logging.getLogger("integrations.workorders.api.audit")

#: The upload path: ``app`` lets bodies up to ``max_attachment_bytes`` through here only.
UPLOAD_PATH = f"{API_V1}/attachments"

Resident = Annotated[Principal, Depends(RESIDENT_AGENT)]
NOT_FOUND: dict[int | str, dict] = {
    404: {"model": ErrorBody, "description": "No such photo or order (for this caller)"},
}


async def image_body(request: Request, state: StateDep, principal: Resident) -> bytes:
    """The uploaded bytes, read only once the caller is known to be a channel account.

    A declared type that is no image, or a declared length over the limit, is
    refused before anything is read; a body without ``Content-Length`` is
    counted as it streams and refused as soon as it passes the limit.
    """
    if media_type(request.headers.get("content-type")) not in IMAGE_TYPES:
        raise UnsupportedImage("the declared content type is not an accepted image")
    limit = state.app.config.max_attachment_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ImageTooLarge(limit)
    chunks: list[bytes] = []
    received = 0
    try:
        async for chunk in request.stream():
            received += len(chunk)
            if received > limit:
                raise ImageTooLarge(limit)
            chunks.append(chunk)
    except BodyTooLarge as exc:  # the general body limit, if it is the lower one
        raise ImageTooLarge(min(limit, exc.limit)) from exc
    return b"".join(chunks)


@router.post(
    "/attachments", status_code=201, response_model=AttachmentReceipt,
    openapi_extra={"requestBody": IMAGE_BODY},
    responses={200: {"description": "The same resident sent the same bytes before: that photo"},
               413: {"model": ErrorBody, "description": "Larger than max_attachment_bytes"},
               415: {"model": ErrorBody, "description": "Not a JPEG, PNG or WebP image"},
               409: {"model": ErrorBody, "description": "The resident holds as many staged "
                     "photos (or bytes) as allowed; they expire after staged_photo_hours"},
               422: {"model": ErrorBody, "description": "Empty, or no reporter_ref"}},
    summary="Upload a resident's photo (staged until attached to an order)",
)
def post_attachment(
    response: Response,
    uow: UowDep,
    now: NowDep,
    principal: Resident,
    data: Annotated[bytes, Depends(image_body)],
    reporter_ref: Annotated[str, Query(min_length=3, max_length=128)],
    content_type: Annotated[str | None, Header()] = None,
) -> AttachmentReceipt:
    reporter_ref = require_reporter_ref(principal, reporter_ref)
    view, created = upload_attachment(uow, reporter_ref, data, content_type, now)
    if not created:
        response.status_code = 200
    return AttachmentReceipt.from_view(view)


@router.get(
    "/attachments/{attachment_id}", response_class=Response,
    responses={200: {"content": {kind: {} for kind in IMAGE_TYPES},
                     "description": "The photo's bytes"}, **NOT_FOUND},
    summary="A photo's bytes (staff who may see its order; staged photos: admins)",
)
def download_attachment(
    attachment_id: str, uow: UowDep, principal: Annotated[Principal, Depends(STAFF)]
) -> Response:
    photo = get_attachment_file(uow, attachment_id)
    if not _may_see(uow, principal, photo.order_number):
        raise NotFound("attachment", attachment_id)
    audit_log.info("attachment viewed: id=%s order=%s actor=%s",
                   photo.id, photo.order_number or "-", principal.actor)
    return Response(
        content=photo.data, media_type=photo.content_type,
        headers={"Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"},
    )


def _may_see(uow: UnitOfWork, principal: Principal, order_number: str | None) -> bool:
    if order_number is None:
        return principal.role == ADMIN
    return can_see(uow, principal, get_order(uow, order_number))


@router.get(
    "/orders/{number}/attachments", response_model=list[AttachmentPublic], responses=NOT_FOUND,
    summary="The photos of an order (a channel account needs reporter_ref)",
)
def order_attachments(
    number: str,
    uow: UowDep,
    principal: Annotated[Principal, Depends(READERS)],
    reporter_ref: Annotated[str | None, Query(max_length=128)] = None,
) -> list[AttachmentPublic]:
    order = visible_order(uow, principal, number, reporter_ref)
    return [AttachmentPublic.from_view(v) for v in list_attachments(uow, order.number)]


@router.post(
    "/orders/{number}/attachments", response_model=ResidentOrderPublic,
    responses={**NOT_FOUND, 409: {"model": ErrorBody, "description":
               "Attached to another order, the order is closed, or it has all the photos "
               "it may carry"}},
    summary="The reporter attaches a staged photo to their own order",
)
def attach_photo(
    number: str, body: OrderAttachmentCreate, uow: UowDep, now: NowDep, principal: Resident,
    idempotency_key: IdempotencyKey = None,
) -> ResidentOrderPublic:
    ref = require_reporter_ref(principal, body.reporter_ref)
    return once(
        uow, now, principal, idempotency_key, action="photo", number=number, body=body,
        apply=lambda: resident_order(uow, add_attachment(uow, number, ref, body.attachment_id,
                                                         now)),
        replay=lambda n: resident_order(uow, reporter_order(uow, principal, n, ref)),
    )
