"""Residents' photos and coordinates added after an order exists.

A channel uploads a photo for a resident (``upload_attachment``): it is
*staged* (no order yet) under a random public id. The resident then attaches
it to one of their own orders (``add_attachment``), or the order is created
with it (``create_order``'s ``attachment_ids``, through ``staged_ready`` and
``attach_staged`` here). Either way the attachment is an audit event whose
note names only the photo's public id, and the assignee is told to look.

Photos are personal data: their bytes are never logged, never put in an
event or a notification; a resident reaches only their own photos and orders
(anything else is ``NotFound``, exactly like an id that does not exist).
"""

from __future__ import annotations

import hashlib
import math
import secrets
from collections.abc import Collection, Iterable
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from ..adapters.inserts import insert_unless_taken
from ..adapters.orm import Attachment, Handler, WorkOrder
from ..domain.images import IMAGE_TYPES, media_type, sniff
from ..domain.lifecycle import Status
from . import messages, outbox
from .audit_trail import ATTACHMENT, LOCATION, record
from .common import canonical_number, load_order, lock_order, order_view, require_aware
from .config import ServiceConfig
from .errors import (
    Conflict,
    ImageTooLarge,
    InvalidInput,
    NotFound,
    StagedPhotoQuota,
    UnsupportedImage,
)
from .uow import UnitOfWork
from .views import REPORTER_CHANNELS, AttachmentFile, AttachmentView, OrderView

#: Draws of a fresh public id before giving up (a clash is practically impossible).
PUBLIC_ID_ATTEMPTS = 3
STALE_PHOTOS_ZH = "照片已失效，请重新发送。"
#: Statuses in which the resident may still add photos or a place (as ``queries.REPORTER_OPEN``).
REPORTER_OPEN = tuple(
    s.value for s in Status if s not in (Status.CLOSED, Status.ARCHIVED, Status.CANCELLED)
)


# --------------------------------------------------------------------- upload


def upload_attachment(
    uow: UnitOfWork, reporter_ref: str, data: bytes, content_type: str | None, now: datetime
) -> tuple[AttachmentView, bool]:
    """Stage a photo ``reporter_ref`` sent; ``(the photo, whether this call stored it)``.

    ``content_type`` is the declared type; the bytes must be of that type
    (JPEG, PNG or WebP), else ``UnsupportedImage``. Empty: ``InvalidInput``;
    over ``config.max_attachment_bytes``: ``ImageTooLarge``. The same bytes
    from the same resident are stored once: a second upload returns the
    first photo (staged or attached) and ``False``. A new photo that would
    take the resident over ``config.max_staged_photos`` staged photos or
    ``config.max_staged_bytes`` staged bytes (expired ones not counted):
    ``StagedPhotoQuota``. Concurrent uploads of one resident may each pass
    the check, so the quota can be exceeded by a few in flight at once.
    """
    require_aware(now)
    ref = _reporter_ref(reporter_ref)
    declared = media_type(content_type)
    if declared not in IMAGE_TYPES:
        raise UnsupportedImage(f"content type {declared or 'none'!r} is not an accepted image")
    if not data:
        raise InvalidInput("body", "the image is empty", "没有收到图片，请重新发送。")
    limit = uow.config.max_attachment_bytes
    if len(data) > limit:
        raise ImageTooLarge(limit)
    if sniff(data) != declared:
        raise UnsupportedImage(f"the bytes are not {declared}")
    digest = hashlib.sha256(data).hexdigest()
    for _ in range(PUBLIC_ID_ATTEMPTS):
        with uow:
            session = uow.session
            known = session.scalar(select(Attachment).where(
                Attachment.reporter_ref == ref, Attachment.sha256 == digest))
            if known is not None:  # the same photo again: no new bytes, no quota
                view = _view(session, known)
                return view, False
            _check_staged_quota(session, uow.config, ref, len(data), now)
            inserted = _insert_ignoring_conflicts(session, {
                "public_id": new_public_id(), "reporter_ref": ref, "order_id": None,
                "content_type": declared, "size": len(data), "sha256": digest, "data": data,
                "created_at": now, "attached_at": None,
            })
            photo = session.scalar(
                select(Attachment).where(Attachment.reporter_ref == ref,
                                         Attachment.sha256 == digest)
            )
            if photo is None:  # the public id clashed: draw another
                continue
            view = _view(session, photo)
            uow.commit()
            return view, inserted
    raise Conflict(f"no free attachment id after {PUBLIC_ID_ATTEMPTS} attempts",
                   "系统繁忙，请稍后重试。")


def _check_staged_quota(
    session: Session, cfg: ServiceConfig, ref: str, size: int, now: datetime
) -> None:
    count, total = session.execute(
        select(func.count(), func.coalesce(func.sum(Attachment.size), 0)).where(
            Attachment.reporter_ref == ref, Attachment.order_id.is_(None),
            Attachment.created_at > now - cfg.staged_photo_ttl)
    ).one()
    if count >= cfg.max_staged_photos or int(total) + size > cfg.max_staged_bytes:
        raise StagedPhotoQuota(cfg.max_staged_photos)


def new_public_id() -> str:
    """A random urlsafe id of 22 characters (128 bits): not guessable, not sequential."""
    return secrets.token_urlsafe(16)


def _reporter_ref(reporter_ref: str | None) -> str:
    ref = (reporter_ref or "").strip()
    channel, _, ident = ref.partition(":")
    if channel not in REPORTER_CHANNELS or not ident or len(ref) > 128:
        raise InvalidInput("reporter_ref", "must look like '<channel>:<id>' (at most 128 chars)",
                           "反映人渠道标识有误。")
    return ref


def _insert_ignoring_conflicts(session: Session, row: dict[str, object]) -> bool:
    """Insert the photo unless its (reporter, sha256) or public id exists; whether it did
    (PostgreSQL waits for a concurrent insert of the same photo and then does nothing)."""
    return insert_unless_taken(session, Attachment.__table__, row) is not None


# --------------------------------------------------------------------- attach


def add_attachment(
    uow: UnitOfWork, number: str, reporter_ref: str, attachment_id: str, now: datetime
) -> OrderView:
    """Attach a staged photo of ``reporter_ref`` to their own order ``number``.

    ``NotFound`` if the order or the photo is not theirs (or does not exist).
    Already attached to this order: nothing changes (a retry). ``Conflict``
    if the photo is attached to another order, the order is closed, archived
    or cancelled, or it already has ``config.max_attachments_per_order``
    photos. Writes an ``attachment`` event (no status change) and tells the
    assignee, if any.
    """
    require_aware(now)
    with uow:
        session, cfg = uow.session, uow.config
        order = _own_order(session, number, reporter_ref)
        photo = session.scalar(select(Attachment).where(
            Attachment.public_id == attachment_id, Attachment.reporter_ref == reporter_ref))
        if photo is None:
            raise NotFound("attachment", attachment_id)
        if photo.order_id == order.id:
            return order_view(order, cfg.taxonomy)
        if photo.order_id is not None:
            raise _elsewhere(session, photo.order_id)
        if order.status not in REPORTER_OPEN:
            raise Conflict(f"order {order.number} is {order.status}: no more photos",
                           "该工单已结案或已撤销，不能再添加照片。")
        held = session.scalar(
            select(func.count()).select_from(Attachment).where(Attachment.order_id == order.id))
        if (held or 0) >= cfg.max_attachments_per_order:
            raise _too_many(cfg)
        if attach_staged(session, order.id, reporter_ref, [attachment_id], now) != 1:
            session.expire(photo)  # attached by a concurrent call meanwhile
            raise _elsewhere(session, photo.order_id)
        event = record(session, order, action=ATTACHMENT, actor="resident", at=now,
                       from_status=order.status, to_status=order.status,
                       note=attachment_note(attachment_id))
        if order.assignee_id is not None:
            handler = session.get_one(Handler, order.assignee_id)
            outbox.to_handler(session, cfg, order, handler, seq=event.seq, now=now,
                              topic=outbox.TOPIC_ATTACHMENT_ADDED,
                              text=messages.attachment_added(order.number),
                              fields={"attachment_id": attachment_id})
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    return view


def attachment_note(public_id: str) -> str:
    """The audit note of an attachment event: the photo's public id, nothing else."""
    return f"attachment:{public_id}"


def _own_order(session: Session, number: str, reporter_ref: str) -> WorkOrder:
    order = lock_order(session, number)
    if order.reporter_ref != reporter_ref:
        raise NotFound("order", number)
    return order


def _elsewhere(session: Session, order_id: int | None) -> Conflict:
    other = session.scalar(select(WorkOrder.number).where(WorkOrder.id == order_id))
    return Conflict(f"the attachment belongs to order {other}",
                    f"这张照片已添加到工单 {other}。")


def _too_many(cfg: ServiceConfig) -> Conflict:
    most = cfg.max_attachments_per_order
    return Conflict(f"an order takes at most {most} photos", f"每个工单最多添加{most}张照片。")


# ------------------------------------------------------- on creating an order


def clean_attachment_ids(cfg: ServiceConfig, ids: Iterable[str]) -> tuple[str, ...]:
    """The distinct ids in the order given; ``InvalidInput`` if more than an order takes."""
    unique = tuple(dict.fromkeys(i.strip() for i in ids))
    if any(not i or len(i) > 32 for i in unique):
        raise InvalidInput("attachment_ids", "unknown attachment id", STALE_PHOTOS_ZH)
    most = cfg.max_attachments_per_order
    if len(unique) > most:
        raise InvalidInput("attachment_ids", f"at most {most} photos",
                           f"每个工单最多添加{most}张照片。")
    return unique


def staged_ready(session: Session, reporter_ref: str, ids: Collection[str]) -> bool:
    """Whether every id is a staged (unattached) photo of ``reporter_ref``."""
    found = session.scalar(select(func.count()).select_from(Attachment).where(
        Attachment.public_id.in_(list(ids)), Attachment.reporter_ref == reporter_ref,
        Attachment.order_id.is_(None)))
    return found == len(ids)


def stale_photos() -> InvalidInput:
    """The error of photos that are gone, someone else's, or attached elsewhere."""
    return InvalidInput("attachment_ids", "not staged photos of this reporter", STALE_PHOTOS_ZH)


def attach_staged(
    session: Session, order_id: int, reporter_ref: str, ids: Collection[str], now: datetime
) -> int:
    """Attach those of ``ids`` that are staged photos of ``reporter_ref``; how many were.

    One conditional UPDATE: a photo a concurrent transaction attached first
    is not taken (PostgreSQL re-checks the row after waiting for its lock).
    """
    result = session.execute(
        update(Attachment)
        .where(Attachment.public_id.in_(list(ids)), Attachment.reporter_ref == reporter_ref,
               Attachment.order_id.is_(None))
        .values(order_id=order_id, attached_at=now)
        .execution_options(synchronize_session=False)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


# ------------------------------------------------------------------- location


def set_order_location(
    uow: UnitOfWork, number: str, reporter_ref: str, latitude: float, longitude: float,
    now: datetime,
) -> OrderView:
    """Set the coordinates of ``reporter_ref``'s own order (e.g. a location shared later).

    ``InvalidInput`` for coordinates out of range; ``NotFound`` if the order
    is not theirs; ``Conflict`` once it is closed, archived or cancelled.
    Writes a ``location`` event whose note is ``"lat,lon"`` to 5 decimals;
    the same coordinates again change nothing.
    """
    require_aware(now)
    for name, value, bound in (("latitude", latitude, 90), ("longitude", longitude, 180)):
        if not (isinstance(value, (int, float)) and math.isfinite(value)
                and -bound <= value <= bound):
            raise InvalidInput(name, f"must be within ±{bound}", "位置坐标有误。")
    note = location_note(latitude, longitude)
    with uow:
        session, cfg = uow.session, uow.config
        order = _own_order(session, number, reporter_ref)
        if order.status not in REPORTER_OPEN:
            raise Conflict(f"order {order.number} is {order.status}: the place is final",
                           "该工单已结案或已撤销，不能再修改位置。")
        if (order.latitude is not None and order.longitude is not None
                and location_note(order.latitude, order.longitude) == note):
            return order_view(order, cfg.taxonomy)
        order.latitude, order.longitude = float(latitude), float(longitude)
        record(session, order, action=LOCATION, actor="resident", at=now,
               from_status=order.status, to_status=order.status, note=note)
        view = order_view(order, cfg.taxonomy)
        uow.commit()
    return view


def location_note(latitude: float, longitude: float) -> str:
    return f"{latitude:.5f},{longitude:.5f}"


# -------------------------------------------------------------------- reading


def list_attachments(uow: UnitOfWork, number: str) -> list[AttachmentView]:
    """The photos of order ``number`` (not their bytes), in the order they were attached.

    ``NotFound`` if there is no such order; callers decide who may see it.
    """
    with uow.read_only():
        session = uow.session
        order = load_order(session, number)
        photos = session.scalars(
            select(Attachment).where(Attachment.order_id == order.id)
            .order_by(Attachment.attached_at, Attachment.id)
        )
        return [_view(session, p, order.number) for p in photos]


def get_attachment_file(uow: UnitOfWork, attachment_id: str) -> AttachmentFile:
    """A photo's bytes and the number of its order (None while staged); ``NotFound``.

    Callers decide who may see it (by its order); never log the result.
    """
    with uow.read_only():
        session = uow.session
        row = session.execute(
            select(Attachment.public_id, Attachment.content_type, Attachment.data,
                   WorkOrder.number)
            .outerjoin(WorkOrder, WorkOrder.id == Attachment.order_id)
            .where(Attachment.public_id == attachment_id)
        ).one_or_none()
    if row is None:
        raise NotFound("attachment", attachment_id)
    return AttachmentFile(id=row[0], content_type=row[1], data=bytes(row[2]),
                          order_number=row[3])


def attachment_counts(uow: UnitOfWork, numbers: Collection[str]) -> dict[str, int]:
    """How many photos each of these orders carries (orders without any: 0)."""
    if not numbers:
        return {}
    canonical = {canonical_number(n) for n in numbers}
    with uow.read_only():
        rows = uow.session.execute(
            select(WorkOrder.number, func.count(Attachment.id))
            .join(Attachment, Attachment.order_id == WorkOrder.id)
            .where(WorkOrder.number.in_(sorted(canonical)))
            .group_by(WorkOrder.number)
        ).all()
    counts = {number: 0 for number in canonical}
    counts.update({number: int(count) for number, count in rows})
    return counts


def _view(session: Session, photo: Attachment, order_number: str | None = None) -> AttachmentView:
    if order_number is None and photo.order_id is not None:
        order_number = session.scalar(
            select(WorkOrder.number).where(WorkOrder.id == photo.order_id))
    return AttachmentView(
        id=photo.public_id, content_type=photo.content_type, size=photo.size,
        sha256=photo.sha256, created_at=photo.created_at, order_number=order_number,
        attached_at=photo.attached_at,
    )

