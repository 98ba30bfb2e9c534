"""The operators' CLI (``python -m integrations.workorders``), in-process and as a subprocess.

In-process runs call ``cli.main(argv, settings=...)`` and read its exit code
and output; subprocess runs go through ``__main__`` with the real environment
handling. Every outcome is checked in the database. Tests marked with the
``url`` fixture run on SQLite and on PostgreSQL (tests/app/conftest.py).
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import func, inspect, select, text

from integrations.shared.privacy import EXAMPLE_KEY, generate_key
from integrations.workorders.adapters.db import alembic_config
from integrations.workorders.adapters.orm import (
    Area,
    AreaAlias,
    Handler,
    OrderEvent,
    StaffUser,
    TelegramLinkCode,
    WorkOrder,
)
from integrations.workorders.adapters.taxonomy_file import load_taxonomy
from integrations.workorders.bootstrap import App, bootstrap
from integrations.workorders.cli import main
from integrations.workorders.demo import GRIDS, demo_data
from integrations.workorders.domain import location_key
from integrations.workorders.service import (
    HandlerCreate,
    OrderCreate,
    accept,
    add_area,
    create_handler,
    create_order,
    handler_load,
    list_handlers,
    redeem_link_code,
    resolve_area,
    staff_by_token,
)
from integrations.workorders.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
NOTE = "cannot be shown again"
DEMO_ALIASES = sum(len(aliases) for _, aliases in demo_data().aliases)


# ---------------------------------------------------------------------- fixtures


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    """An empty database (no schema), on SQLite and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'workorders.db'}"
    return request.getfixturevalue("pg_empty_url")


@pytest.fixture
def sqlite_url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'workorders.db'}"


def settings_for(url: str, **kw) -> Settings:
    return Settings(**{"database_url": url, "development": True, "secret_key": EXAMPLE_KEY, **kw})


def cli(url: str, *args: str, **settings_kw) -> int:
    """Run the CLI in this process; its output goes to capsys."""
    return main(list(args), settings=settings_for(url, **settings_kw))


def run_cli(url: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """Run ``python -m integrations.workorders`` with the database given by the environment."""
    return subprocess.run(
        [sys.executable, "-m", "integrations.workorders", *args],
        cwd=ROOT, env=_env(url), capture_output=True, text=True, timeout=timeout,
    )


def _env(url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKORDERS_")}
    env.update(PYTHONPATH=str(ROOT), PYTHONUNBUFFERED="1", WORKORDERS_DATABASE_URL=url)
    return env


@pytest.fixture
def make_app():
    apps: list[App] = []

    def make(url: str, **kw) -> App:
        apps.append(bootstrap(settings_for(url, **kw)))
        return apps[-1]

    yield make
    for app in apps:
        app.dispose()


def migrated(url: str, capsys) -> str:
    assert cli(url, "migrate") == 0
    capsys.readouterr()
    return url


def with_demo(url: str, capsys) -> str:
    migrated(url, capsys)
    assert cli(url, "load-demo") == 0
    capsys.readouterr()
    return url


def count(app: App, model, *where) -> int:
    with app.session_factory() as s:
        return s.scalar(select(func.count()).select_from(model).where(*where))


def report(app: App, now: datetime, *, area: str = "grid:cg-xingfuli",
           category: str = "dispute.neighbor", ref: str = "tg:1001", **kw):
    data = OrderCreate(
        category=category, description=kw.pop("description", "楼上装修噪音很大，晚上还在施工。"),
        location_text=kw.pop("location_text", "幸福里小区3号楼"), area_code=area,
        reporter_channel="tg", reporter_ref=ref, **kw,
    )
    return create_order(app.uow(), data, now)


def order_row(app: App, number: str) -> WorkOrder:
    with app.session_factory() as s:
        return s.scalars(select(WorkOrder).where(WorkOrder.number == number)).one()


def actions(app: App, number: str) -> list[str]:
    with app.session_factory() as s:
        return list(s.scalars(
            select(OrderEvent.action).join(WorkOrder, WorkOrder.id == OrderEvent.order_id)
            .where(WorkOrder.number == number).order_by(OrderEvent.seq)
        ))


def handler_ids(app: App) -> dict[str, int]:
    return {h.name: h.id for h in list_handlers(app.uow())}


def now() -> datetime:
    return datetime.now(UTC)


# ----------------------------------------------------------------------- schema


HEAD = ScriptDirectory.from_config(alembic_config()).get_current_head()


def test_migrate_creates_the_schema_and_downgrade_removes_it(url, capsys, make_app):
    assert cli(url, "migrate") == 0
    assert HEAD in capsys.readouterr().out
    app = make_app(url)
    tables = set(inspect(app.engine).get_table_names())
    assert {"areas", "handlers", "work_orders", "order_events", "staff_users", "outbox",
            "area_aliases", "callback_requests"} <= tables
    with app.engine.connect() as conn:
        assert conn.scalar(text("SELECT version_num FROM alembic_version")) == HEAD

    assert cli(url, "migrate") == 0  # already at head: nothing to do, still fine
    assert cli(url, "downgrade", "--to", "base") == 0
    assert "base" in capsys.readouterr().out
    assert "work_orders" not in inspect(app.engine).get_table_names()


def test_downgrade_outside_development_needs_yes(sqlite_url, capsys, make_app):
    migrated(sqlite_url, capsys)
    prod = dict(development=False, secret_key=generate_key())
    assert cli(sqlite_url, "downgrade", "--to", "base", **prod) == 1
    assert "--yes" in capsys.readouterr().err
    assert "work_orders" in inspect(make_app(sqlite_url).engine).get_table_names()
    assert cli(sqlite_url, "downgrade", "--to", "base", "--yes", **prod) == 0
    assert "work_orders" not in inspect(make_app(sqlite_url).engine).get_table_names()


def test_migrate_as_a_subprocess(sqlite_url, make_app):
    done = run_cli(sqlite_url, "migrate")
    assert done.returncode == 0, done.stderr
    assert HEAD in done.stdout
    assert "work_orders" in inspect(make_app(sqlite_url).engine).get_table_names()


def test_downgrade_one_revision_keeps_the_orders_and_upgrades_again(url, capsys, make_app):
    with_demo(url, capsys)
    app = make_app(url)
    order = report(app, now())
    assert cli(url, "downgrade", "--to", "0001_initial") == 0
    assert "0001_initial" in capsys.readouterr().out
    inspector = inspect(app.engine)
    assert not {"area_aliases", "callback_requests"} & set(inspector.get_table_names())
    assert "fallback" not in {c["name"] for c in inspector.get_columns("areas")}
    with app.engine.connect() as conn:
        assert conn.scalar(text("SELECT count(*) FROM areas")) == 5
        assert conn.scalar(text("SELECT status FROM work_orders WHERE number = :n"),
                           {"n": order.number}) == "assigned"
    assert cli(url, "migrate") == 0
    assert HEAD in capsys.readouterr().out
    assert count(app, Area, Area.fallback.is_(True)) == 0  # aliases and fallback went with it
    assert count(app, AreaAlias) == 0
    assert order_row(app, order.number).status == "assigned"


def test_a_command_on_an_unmigrated_database_says_to_migrate(sqlite_url, capsys):
    assert cli(sqlite_url, "verify-audit") == 1
    assert "run `migrate`" in capsys.readouterr().err


# ------------------------------------------------------------------------ staff


def test_create_staff_prints_the_token_once_and_stores_only_its_hash(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)

    assert cli(sqlite_url, "create-staff", "--username", "wang.dispatch", "--role", "dispatcher",
               "--areas", "township:qy-chengguan, grid:cg-hongxing",
               "--telegram-chat-id", "-100123") == 0
    out, err = capsys.readouterr()
    token, note = out.splitlines()
    assert len(token) >= 43 and NOTE in note
    assert (out + err).count(token) == 1

    with app.session_factory() as s:
        (user,) = s.scalars(select(StaffUser).where(StaffUser.username == "wang.dispatch"))
        row = s.execute(text("SELECT * FROM staff_users WHERE username = 'wang.dispatch'")).one()
    assert user.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert all(token not in str(value) for value in row)  # only the hash is stored
    assert (user.role, user.areas, user.telegram_chat_id) == (
        "dispatcher", ["grid:cg-hongxing", "township:qy-chengguan"], "-100123")
    account = staff_by_token(app.uow(), token)
    assert (account.username, account.role) == ("wang.dispatch", "dispatcher")
    assert staff_by_token(app.uow(), token[:-1]) is None

    # the same username again: refused, no token shown, nothing stored
    assert cli(sqlite_url, "create-staff", "--username", "wang.dispatch", "--role", "admin") == 1
    out, err = capsys.readouterr()
    assert out == "" and "taken" in err and "用户名已存在" in err
    assert count(app, StaffUser, StaffUser.username == "wang.dispatch") == 1
    assert staff_by_token(app.uow(), token).role == "dispatcher"


def test_create_staff_checks_areas_and_handler(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    before = count(app, StaffUser)
    assert cli(sqlite_url, "create-staff", "--username", "x", "--role", "dispatcher",
               "--areas", "grid:nowhere") == 1
    assert "grid:nowhere" in capsys.readouterr().err
    assert cli(sqlite_url, "create-staff", "--username", "x", "--role", "handler") == 1
    assert "--handler-id" in capsys.readouterr().err
    assert cli(sqlite_url, "create-staff", "--username", "x", "--role", "handler",
               "--handler-id", "9999") == 1
    assert count(app, StaffUser) == before

    li = handler_ids(app)["李秀英"]
    assert cli(sqlite_url, "create-staff", "--username", "li", "--role", "handler",
               "--handler-id", str(li)) == 0
    token = capsys.readouterr().out.splitlines()[0]
    assert staff_by_token(app.uow(), token).handler_id == li


def test_create_staff_as_a_subprocess(sqlite_url, make_app):
    assert run_cli(sqlite_url, "migrate").returncode == 0
    done = run_cli(sqlite_url, "create-staff", "--username", "root", "--role", "admin")
    assert done.returncode == 0, done.stderr
    token, note = done.stdout.splitlines()
    assert NOTE in note and token not in done.stderr
    app = make_app(sqlite_url)
    assert staff_by_token(app.uow(), token).username == "root"

    again = run_cli(sqlite_url, "create-staff", "--username", "root", "--role", "admin")
    assert again.returncode == 1
    assert again.stdout == "" and "taken" in again.stderr
    assert count(app, StaffUser) == 1


def test_outside_development_the_example_key_is_refused(sqlite_url, capsys, make_app):
    migrated(sqlite_url, capsys)
    assert cli(sqlite_url, "create-staff", "--username", "a", "--role", "admin",
               development=False) == 2
    out, err = capsys.readouterr()
    assert out == "" and "example key" in err
    assert count(make_app(sqlite_url), StaffUser) == 0


def test_link_code_prints_a_code_that_links_a_chat_once(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    li = handler_ids(app)["李秀英"]
    assert cli(sqlite_url, "link-code", "--handler-id", str(li)) == 0
    out, err = capsys.readouterr()
    code, note = out.splitlines()
    assert len(code) == 8 and code.isdigit() and "24" in note and code not in err
    with app.session_factory() as s:
        (row,) = s.scalars(select(TelegramLinkCode))
    assert (row.code_hash, row.handler_id, row.created_by) == (
        hashlib.sha256(code.encode()).hexdigest(), li, "cli")

    linked = redeem_link_code(app.uow(), code, "4242", now())
    assert (linked.kind, linked.handler_id) == ("handler", li)
    with app.session_factory() as s:
        assert s.get(Handler, li).telegram_chat_id == "4242"

    assert cli(sqlite_url, "link-code", "--username", "demo-dispatcher") == 0
    staff_code = capsys.readouterr().out.splitlines()[0]
    assert redeem_link_code(app.uow(), staff_code, "-77", now()).username == "demo-dispatcher"

    assert cli(sqlite_url, "link-code", "--username", "nobody") == 1
    assert "nobody" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # one of the two is required
        cli(sqlite_url, "link-code")
    assert count(app, TelegramLinkCode) == 2


# ------------------------------------------------------------------------- demo


def test_load_demo_if_empty_loads_once_then_does_nothing(sqlite_url, make_app):
    assert run_cli(sqlite_url, "migrate").returncode == 0
    first = run_cli(sqlite_url, "load-demo", "--if-empty")
    assert first.returncode == 0, first.stderr
    app = make_app(sqlite_url)
    assert (count(app, Area), count(app, Handler), count(app, StaffUser)) == (5, 21, 8)
    assert count(app, AreaAlias) == DEMO_ALIASES
    assert "fallback area for unplaced reports: grid:cg-xingfuli" in first.stdout
    # one line per account: username, role, password, token (shown this once)
    accounts = {fields[0]: fields[1:] for fields in (
        line.split() for line in first.stdout.splitlines() if line.startswith("  "))}
    assert set(accounts) == {"demo-dispatcher", "demo-supervisor", "demo-admin", "lixiuying",
                             "wangjianguo", "zhangli", "hejing", "zhaomin"}
    tokens = {name: token for name, (_, _, token) in accounts.items()}
    assert staff_by_token(app.uow(), tokens["demo-dispatcher"]).areas == ["township:qy-chengguan"]
    assert staff_by_token(app.uow(), tokens["demo-supervisor"]).role == "supervisor"
    handlers = {h.id: h.name for h in list_handlers(app.uow())}
    mediator = staff_by_token(app.uow(), tokens["lixiuying"])
    assert (mediator.role, handlers[mediator.handler_id]) == ("handler", "李秀英")
    assert accounts["zhaomin"][0] == "handler"
    # each password is long, different, and stored only as its argon2id hash
    from argon2 import PasswordHasher
    passwords = {name: password for name, (_, password, _) in accounts.items()}
    assert all(len(p) >= 12 for p in passwords.values())
    assert len(set(passwords.values())) == len(passwords)
    with app.session_factory() as s:
        hashes = dict(s.execute(select(StaffUser.username, StaffUser.password_hash)).all())
    for name, password in passwords.items():
        assert hashes[name].startswith("$argon2id$") and password not in hashes[name]
        assert PasswordHasher().verify(hashes[name], password)
    assert "只显示这一次" in first.stdout
    # the test stack reads them from the same output
    from tools.stack import parse_demo_accounts
    parsed = parse_demo_accounts(first.stdout)
    assert {name: (a.role, a.password, a.token) for name, a in parsed.items()} == {
        name: tuple(fields) for name, fields in accounts.items()}

    second = run_cli(sqlite_url, "load-demo", "--if-empty")
    assert second.returncode == 0, second.stderr
    assert "not loaded" in second.stdout
    assert not any(t in second.stdout for t in tokens.values())
    assert (count(app, Area), count(app, Handler), count(app, StaffUser)) == (5, 21, 8)
    assert count(app, AreaAlias) == DEMO_ALIASES
    with app.session_factory() as s:
        assert list(s.scalars(select(Area.code).where(Area.fallback.is_(True)))) == [
            "grid:cg-xingfuli"]


def test_load_demo_refuses_a_database_with_orders(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    order = report(app, now())
    for flags in ([], ["--force"]):
        assert cli(sqlite_url, "load-demo", *flags) == 1
        assert "work orders" in capsys.readouterr().err
    assert cli(sqlite_url, "load-demo", "--if-empty") == 0
    assert "not loaded" in capsys.readouterr().out
    assert (count(app, Area), count(app, Handler), count(app, StaffUser),
            count(app, WorkOrder)) == (5, 21, 8, 1)
    assert order_row(app, order.number).status == "assigned"


def test_load_demo_refuses_existing_setup_unless_forced_and_never_changes_it(
    sqlite_url, capsys, make_app
):
    migrated(sqlite_url, capsys)
    app = make_app(sqlite_url)
    add_area(app.uow(), "county:other", "白沙县", "county")
    own = create_handler(app.uow(), HandlerCreate(
        name="钱调解", role="mediator", tier="county", skills=["dispute.family"],
        areas=["county:other"], capacity=2), now())

    assert cli(sqlite_url, "load-demo") == 1
    assert "force adds the demo" in capsys.readouterr().err
    assert (count(app, Area), count(app, Handler)) == (1, 1)

    assert cli(sqlite_url, "load-demo", "--force") == 0
    assert (count(app, Area), count(app, Handler), count(app, StaffUser)) == (6, 22, 8)
    assert cli(sqlite_url, "load-demo", "--force") == 0  # again: everything is kept
    assert (f"kept as they were: 5 areas, 21 handlers, 8 staff accounts, {DEMO_ALIASES} place "
            "aliases") in capsys.readouterr().out
    assert count(app, AreaAlias) == DEMO_ALIASES
    assert (count(app, Area), count(app, Handler), count(app, StaffUser)) == (6, 22, 8)
    (mine,) = [h for h in list_handlers(app.uow()) if h.id == own.id]
    assert (mine.name, mine.capacity, mine.areas) == ("钱调解", 2, ["county:other"])


def test_load_demo_with_force_refuses_a_clashing_area(sqlite_url, capsys, make_app):
    migrated(sqlite_url, capsys)
    app = make_app(sqlite_url)
    add_area(app.uow(), "county:qingyang", "另一个县", "county")
    assert cli(sqlite_url, "load-demo", "--force") == 1
    assert "county:qingyang" in capsys.readouterr().err
    assert (count(app, Area), count(app, Handler)) == (1, 0)


def test_load_demo_is_refused_outside_development(sqlite_url, capsys, make_app):
    migrated(sqlite_url, capsys)
    assert cli(sqlite_url, "load-demo", development=False, secret_key=generate_key()) == 1
    assert "development mode only" in capsys.readouterr().err
    app = make_app(sqlite_url)
    assert (count(app, Area), count(app, Handler), count(app, StaffUser)) == (0, 0, 0)


def test_demo_data_has_the_promised_shape():
    taxonomy = load_taxonomy(ROOT / "taxonomy.yml")
    data = demo_data()
    areas = {a.code: a for a in data.areas}
    assert [a.tier for a in data.areas].count("grid") == 3 and set(GRIDS) <= set(areas)
    by_kind_role = {role: {c for c, cat in taxonomy.categories.items() if cat.kind == kind}
                    for kind, role in taxonomy.kinds.items()}
    for h in data.handlers:
        assert 3 <= h.capacity <= 8
        assert set(h.skills) <= by_kind_role[h.role], h.name
        assert all(areas[code].tier == h.tier for code in h.areas), h.name
        assert all("\u4e00" <= ch <= "\u9fff" for ch in h.name)
    assert [h.on_duty for h in data.handlers].count(False) == 1
    assert Counter(h.tier for h in data.handlers if h.is_supervisor) == {
        "grid": 1, "township": 1, "county": 1}
    at_grid = {(g, c) for h in data.handlers if h.tier == "grid" and h.on_duty
               for g in h.areas for c in h.skills}
    assert {c for _, c in at_grid} == set(taxonomy.categories)  # every category at grid tier
    gaps = {(g, c) for g in GRIDS for c in taxonomy.categories} - at_grid
    assert {g for g, _ in gaps} == set(GRIDS)  # each grid relies on the town for something
    assert {s.role for s in data.staff} == {"dispatcher", "supervisor", "admin", "handler"}
    by_name = {h.name: h for h in data.handlers}
    own = [by_name[s.handler] for s in data.staff if s.role == "handler"]  # each a demo handler
    assert {h.role for h in own if h.areas == [GRIDS[0]]} == {"mediator", "grid_worker", "staff"}
    assert any(h.areas != [GRIDS[0]] for h in own)  # and someone of another grid
    assert all(s.username.isascii() and s.username.isalpha() for s in data.staff
               if s.role == "handler")  # pinyin
    requests = {c for c, cat in taxonomy.categories.items() if cat.kind == "request"}
    for grid in GRIDS:  # two community staff members per grid answer every kind of request
        staff = [h for h in data.handlers if h.role == "staff" and h.tier == "grid"
                 and grid in h.areas and h.on_duty]
        assert len(staff) >= 2 and all(set(h.skills) == requests for h in staff), grid
    for tier in ("township", "county"):
        assert any(h.role == "staff" and set(h.skills) == requests
                   for h in data.handlers if h.tier == tier), tier


def test_demo_dispatches_every_category_in_every_grid(url, capsys, make_app):
    with_demo(url, capsys)
    app = make_app(url)
    names = {hid: name for name, hid in handler_ids(app).items()}
    categories = sorted(app.config.taxonomy.categories)
    orders = {}
    for i, (grid, category) in enumerate((g, c) for g in GRIDS for c in categories):
        view = report(app, now(), area=grid, category=category, ref=f"tg:{2000 + i}",
                      location_text=f"演示地点{i}号")
        orders[grid, category] = order_row(app, view.number)

    not_assigned = {k: o.status for k, o in orders.items()
                    if o.status != "assigned" or o.assignee_id is None}
    assert not_assigned == {}
    grid_tier = {c for (_, c), o in orders.items() if o.tier == "grid"}
    assert grid_tier == set(categories)  # every category is handled at grid tier somewhere
    fallbacks = {(g, c) for (g, c), o in orders.items() if o.tier == "township"}
    assert ("grid:cg-hongxing", "dispute.property") in fallbacks  # a village, no property mediator
    assert ("grid:cg-yangguang", "incident.water") in fallbacks  # 周燕 is on leave
    assert "周燕" not in {names[o.assignee_id] for o in orders.values()}
    requests = {k: o for k, o in orders.items() if k[1].startswith("request.")}
    assert len(requests) == 9 and all(o.tier == "grid" for o in requests.values())
    assert {names[o.assignee_id] for (g, _), o in requests.items() if g == "grid:cg-hongxing"} <= {
        "黄玉梅", "徐卫东"}
    for h in list_handlers(app.uow()):
        assert handler_load(app.uow(), h.id) <= h.capacity, h.name


# ----------------------------------------------------------------------- places

#: What residents say, and the grid it must resolve to (None: unplaced, the fallback).
EVERYDAY_PLACES = [
    ("幸福里小区3号楼2单元", "grid:cg-xingfuli"),
    ("幸福路口的路灯", "grid:cg-xingfuli"),
    ("人民路和建设路路口", "grid:cg-xingfuli"),
    ("老街菜市场门口", "grid:cg-xingfuli"),
    ("红星村村口那棵大树下", "grid:cg-hongxing"),
    ("村东头老王家", "grid:cg-hongxing"),
    ("晒谷场旁边", "grid:cg-hongxing"),
    ("红星村委会", "grid:cg-hongxing"),
    ("阳光花园 8 栋", "grid:cg-yangguang"),
    ("解放路文化广场", "grid:cg-yangguang"),
    ("体育公园篮球场", "grid:cg-yangguang"),
    ("阳光小区东门", "grid:cg-yangguang"),
    ("3号楼东头", None),  # not "东头" of the village: an unplaced building
    ("我家楼下", None),
]


def test_the_demo_resolves_everyday_place_words(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    for words, grid in EVERYDAY_PLACES:
        match = resolve_area(app.uow(), words)
        assert (match.code, match.matched) == (grid or "grid:cg-xingfuli", grid is not None), words


def test_demo_aliases_of_different_grids_never_contain_one_another():
    data = demo_data()
    names = {a.code: a.name for a in data.areas if a.tier == "grid"}
    keys = [(location_key(name), code) for code, name in names.items()]
    keys += [(location_key(alias), code) for code, aliases in data.aliases for alias in aliases]
    assert len({k for k, _ in keys}) == len(keys)  # no alias twice, none a grid's own name
    clashes = [(a, b) for a, code_a in keys for b, code_b in keys
               if code_a != code_b and a in b]
    assert clashes == []
    assert data.fallback == "grid:cg-xingfuli" and set(dict(data.aliases)) == set(GRIDS)


def test_add_alias_and_set_fallback_area(url, capsys, make_app):
    with_demo(url, capsys)
    app = make_app(url)
    assert cli(url, "add-alias", "grid:cg-hongxing", "红星小学") == 0
    out = capsys.readouterr().out
    assert out.startswith("红星村（grid:cg-hongxing）aliases: ") and "红星小学" in out
    assert resolve_area(app.uow(), "红星小学门口").code == "grid:cg-hongxing"

    assert cli(url, "add-alias", "grid:cg-yangguang", "红星小学") == 1
    assert "别名“红星小学”已用于“红星村”" in capsys.readouterr().err
    assert cli(url, "add-alias", "township:qy-chengguan", "镇政府") == 1
    assert "只能为网格添加别名" in capsys.readouterr().err
    assert cli(url, "add-alias", "grid:nowhere", "某地") == 1
    assert count(app, AreaAlias, AreaAlias.alias == "红星小学") == 1

    assert cli(url, "set-fallback-area", "grid:cg-yangguang") == 0
    assert capsys.readouterr().out == (
        "fallback area for unplaced reports: 阳光花园社区（grid:cg-yangguang）\n")
    with app.session_factory() as s:
        assert list(s.scalars(select(Area.code).where(Area.fallback.is_(True)))) == [
            "grid:cg-yangguang"]
    assert cli(url, "set-fallback-area", "county:qingyang") == 1
    assert "兜底区域必须是网格" in capsys.readouterr().err


def test_add_alias_as_a_subprocess(sqlite_url):
    assert run_cli(sqlite_url, "migrate").returncode == 0
    assert run_cli(sqlite_url, "load-demo").returncode == 0
    done = run_cli(sqlite_url, "add-alias", "grid:cg-xingfuli", "幸福里幼儿园")
    assert done.returncode == 0, done.stderr
    assert "幸福里幼儿园" in done.stdout


# ------------------------------------------------------------------------ audit


def test_verify_audit_passes_a_clean_chain_and_names_an_edited_order(url, capsys, make_app):
    with_demo(url, capsys)
    app = make_app(url)
    intact = report(app, now(), ref="tg:1")
    tampered = report(app, now(), ref="tg:2", category="incident.facility",
                      description="路灯坏了", location_text="幸福里北门")
    accept(app.uow(), tampered.number, tampered.assignee_id, now())

    assert cli(url, "verify-audit") == 0
    assert capsys.readouterr().out == "audit chain intact (2 orders)\n"

    with app.engine.begin() as conn:
        changed = conn.execute(
            text("UPDATE order_events SET note = :note WHERE seq = 2 AND order_id = "
                 "(SELECT id FROM work_orders WHERE number = :number)"),
            {"note": "改过的记录", "number": tampered.number},
        )
        assert changed.rowcount == 1

    assert cli(url, "verify-audit") == 1
    out = capsys.readouterr().out
    assert f"order {tampered.number}: audit chain broken at event seq 2" in out
    assert intact.number not in out
    spoken = " ".join(intact.number[i:i + 4] for i in (0, 4))  # as an operator might type it
    assert cli(url, "verify-audit", "--number", spoken) == 0
    assert capsys.readouterr().out == "audit chain intact (1 orders)\n"

    done = run_cli(url, "verify-audit")
    assert done.returncode == 1
    assert f"order {tampered.number}: audit chain broken at event seq 2" in done.stdout


def test_verify_audit_of_an_unknown_number(sqlite_url, capsys):
    migrated(sqlite_url, capsys)
    assert cli(sqlite_url, "verify-audit", "--number", "12345678") == 1
    assert "12345678" in capsys.readouterr().err


# ------------------------------------------------------------------------ sweep


def test_sweep_once_handles_overdue_orders(url, capsys, make_app):
    with_demo(url, capsys)
    app = make_app(url)
    ids = handler_ids(app)
    earlier = now() - timedelta(hours=3)  # accept limit 120 min: passed an hour ago
    late_accept = report(app, earlier)
    assert late_accept.assignee_id == ids["李秀英"]
    # accepted, but the 24 h resolve limit of a safety incident has passed
    created = now() - timedelta(hours=25)
    late_resolve = report(app, created, category="incident.safety", ref="tg:2",
                          description="楼道里有人给电动车充电", location_text="幸福里5号楼")
    accept(app.uow(), late_resolve.number, late_resolve.assignee_id, created + timedelta(minutes=5))
    fresh = report(app, now(), ref="tg:3", location_text="幸福里7号楼")

    done = run_cli(url, "sweep", "--once")
    assert done.returncode == 0, done.stderr
    assert f"accept_timeouts 1 ({late_accept.number})" in done.stderr
    assert f"escalated 1 ({late_resolve.number})" in done.stderr

    row = order_row(app, late_accept.number)
    assert (row.status, row.tier, row.assignee_id) == ("assigned", "township", ids["吴国华"])
    assert row.accept_by > now()  # a fresh limit for the town's mediator
    assert actions(app, late_accept.number)[-2:] == ["accept_timeout", "dispatch"]
    row = order_row(app, late_resolve.number)
    assert (row.status, row.tier, row.assignee_id, row.breached) == (
        "assigned", "township", ids["郑海涛"], True)
    assert "escalate" in actions(app, late_resolve.number)
    assert actions(app, fresh.number) == ["create", "dispatch"]

    again = run_cli(url, "sweep", "--once")  # nothing is due any more
    assert again.returncode == 0 and "sweep:" not in again.stderr
    assert actions(app, late_accept.number)[-2:] == ["accept_timeout", "dispatch"]
    assert cli(url, "verify-audit") == 0


def test_two_sweepers_at_once_handle_each_order_once(url, capsys, make_app):
    with_demo(url, capsys)
    app = make_app(url)
    earlier = now() - timedelta(hours=3)
    numbers = [report(app, earlier, ref=f"tg:{i}", location_text=f"幸福里{i}号楼").number
               for i in range(8)]
    procs = [subprocess.Popen(
        [sys.executable, "-m", "integrations.workorders", "sweep", "--once"],
        cwd=ROOT, env=_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) for _ in range(2)]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    for number in numbers:
        assert actions(app, number).count("accept_timeout") == 1, number
    assert cli(url, "verify-audit") == 0


def test_sweep_loop_stops_cleanly_on_sigterm(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    order = report(app, now() - timedelta(hours=3))
    proc = subprocess.Popen(
        [sys.executable, "-m", "integrations.workorders", "sweep", "--interval", "0.2"],
        cwd=ROOT, env=_env(sqlite_url), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while "accept_timeout" not in actions(app, order.number):
            assert proc.poll() is None and time.monotonic() < deadline, "the sweeper did not sweep"
            time.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0, err
    assert "sweeper started" in err and "sweeper stopped" in err
    assert err.count(f"accept_timeouts 1 ({order.number})") == 1


# ------------------------------------------------------------------- show-order


def test_show_order_masks_the_contact(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    order = report(app, now(), reporter_contact="13812345678",
                   description="楼上装修太吵，有事打我电话13812345678")
    assert cli(sqlite_url, "show-order", order.number) == 0
    out = capsys.readouterr().out
    assert f"工单 {order.number}" in out and "邻里纠纷" in out
    assert "状态：已派单" in out and "李秀英" in out and "幸福里社区" in out
    assert "138****5678" in out and "13812345678" not in out
    assert "签收时限：" in out and "办结时限：" in out
    history_lines = out.split("历史：")[1].strip().splitlines()
    assert [line.split()[0] for line in history_lines] == ["1", "2"]
    assert "受理" in history_lines[0] and "派单" in history_lines[1]

    assert cli(sqlite_url, "show-order", "87654321") == 1
    assert "87654321" in capsys.readouterr().err


def test_hash_caller_refs_rewrites_plain_caller_numbers(sqlite_url, capsys, make_app):
    from integrations.shared.identity import caller_ref
    from integrations.shared.privacy import Vault
    from integrations.workorders.service import OrderCreate, create_order

    url = with_demo(migrated(sqlite_url, capsys), capsys)
    app = make_app(url)
    order = create_order(app.uow(), OrderCreate(
        category="incident.facility", description="路灯坏了", location_text="幸福里小区3号楼",
        area_code="grid:cg-xingfuli", reporter_channel="voice", reporter_ref="voice:13800001111"),
        datetime.now(UTC))
    assert cli(url, "hash-caller-refs") == 0
    assert "orders 1" in capsys.readouterr().out
    with app.uow() as uow:
        row = uow.session.scalars(select(WorkOrder).where(WorkOrder.number == order.number)).one()
        assert row.reporter_ref == caller_ref(Vault(EXAMPLE_KEY), "13800001111")
    assert cli(url, "hash-caller-refs") == 0
    assert "orders 0" in capsys.readouterr().out


def test_passwords_are_set_from_standard_input_and_stored_as_argon2id_only(sqlite_url, capsys, make_app):
    from argon2 import PasswordHasher
    from argon2.exceptions import VerifyMismatchError

    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    env = _env(sqlite_url)
    with app.session_factory() as s:
        demo_admin = s.scalar(text("SELECT password_hash FROM staff_users WHERE username = 'demo-admin'"))

    def run(*args: str, stdin: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "integrations.workorders", *args],
                              cwd=ROOT, env=env, input=stdin, capture_output=True, text=True,
                              timeout=120)

    created = run("create-staff", "--username", "li.super", "--role", "supervisor",
                  "--password-stdin", stdin="正确的密码 horse battery\n")
    assert created.returncode == 0, created.stderr
    changed = run("set-password", "--username", "demo-dispatcher", "--password-stdin",
                  stdin="another long secret\n")
    assert changed.returncode == 0 and "password set for demo-dispatcher" in changed.stdout
    with app.session_factory() as s:
        rows = dict(s.execute(text("SELECT username, password_hash FROM staff_users")).all())
    hasher = PasswordHasher()
    assert rows["li.super"].startswith("$argon2id$")
    assert hasher.verify(rows["li.super"], "正确的密码 horse battery")
    assert hasher.verify(rows["demo-dispatcher"], "another long secret")
    with pytest.raises(VerifyMismatchError):
        hasher.verify(rows["demo-dispatcher"], "another long secreT")
    assert rows["demo-admin"] == demo_admin  # nobody else's changed
    # the password never appears in output, logs or the table
    assert "horse battery" not in created.stdout + created.stderr
    assert all("another long secret" not in (value or "") for value in rows.values())

    too_short = run("set-password", "--username", "demo-admin", "--password-stdin", stdin="short\n")
    assert too_short.returncode == 1 and "密码长度须为10到256个字符" in too_short.stderr
    unknown = run("set-password", "--username", "nobody", "--password-stdin", stdin="long enough pw\n")
    assert unknown.returncode != 0
    empty = run("set-password", "--username", "demo-admin", "--password-stdin", stdin="")
    assert empty.returncode == 1 and "请从标准输入提供密码" in empty.stderr
    with app.session_factory() as s:
        kept = s.scalar(text("SELECT password_hash FROM staff_users WHERE username = 'demo-admin'"))
    assert kept == demo_admin


def test_scan_warnings_warns_of_a_threatening_dispute_once(sqlite_url, capsys, make_app):
    with_demo(sqlite_url, capsys)
    app = make_app(sqlite_url)
    order = report(app, now(), ref="tg:4242", location_text="幸福里小区9号楼",
                   description="邻居天天砸墙，他说再吵就要弄死我，还拿刀在门口晃。")
    done = run_cli(sqlite_url, "scan-warnings")
    assert done.returncode == 0, done.stderr
    assert "dispute_risk 1," in done.stdout
    row = order_row(app, order.number)
    assert (row.priority, row.tier) == ("urgent", "township")
    again = run_cli(sqlite_url, "scan-warnings")
    assert again.returncode == 0 and "dispute_risk 0," in again.stdout
