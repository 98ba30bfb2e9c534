"""Residents' photos and later coordinates: staged, attached to their own orders, audited.

The images are real (a PNG built with zlib and struct, a JPEG and a WebP of
one pixel) so the signature checks see what a phone would send.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import replace

import pytest
from sqlalchemy import func, select
from test_concurrency import run_in_threads

from integrations.workorders.adapters.orm import Attachment, OrderEvent, WorkOrder
from integrations.workorders.service import (
    Conflict,
    ImageTooLarge,
    InvalidInput,
    NotFound,
    OrderCreate,
    UnitOfWork,
    UnsupportedImage,
    accept,
    add_attachment,
    answer_satisfaction,
    attachment_counts,
    cancel,
    create_order,
    get_attachment_file,
    list_attachments,
    resolve,
    set_order_location,
    upload_attachment,
    verify_audit,
)
from tests.app.image_samples import JPEG, WEBP, png


def stage(w, ref: str, data: bytes | None = None):
    """A staged PNG of ``ref`` (``png(1)`` unless other bytes are given)."""
    view, _ = upload_attachment(w.uow(), ref, png(1) if data is None else data, "image/png",
                                w.clock)
    return view


def photos(w) -> list[Attachment]:
    with w.db.session() as s:
        return list(s.scalars(select(Attachment).order_by(Attachment.id)))


def limited_uow(w, **limits) -> UnitOfWork:
    return UnitOfWork(w.db.session_factory, replace(w.db.config, **limits))


def close(w, number: str, handler: int, ref: str) -> None:
    accept(w.uow(), number, handler, w.clock)
    resolve(w.uow(), number, handler, "已处理", w.clock)
    answer_satisfaction(w.uow(), number, ref, "satisfied", None, w.clock)


# --------------------------------------------------------------------- upload


def test_an_upload_is_staged_once_per_resident_and_bytes(world):
    first, created = upload_attachment(world.uow(), "tg:1", JPEG, "image/jpeg", world.clock)
    assert created is True
    assert (first.content_type, first.size, first.sha256, first.order_number) == (
        "image/jpeg", len(JPEG), hashlib.sha256(JPEG).hexdigest(), None)
    assert len(first.id) >= 22  # a random token, not a counter
    again, created_again = upload_attachment(world.uow(), "tg:1", JPEG, "image/jpeg; q=1",
                                             world.clock)
    assert (again.id, created_again) == (first.id, False)
    other, other_created = upload_attachment(world.uow(), "tg:2", JPEG, "image/jpeg", world.clock)
    assert other_created and other.id != first.id
    webp, _ = upload_attachment(world.uow(), "tg:1", WEBP, "image/webp", world.clock)
    rows = photos(world)
    assert [(r.reporter_ref, r.public_id) for r in rows] == [
        ("tg:1", first.id), ("tg:2", other.id), ("tg:1", webp.id)]
    assert get_attachment_file(world.uow(), first.id).data == JPEG
    assert rows[0].created_at == world.clock and rows[0].order_id is None


@pytest.mark.parametrize(("data", "kind", "error", "field"), [
    (png(1), "image/jpeg", UnsupportedImage, "content_type"),   # bytes and header disagree
    (b"%PDF-1.7 not an image", "image/png", UnsupportedImage, "content_type"),
    (png(1), "image/gif", UnsupportedImage, "content_type"),
    (png(1), None, UnsupportedImage, "content_type"),
    (b"", "image/png", InvalidInput, "body"),
])
def test_what_is_not_an_accepted_image_is_refused(world, data, kind, error, field):
    with pytest.raises(error) as caught:
        upload_attachment(world.uow(), "tg:1", data, kind, world.clock)
    assert caught.value.field == field
    if error is UnsupportedImage:
        assert caught.value.reason_zh == "只能上传 JPG、PNG 或 WebP 图片。"
    assert photos(world) == []


def test_a_photo_over_the_limit_is_refused(world):
    big = png(1, size=64)
    uow = limited_uow(world, max_attachment_bytes=len(big) - 1)
    with pytest.raises(ImageTooLarge) as caught:
        upload_attachment(uow, "tg:1", big, "image/png", world.clock)
    assert caught.value.reason_zh.startswith("图片太大了")
    with pytest.raises(InvalidInput) as bad_ref:
        upload_attachment(world.uow(), "nobody", png(1), "image/png", world.clock)
    assert bad_ref.value.field == "reporter_ref"
    assert photos(world) == []
    assert upload_attachment(limited_uow(world, max_attachment_bytes=len(big)), "tg:1", big,
                             "image/png", world.clock)[1] is True


# --------------------------------------------------------------------- attach


def test_attaching_writes_an_event_and_tells_the_assignee(world):
    h = world.handler(telegram_chat_id="900")
    order = world.order(reporter_ref="tg:7")
    photo = stage(world, "tg:7")
    world.tick(minutes=5)
    view = add_attachment(world.uow(), order.number, "tg:7", photo.id, world.clock)
    assert view.status == "assigned"

    row = next(p for p in photos(world) if p.public_id == photo.id)
    assert (row.order_id, row.attached_at) == (world.row(order.number).id, world.clock)
    event = world.events(order.number)[-1]
    assert (event.action, event.actor, event.from_status, event.to_status, event.note) == (
        "attachment", "resident", "assigned", "assigned", f"attachment:{photo.id}")
    (told,) = world.outbox(order.number, topic="order.attachment_added")
    assert (told.recipient_kind, told.recipient_ref, told.channel) == (
        "handler", str(h), "telegram")
    assert told.payload["text"] == f"工单 {order.number} 收到居民补充的照片，请在系统中查看。"
    assert told.payload["attachment_id"] == photo.id and told.payload["chat_id"] == "900"
    assert told.dedupe_key == f"{order.number}:{event.seq}:handler:{h}"

    # a retry changes nothing
    add_attachment(world.uow(), order.number, "tg:7", photo.id, world.clock)
    assert world.actions(order.number) == ["create", "dispatch", "attachment"]
    assert len(world.outbox(order.number, topic="order.attachment_added")) == 1
    assert [p.id for p in list_attachments(world.uow(), order.number)] == [photo.id]
    assert attachment_counts(world.uow(), [order.number]) == {order.number: 1}
    assert get_attachment_file(world.uow(), photo.id).order_number == order.number
    assert verify_audit(world.uow()) == []


def test_a_queued_order_takes_photos_without_telling_anyone(world):
    order = world.order(reporter_ref="tg:7")  # nobody to dispatch to: pending
    add_attachment(world.uow(), order.number, "tg:7", stage(world, "tg:7").id, world.clock)
    assert world.actions(order.number) == ["create", "queue", "attachment"]
    assert world.outbox(order.number, topic="order.attachment_added") == []


def test_nobody_reaches_another_residents_order_or_photo(world):
    world.handler()
    mine = world.order(reporter_ref="tg:7")
    theirs = world.order(reporter_ref="tg:8")
    my_photo, their_photo = stage(world, "tg:7"), stage(world, "tg:8")
    for number, ref, photo_id in (
        (theirs.number, "tg:7", my_photo.id),      # their order
        (mine.number, "tg:7", their_photo.id),     # their photo
        (mine.number, "tg:7", "no-such-photo"),
        ("12345678", "tg:7", my_photo.id),
    ):
        with pytest.raises(NotFound):
            add_attachment(world.uow(), number, ref, photo_id, world.clock)
    assert all(p.order_id is None for p in photos(world))
    assert world.actions(mine.number) == ["create", "dispatch"]


def test_a_photo_belongs_to_one_order_and_closed_orders_take_none(world):
    h = world.handler()
    first = world.order(reporter_ref="tg:7")
    second = world.order(reporter_ref="tg:7")
    photo = stage(world, "tg:7")
    add_attachment(world.uow(), first.number, "tg:7", photo.id, world.clock)
    with pytest.raises(Conflict) as elsewhere:
        add_attachment(world.uow(), second.number, "tg:7", photo.id, world.clock)
    assert elsewhere.value.reason_zh == f"这张照片已添加到工单 {first.number}。"

    close(world, second.number, h, "tg:7")
    assert world.row(second.number).status == "closed"
    with pytest.raises(Conflict) as closed:
        add_attachment(world.uow(), second.number, "tg:7", stage(world, "tg:7", png(2)).id,
                       world.clock)
    assert closed.value.reason_zh == "该工单已结案或已撤销，不能再添加照片。"
    cancelled = world.order(reporter_ref="tg:7")
    cancel(world.uow(), cancelled.number, "tg:7", world.clock)
    with pytest.raises(Conflict):
        add_attachment(world.uow(), cancelled.number, "tg:7", stage(world, "tg:7", png(3)).id,
                       world.clock)
    assert world.actions(second.number)[-1] == "satisfied"


def test_an_order_takes_at_most_the_configured_number_of_photos(world):
    order = world.order(reporter_ref="tg:7")
    ids = [stage(world, "tg:7", png(i)).id for i in range(3)]
    for photo_id in ids[:2]:
        add_attachment(limited_uow(world, max_attachments_per_order=2), order.number, "tg:7",
                       photo_id, world.clock)
    with pytest.raises(Conflict) as full:
        add_attachment(limited_uow(world, max_attachments_per_order=2), order.number, "tg:7",
                       ids[2], world.clock)
    assert full.value.reason_zh == "每个工单最多添加2张照片。"
    assert attachment_counts(world.uow(), [order.number]) == {order.number: 2}


# ------------------------------------------------------------ create with photos


def report(w, ref: str, **kw):
    data = dict(category="dispute.neighbor", description="楼道堆满杂物，影响通行。",
                location_text="幸福里小区5号楼", area_code="grid:qy-dz-01",
                reporter_channel="tg", reporter_ref=ref)
    data.update(kw)
    return create_order(w.uow(), OrderCreate(**data), w.clock)


def test_an_order_is_created_with_its_photos_in_one_transaction(world):
    world.handler()
    ids = [stage(world, "tg:7", png(i)).id for i in range(2)]
    order = report(world, "tg:7", attachment_ids=(ids[0], ids[1], ids[0]), client_ref="k-1")
    assert world.actions(order.number) == ["create", "attachment", "attachment", "dispatch"]
    assert [e.note for e in world.events(order.number)[1:3]] == [f"attachment:{i}" for i in ids]
    order_id = world.row(order.number).id
    assert [(p.order_id, p.attached_at) for p in photos(world)] == [(order_id, world.clock)] * 2
    # the same request again (a retry) returns the same order, without error
    replay = report(world, "tg:7", attachment_ids=tuple(ids), client_ref="k-1")
    assert replay.number == order.number
    with world.db.session() as s:
        assert s.scalar(select(func.count()).select_from(WorkOrder)) == 1
    assert verify_audit(world.uow()) == []


@pytest.mark.parametrize("whose", ["other resident", "attached", "unknown"])
def test_photos_that_are_not_staged_for_the_reporter_refuse_the_order(world, whose):
    world.handler()
    if whose == "other resident":
        photo_id = stage(world, "tg:8").id
    elif whose == "attached":
        photo_id = stage(world, "tg:7").id
        report(world, "tg:7", attachment_ids=(photo_id,))
    else:
        photo_id = "does-not-exist"
    before = world.count(WorkOrder)
    with pytest.raises(InvalidInput) as caught:
        report(world, "tg:7", attachment_ids=(photo_id,), location_text="别处")
    assert (caught.value.field, caught.value.reason_zh) == ("attachment_ids",
                                                             "照片已失效，请重新发送。")
    assert world.count(WorkOrder) == before


def test_too_many_photos_on_creation_are_refused(world):
    ids = [stage(world, "tg:7", png(i)).id for i in range(3)]
    with pytest.raises(InvalidInput) as caught:
        create_order(limited_uow(world, max_attachments_per_order=2), OrderCreate(
            category="dispute.neighbor", description="噪音", location_text="3号楼",
            area_code="grid:qy-dz-01", reporter_channel="tg", reporter_ref="tg:7",
            attachment_ids=tuple(ids)), world.clock)
    assert caught.value.field == "attachment_ids"
    assert world.count(WorkOrder) == 0 and all(p.order_id is None for p in photos(world))


# ------------------------------------------------------------------- location


def test_the_reporter_adds_coordinates_to_their_open_order(world):
    h = world.handler()
    order = world.order(reporter_ref="tg:7")
    world.tick(minutes=3)
    view = set_order_location(world.uow(), order.number, "tg:7", 31.2304191, 121.4737012,
                              world.clock)
    assert (view.latitude, view.longitude) == (31.2304191, 121.4737012)
    row = world.row(order.number)
    assert (row.latitude, row.longitude, row.updated_at) == (31.2304191, 121.4737012, world.clock)
    event = world.events(order.number)[-1]
    assert (event.action, event.actor, event.note, event.to_status) == (
        "location", "resident", "31.23042,121.47370", "assigned")
    set_order_location(world.uow(), order.number, "tg:7", 31.2304191, 121.4737012, world.clock)
    assert world.actions(order.number).count("location") == 1  # the same place again: nothing

    with pytest.raises(NotFound):
        set_order_location(world.uow(), order.number, "tg:8", 30.0, 120.0, world.clock)
    with pytest.raises(InvalidInput) as bad:
        set_order_location(world.uow(), order.number, "tg:7", 91.0, 120.0, world.clock)
    assert (bad.value.field, bad.value.reason_zh) == ("latitude", "位置坐标有误。")
    with pytest.raises(InvalidInput):
        set_order_location(world.uow(), order.number, "tg:7", 30.0, float("nan"), world.clock)
    close(world, order.number, h, "tg:7")
    with pytest.raises(Conflict) as closed:
        set_order_location(world.uow(), order.number, "tg:7", 30.0, 120.0, world.clock)
    assert closed.value.reason_zh == "该工单已结案或已撤销，不能再修改位置。"
    assert world.row(order.number).latitude == 31.2304191
    assert verify_audit(world.uow()) == []


# ---------------------------------------------------------------- concurrency


def test_parallel_uploads_of_the_same_photo_store_it_once(any_world):
    w = any_world
    results = run_in_threads(12, lambda i: upload_attachment(
        w.uow(), "tg:7", JPEG, "image/jpeg", w.clock), workers=12)
    assert [r for r in results if isinstance(r, BaseException)] == []
    assert len({view.id for view, _ in results}) == 1
    assert Counter(created for _, created in results) == {True: 1, False: 11}
    assert len(photos(w)) == 1


def test_one_photo_raced_onto_several_orders_lands_on_one(any_world):
    w = any_world
    w.handler(capacity=20)
    numbers = [w.order(reporter_ref="tg:7", location_text=f"{i}号楼").number for i in range(8)]
    photo = stage(w, "tg:7")

    def attach(i):
        try:
            add_attachment(w.uow(), numbers[i], "tg:7", photo.id, w.clock)
            return "won"
        except Conflict:
            return "lost"

    results = run_in_threads(len(numbers), attach, workers=len(numbers))
    assert Counter(results) == {"won": 1, "lost": len(numbers) - 1}
    with w.db.session() as s:
        events = s.scalar(select(func.count()).select_from(OrderEvent)
                          .where(OrderEvent.action == "attachment"))
    (row,) = photos(w)
    assert events == 1 and w.actions(numbers[results.index("won")])[-1] == "attachment"
    assert row.order_id == w.row(numbers[results.index("won")]).id
    assert verify_audit(w.uow()) == []


def test_parallel_photos_never_pass_the_limit_of_an_order(any_world):
    w = any_world
    w.handler()
    number = w.order(reporter_ref="tg:7").number
    ids = [stage(w, "tg:7", png(i)).id for i in range(10)]

    def attach(i):
        try:
            add_attachment(limited_uow(w, max_attachments_per_order=4), number, "tg:7", ids[i],
                           w.clock)
            return "attached"
        except Conflict:
            return "full"

    results = run_in_threads(len(ids), attach, workers=len(ids))
    assert Counter(results) == {"attached": 4, "full": 6}
    assert attachment_counts(w.uow(), [number]) == {number: 4}
    assert w.actions(number).count("attachment") == 4
    assert len(w.outbox(number, topic="order.attachment_added")) == 4
    assert verify_audit(w.uow()) == []
