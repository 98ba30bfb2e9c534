"""Staff accounts as admins manage them: list, change, password, disable; all logged."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from integrations.workorders.adapters.orm import StaffAccessLog, StaffUser
from integrations.workorders.service import (
    Conflict,
    InvalidInput,
    NotFound,
    create_staff_user,
    list_staff,
    set_password,
    set_staff_active,
    staff_by_token,
    update_staff,
)


def token(name):
    return f"token-{name}-0123456789abcdefghij"


@pytest.fixture
def accounts(world):
    h = world.handler()
    create_staff_user(world.uow(), "root", "admin", token("root"), world.clock)
    create_staff_user(world.uow(), "dora", "dispatcher", token("dora"), world.clock,
                      areas=["township:qy-dz"], actor="staff:root")
    create_staff_user(world.uow(), "wang", "handler", token("wang"), world.clock, handler_id=h)
    return h


def log(world):
    with world.db.session() as s:
        return [(r.actor, r.action, r.subject)
                for r in s.scalars(select(StaffAccessLog).order_by(StaffAccessLog.id))]


def test_list_never_shows_secrets(world, accounts):
    set_password(world.uow(), "dora", "correct horse battery")
    views = list_staff(world.uow())
    assert [v.username for v in views] == ["dora", "root", "wang"]
    assert [v.has_password for v in views] == [True, False, False]
    for view in views:
        assert "token" not in str(view) and "argon2" not in str(view)


def test_update_changes_role_areas_and_handler_and_is_logged(world, accounts):
    view = update_staff(world.uow(), "dora", areas=["township:qy-xz", "grid:qy-dz-01"],
                        actor="staff:root", now=world.clock)
    assert view.areas == ["grid:qy-dz-01", "township:qy-xz"]
    view = update_staff(world.uow(), "dora", role="supervisor", actor="staff:root",
                        now=world.clock)
    assert (view.role, view.areas) == ("supervisor", ["grid:qy-dz-01", "township:qy-xz"])
    assert staff_by_token(world.uow(), token("dora")).role == "supervisor"
    assert log(world) == [("staff:root", "staff_created", "staff:dora"),
                          ("staff:root", "staff_updated", "staff:dora"),
                          ("staff:root", "staff_updated", "staff:dora")]


def test_update_validates_like_create(world, accounts):
    with pytest.raises(InvalidInput):
        update_staff(world.uow(), "dora", role="boss")
    with pytest.raises(InvalidInput) as no_handler:
        update_staff(world.uow(), "dora", role="handler")
    assert no_handler.value.reason_zh == "请关联处理人员。"
    with pytest.raises(NotFound):
        update_staff(world.uow(), "dora", role="handler", handler_id=999)
    with pytest.raises(InvalidInput) as unknown:
        update_staff(world.uow(), "dora", areas=["township:nowhere"])
    assert unknown.value.reason_zh == "区域不存在：township:nowhere"
    with pytest.raises(NotFound):
        update_staff(world.uow(), "nobody", role="admin")
    with world.db.session() as s:
        dora = s.scalars(select(StaffUser).where(StaffUser.username == "dora")).one()
        assert (dora.role, dora.areas) == ("dispatcher", ["township:qy-dz"])


def test_an_admin_keeps_their_own_account_and_role(world, accounts):
    with pytest.raises(Conflict) as disable:
        set_staff_active(world.uow(), "root", False, actor="staff:root", now=world.clock)
    assert disable.value.reason_zh == "不能停用自己的账号。"
    with pytest.raises(Conflict):
        update_staff(world.uow(), "root", role="dispatcher", actor="staff:root",
                     now=world.clock)
    assert staff_by_token(world.uow(), token("root")).role == "admin"

    set_staff_active(world.uow(), "dora", False, actor="staff:root", now=world.clock)
    assert staff_by_token(world.uow(), token("dora")) is None
    set_staff_active(world.uow(), "dora", True, actor="staff:root", now=world.clock)
    set_password(world.uow(), "wang", "another good password", actor="staff:root",
                 now=world.clock)
    assert log(world)[1:] == [("staff:root", "staff_disabled", "staff:dora"),
                              ("staff:root", "staff_enabled", "staff:dora"),
                              ("staff:root", "password_set", "staff:wang")]
