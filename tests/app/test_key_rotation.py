"""``rotate-key``: from key A to key B (A configured as an old key), every encrypted
column ends under B, every lookup hash is B's, and lookups by phone still work
with B alone. Idempotent and resumable. On SQLite and PostgreSQL (the work-order
test databases of tests/app/workorders are not used: this runs the CLI itself).
"""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import create_engine, select

from integrations.shared.privacy import DecryptionError, Vault, generate_key
from integrations.workorders.adapters.orm import CallbackRequest, Handler, WorkOrder
from integrations.workorders.bootstrap import bootstrap
from integrations.workorders.cli import main
from integrations.workorders.service import (
    CallbackCreate,
    HandlerCreate,
    OrderCreate,
    TranscriptLine,
    create_handler,
    create_order,
    find_handler_by_phone,
)
from integrations.workorders.service.callbacks import request_callback
from integrations.workorders.service.rekey import rotate_key, token_key_id
from integrations.workorders.settings import Settings

NOW = datetime(2026, 12, 6, 2, 0, tzinfo=UTC)
KEY_A, KEY_B = generate_key(), generate_key()
PHONES = ["13800138000", "13912345678", "02112345678"]


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'workorders.db'}"
    return request.getfixturevalue("pg_empty_url")


def settings(url: str, key: str, old: str = "") -> Settings:
    # production mode: real keys only
    return Settings(database_url=url, secret_key=key, old_secret_keys=old, development=False)


def populate(url: str) -> None:
    """Under key A: handlers with phones, orders with contacts, callbacks with transcripts."""
    assert main(["migrate"], settings=settings(url, KEY_A)) == 0
    app = bootstrap(settings(url, KEY_A))
    try:
        from integrations.workorders.service import add_area

        add_area(app.uow(), "county:t", "测试县", "county", None)
        add_area(app.uow(), "township:t", "测试镇", "township", "county:t")
        add_area(app.uow(), "grid:t-1", "测试网格", "grid", "township:t")
        for i, phone in enumerate(PHONES):
            create_handler(app.uow(), HandlerCreate(
                name=f"网格员{i}", role="grid_worker", tier="grid", skills=["incident.water"],
                areas=["grid:t-1"], capacity=5, phone=phone), NOW)
            create_order(app.uow(), OrderCreate(
                category="incident.water", description=f"下水道堵了{i}", location_text="一号楼",
                area_code="grid:t-1", reporter_channel="web", reporter_ref=f"web:r{i}",
                reporter_contact=phone), NOW)
            request_callback(app.uow(), CallbackCreate(
                reporter_ref=f"web:r{i}", reason="asked", contact=phone,
                transcript=[TranscriptLine("resident", f"我的电话是{phone}")]), NOW)
    finally:
        app.dispose()


def tokens(url: str) -> dict[str, list[str]]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    try:
        with engine.connect() as conn:
            return {
                "handlers": [t for row in conn.execute(select(Handler.name_enc, Handler.phone_enc))
                             for t in row if t],
                "orders": [t for (t,) in conn.execute(select(WorkOrder.reporter_contact_enc)) if t],
                "callbacks": [t for row in conn.execute(
                    select(CallbackRequest.transcript_enc, CallbackRequest.contact_enc))
                    for t in row if t],
                "hashes": [h for row in conn.execute(select(Handler.phone_hash)) for h in row]
                + [h for (h,) in conn.execute(select(WorkOrder.reporter_contact_hash))]
                + [h for (h,) in conn.execute(select(CallbackRequest.contact_hash))],
            }
    finally:
        engine.dispose()


def test_rotate_from_a_to_b_leaves_everything_readable_under_b_only(url, capsys):
    populate(url)
    vault_a, vault_b = Vault(KEY_A), Vault(KEY_B)
    before = tokens(url)
    assert {token_key_id(t) for k in ("handlers", "orders", "callbacks") for t in before[k]} \
        == {vault_a.key_id}
    capsys.readouterr()

    assert main(["rotate-key", "--batch", "2"], settings=settings(url, KEY_B, KEY_A)) == 0
    out = capsys.readouterr().out
    assert f"current key id {vault_b.key_id}" in out
    assert "handlers: 3 rows, 3 re-encrypted" in out
    assert "work_orders: 3 rows, 3 re-encrypted" in out
    assert "callback_requests: 3 rows, 3 re-encrypted" in out

    after = tokens(url)
    for kind in ("handlers", "orders", "callbacks"):
        for token in after[kind]:
            assert token_key_id(token) == vault_b.key_id
            assert token not in before[kind]
    # B alone decrypts them; A cannot any more
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        for name_enc, phone_enc in conn.execute(select(Handler.name_enc, Handler.phone_enc)):
            assert vault_b.decrypt(name_enc, "handlers.name_enc").startswith("网格员")
            assert vault_b.decrypt(phone_enc, "handlers.phone_enc") in PHONES
            with pytest.raises(DecryptionError):
                vault_a.decrypt(phone_enc, "handlers.phone_enc")
        contacts = [vault_b.decrypt(t, "work_orders.reporter_contact_enc")
                    for (t,) in conn.execute(select(WorkOrder.reporter_contact_enc))]
        assert sorted(contacts) == sorted(PHONES)
        transcripts = [vault_b.decrypt(t, "callback_requests.transcript_enc")
                       for (t,) in conn.execute(select(CallbackRequest.transcript_enc))]
        assert all("我的电话是" in t for t in transcripts)
    engine.dispose()
    # every lookup hash is B's
    assert sorted(after["hashes"]) == sorted(
        [vault_b.lookup_hash(p) for p in PHONES] * 3)

    # lookups by phone with key B only (the old key removed from the configuration)
    app = bootstrap(settings(url, KEY_B))
    try:
        for phone in PHONES:
            found = find_handler_by_phone(app.uow(), f"+86 {phone}" if phone[0] == "1" else phone)
            assert found is not None and found.name.startswith("网格员")
    finally:
        app.dispose()

    # a second run changes nothing
    assert main(["rotate-key"], settings=settings(url, KEY_B, KEY_A)) == 0
    out = capsys.readouterr().out
    assert "handlers: 3 rows, 0 re-encrypted, 3 already current" in out
    assert tokens(url) == after


def test_an_interrupted_rotation_resumes_and_counts_what_is_left(url, capsys):
    populate(url)
    app = bootstrap(settings(url, KEY_B, KEY_A))
    try:
        class Interrupted(Exception):
            pass

        def stop_after_first_batch(table, count):
            raise Interrupted

        with pytest.raises(Interrupted):
            rotate_key(app.session_factory, app.config.vault, batch=1,
                       progress=stop_after_first_batch)
        report = rotate_key(app.session_factory, app.config.vault, batch=1)
    finally:
        app.dispose()
    assert report.tables["handlers"].rekeyed == 2 and report.tables["handlers"].current == 1
    assert report.tables["work_orders"].rekeyed == 3
    assert report.refs_rekeyed is None  # no pseudonymous-ref re-keyer wired yet
    vault_b = Vault(KEY_B)
    after = tokens(url)
    assert all(token_key_id(t) == vault_b.key_id
               for k in ("handlers", "orders", "callbacks") for t in after[k])


def test_without_the_old_key_nothing_is_rewritten_and_the_run_fails(url, capsys):
    populate(url)
    before = tokens(url)
    capsys.readouterr()
    assert main(["rotate-key"], settings=settings(url, KEY_B)) == 1
    captured = capsys.readouterr()
    assert "handlers: 3 rows, 0 re-encrypted, 0 already current, 3 failed" in captured.out
    assert "WORKORDERS_OLD_SECRET_KEYS" in captured.err
    assert tokens(url) == before


def test_a_malformed_old_key_refuses_to_run(tmp_path, capsys):
    url = f"sqlite:///{tmp_path / 'w.db'}"
    assert main(["rotate-key"], settings=settings(url, KEY_B, "not-a-key")) == 2
    assert "master key" in capsys.readouterr().err


def test_every_encrypted_column_is_rotated():
    """A new ``*_enc`` column must be added to ``rekey.ENCRYPTED_TABLES`` (else it would stay
    under the old key, unreadable once that key is removed)."""
    import integrations.workorders.adapters.orm  # noqa: F401  (registers every table)
    from integrations.workorders.adapters.base import Base
    from integrations.workorders.service.rekey import ENCRYPTED_TABLES

    in_schema = {(t.name, c.name) for t in Base.metadata.tables.values() for c in t.columns
                 if c.name.endswith("_enc")}
    rotated = {(spec.name, col.enc) for spec in ENCRYPTED_TABLES for col in spec.columns}
    assert in_schema == rotated


def test_phone_callers_ids_follow_the_key(url, capsys):
    """A caller's ``voice:h:`` id is a keyed hash: after the rotation it is B's hash
    everywhere (order, callback), so the caller's next call (hashed under B) finds
    the order again; a caller who left no number keeps the old id."""
    from integrations.shared.identity import CALLER_CONTEXT, caller_ref

    populate(url)
    vault_a, vault_b = Vault(KEY_A), Vault(KEY_B)
    phone, silent = "13700001111", "13700002222"
    app = bootstrap(settings(url, KEY_A))
    try:
        ref = caller_ref(vault_a, phone)
        create_order(app.uow(), OrderCreate(
            category="incident.water", description="井盖丢了", location_text="二号楼",
            area_code="grid:t-1", reporter_channel="voice", reporter_ref=ref,
            caller_token=vault_a.encrypt(phone, CALLER_CONTEXT)), NOW)
        request_callback(app.uow(), CallbackCreate(
            reporter_ref=ref, reason="asked", contact=phone,
            transcript=[TranscriptLine("resident", "转人工")]), NOW)
        create_order(app.uow(), OrderCreate(
            category="incident.water", description="路灯不亮", location_text="三号楼",
            area_code="grid:t-1", reporter_channel="voice",
            reporter_ref=caller_ref(vault_a, silent)), NOW)
    finally:
        app.dispose()

    assert main(["rotate-key"], settings=settings(url, KEY_B, KEY_A)) == 0
    assert "reporter refs: 2 re-keyed" in capsys.readouterr().out

    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.connect() as conn:
        refs = {r for (r,) in conn.execute(
            select(WorkOrder.reporter_ref).where(WorkOrder.reporter_ref.like("voice:%")))}
        callback_refs = {r for (r,) in conn.execute(
            select(CallbackRequest.reporter_ref).where(CallbackRequest.reporter_ref.like("voice:%")))}
    engine.dispose()
    assert refs == {caller_ref(vault_b, phone), caller_ref(vault_a, silent)}
    assert callback_refs == {caller_ref(vault_b, phone)}
    # a second run finds nothing to do
    assert main(["rotate-key"], settings=settings(url, KEY_B, KEY_A)) == 0
    assert "reporter refs: 0 re-keyed" in capsys.readouterr().out
