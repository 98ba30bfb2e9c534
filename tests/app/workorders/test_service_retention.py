"""Retention: staged photos expire after 24 h and have a per-resident quota;
delivered outbox rows are pruned after their retention. SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from integrations.workorders.adapters.orm import Attachment, OutboxMessage
from integrations.workorders.adapters.outbox_table import DEAD, DELIVERED, PENDING
from integrations.workorders.service import add_attachment, upload_attachment
from integrations.workorders.service.errors import StagedPhotoQuota
from integrations.workorders.service.retention import prune_delivered_outbox, run_retention
from integrations.workorders.service.uow import UnitOfWork
from tests.app.image_samples import png


def with_config(world, **changes) -> UnitOfWork:
    db = world.db
    return UnitOfWork(db.session_factory, dataclasses.replace(db.config, **changes))


def photos(world) -> list[tuple[str, str, int | None]]:
    with world.db.session() as s:
        return [(a.public_id, a.reporter_ref, a.order_id)
                for a in s.scalars(select(Attachment).order_by(Attachment.id))]


def test_staged_photos_expire_after_24_hours_attached_ones_stay(any_world):
    w = any_world
    order = w.order(reporter_ref="tg:1")
    old, _ = upload_attachment(w.uow(), "tg:1", png(1), "image/png", w.clock)
    kept, _ = upload_attachment(w.uow(), "tg:1", png(2), "image/png", w.clock)
    add_attachment(w.uow(), order.number, "tg:1", kept.id, w.clock)
    w.tick(hours=1)
    young, _ = upload_attachment(w.uow(), "tg:2", png(3), "image/png", w.clock)

    report = run_retention(w.uow(), w.clock + timedelta(hours=22, minutes=59))  # old: 23 h 59 min
    assert report.staged_photos_removed == 0
    report = run_retention(w.uow(), w.clock + timedelta(hours=23, minutes=1))  # old: 24 h 1 min
    assert report.staged_photos_removed == 1
    ids = [p[0] for p in photos(w)]
    assert old.id not in ids and kept.id in ids and young.id in ids
    report = run_retention(w.uow(), w.clock + timedelta(hours=25))
    assert report.staged_photos_removed == 1
    assert [p[0] for p in photos(w)] == [kept.id]


def test_the_expiry_is_configurable(world):
    uow = with_config(world, staged_photo_ttl=timedelta(hours=2))
    upload_attachment(uow, "tg:1", png(1), "image/png", world.clock)
    later = world.clock + timedelta(hours=2, seconds=1)
    assert run_retention(uow, later).staged_photos_removed == 1
    assert photos(world) == []


def test_a_resident_over_the_staged_quota_is_refused_politely(any_world):
    w = any_world
    uow = with_config(w, max_staged_photos=3)
    for seed in range(3):
        upload_attachment(uow, "tg:1", png(seed), "image/png", w.clock)
    with pytest.raises(StagedPhotoQuota) as refused:
        upload_attachment(uow, "tg:1", png(9), "image/png", w.clock)
    assert "请先完成反映" in refused.value.reason_zh
    # the same photo again is no new photo: returned, not refused
    again, stored = upload_attachment(uow, "tg:1", png(0), "image/png", w.clock)
    assert stored is False
    # other residents have their own quota
    upload_attachment(uow, "tg:2", png(9), "image/png", w.clock)
    assert len(photos(w)) == 4
    # expired photos no longer count (even before the sweeper removed them)
    later = w.clock + timedelta(hours=25)
    upload_attachment(uow, "tg:1", png(10), "image/png", later)
    assert len(photos(w)) == 5


def test_the_byte_quota_counts_staged_bytes(world):
    one = png(1, size=40)
    uow = with_config(world, max_staged_bytes=2 * len(one) + 10)
    upload_attachment(uow, "tg:1", png(1, size=40), "image/png", world.clock)
    upload_attachment(uow, "tg:1", png(2, size=40), "image/png", world.clock)
    with pytest.raises(StagedPhotoQuota):
        upload_attachment(uow, "tg:1", png(3, size=40), "image/png", world.clock)


def test_delivered_outbox_rows_are_pruned_after_their_retention(any_world):
    w = any_world
    orders = [w.order() for _ in range(3)]
    rows = w.outbox()
    assert len(rows) >= 3
    delivered_long_ago, delivered_recently, *rest = [r.id for r in rows]
    with w.db.session() as s, s.begin():
        s.execute(update(OutboxMessage).where(OutboxMessage.id == delivered_long_ago)
                  .values(status=DELIVERED, delivered_at=w.clock))
        s.execute(update(OutboxMessage).where(OutboxMessage.id == delivered_recently)
                  .values(status=DELIVERED, delivered_at=w.clock + timedelta(days=6)))
        s.execute(update(OutboxMessage).where(OutboxMessage.id == rest[0])
                  .values(status=DEAD))
    now = w.clock + timedelta(days=7, minutes=1)
    assert prune_delivered_outbox(w.uow(), now) == 1
    left = {r.id: r.status for r in w.outbox()}
    assert delivered_long_ago not in left
    assert left[delivered_recently] == DELIVERED
    assert left[rest[0]] == DEAD  # dead rows wait for an operator
    assert all(left[i] == PENDING for i in rest[1:])  # pending rows are never pruned
    assert all(w.row(o.number) for o in orders)  # the orders themselves are untouched
    # a shorter configured retention prunes the recent one too
    assert prune_delivered_outbox(with_config(w, outbox_retention=timedelta(hours=1)), now) == 1
