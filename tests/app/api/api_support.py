"""The API test harness: a client on a test database, tokens per role, the world's rows.

Shared by the API tests (imported by name; ``conftest`` holds only fixtures).
The world (see ``make_api``):

    actions        the action server (settings.actions_token): web:, tg:, voice: residents
    telegram       the Telegram adapter (settings.telegram_token): tg: residents, links
    tg_<name>      the Telegram token with X-Telegram-Chat of <name>'s linked chat
                   (CHATS: handler, dispatcher, supervisor, admin)
    admin          all orders
    dispatcher     东镇 (township:qy-dz): grids qy-dz-01 and qy-dz-02
    far_dispatcher 西镇 (township:qy-xz): none of the world's orders
    supervisor     read-only, everything
    handler        王调解 (mediator, qy-dz-01), gets the first dispute
    handler2       李调解 (mediator, qy-dz-01)
    worker         张网格 (grid worker, qy-dz-01), every incident category
    clerk          陈干事 (community staff, qy-dz-01), every request category
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select

from integrations.shared.privacy import EXAMPLE_KEY
from integrations.workorders.adapters.orm import OrderEvent, OutboxMessage, StaffUser, WorkOrder
from integrations.workorders.api import create_app
from integrations.workorders.api.config import ApiSettings
from integrations.workorders.api.deps import get_now
from integrations.workorders.bootstrap import App
from integrations.workorders.service import create_staff_user
from tests.app.world import T0, Db, World

ACTIONS_TOKEN = "actions-token-0123456789abcdef"
TELEGRAM_TOKEN = "telegram-token-0123456789abcdef"
OPEN311_KEY = "open311-key-0123456789abcdefgh"
#: The Telegram chat linked to each staff member (handler: 王调解's own chat).
CHATS = {"handler": "700", "admin": "900", "supervisor": "901", "dispatcher": "902",
         "far_dispatcher": "903"}
INCIDENTS = ["incident.facility", "incident.water", "incident.sanitation", "incident.safety",
             "incident.order", "incident.care"]
REQUESTS = ["request.consult", "request.suggest", "request.complaint"]
STAFF = {
    # name: (role, areas, handler key)
    "admin": ("admin", [], None),
    "dispatcher": ("dispatcher", ["township:qy-dz"], None),
    "far_dispatcher": ("dispatcher", ["township:qy-xz"], None),
    "supervisor": ("supervisor", [], None),
    "handler": ("handler", [], "h1"),
    "handler2": ("handler", [], "h2"),
    "worker": ("handler", [], "w1"),
    "clerk": ("handler", [], "s1"),
}
ROLES = ("actions", "telegram", "handler", "dispatcher", "supervisor", "admin")
#: The Telegram token acting for a linked chat.
BOT_ROLES = ("tg_handler", "tg_dispatcher", "tg_supervisor", "tg_admin")


def token_of(name: str) -> str:
    return f"token-{name}-0123456789abcdefghij"


@dataclass
class Api:
    """A test client on the world's database, its clock and what ended up in the database."""

    client: TestClient
    world: World
    handlers: dict[str, int]
    _refs: int = 0

    # ---- calling

    def headers(self, who: str | None) -> dict[str, str]:
        if who is None:
            return {}
        if who == "actions":
            return {"Authorization": f"Bearer {ACTIONS_TOKEN}"}
        if who == "telegram":
            return {"Authorization": f"Bearer {TELEGRAM_TOKEN}"}
        if who == "open311":  # a civic-tech client's Open311 api_key
            return {"Authorization": f"Bearer {OPEN311_KEY}"}
        if who.startswith("tg_"):
            return {"Authorization": f"Bearer {TELEGRAM_TOKEN}",
                    "X-Telegram-Chat": CHATS[who.removeprefix("tg_")]}
        return {"Authorization": f"Bearer {token_of(who)}"}

    def call(self, who: str | None, method: str, path: str, **kw: Any):
        headers = {**self.headers(who), **kw.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kw)

    def get(self, who: str | None, path: str, **kw: Any):
        return self.call(who, "GET", path, **kw)

    def post(self, who: str | None, path: str, **kw: Any):
        return self.call(who, "POST", path, **kw)

    def who_handles(self, handler_id: int) -> str:
        return {"h1": "handler", "h2": "handler2", "w1": "worker", "s1": "clerk"}[
            next(k for k, v in self.handlers.items() if v == handler_id)
        ]

    # ---- the world

    def report(self, who: str = "actions", expect: int = 201, **overrides: Any) -> dict[str, Any]:
        """Open an order through the API (a dispute for 王调解 unless overridden)."""
        self._refs += 1
        body = {
            "category": "dispute.neighbor",
            "description": "楼上装修噪音很大，晚上十点以后还在施工。",
            "location_text": "幸福里小区3号楼",
            "area_code": "grid:qy-dz-01",
            "reporter_ref": f"tg:{5000 + self._refs}",
        }
        body.update(overrides)
        body = {k: v for k, v in body.items() if v is not None}
        response = self.post(who, "/api/v1/orders", json=body)
        assert response.status_code == expect, response.text
        return response.json()

    def link_staff_chats(self) -> None:
        """Link the staff accounts of ``CHATS`` to their chats (the ``tg_*`` callers)."""
        with self.world.db.session() as s:
            for user in s.scalars(select(StaffUser)):
                if user.handler_id is None and user.username in CHATS:
                    user.telegram_chat_id = CHATS[user.username]
            s.commit()

    def tick(self, **delta: float):
        return self.world.tick(**delta)

    def row(self, number: str) -> WorkOrder:
        return self.world.row(number)

    def actions(self, number: str) -> list[str]:
        return self.world.actions(number)

    def events(self, number: str) -> list[OrderEvent]:
        return self.world.events(number)

    def outbox(self, number: str | None = None, **where: Any) -> list[OutboxMessage]:
        return self.world.outbox(number, **where)

    def orders(self) -> list[WorkOrder]:
        with self.world.db.session() as s:
            return list(s.scalars(select(WorkOrder).order_by(WorkOrder.id)))


def make_api(db: Db, **settings: Any) -> Iterator[Api]:
    world = World(db)
    handlers = {
        "h1": world.handler("王调解", telegram_chat_id="700"),
        "h2": world.handler("李调解", telegram_chat_id="701"),
        "w1": world.handler("张网格", role="grid_worker", skills=INCIDENTS,
                            areas=["grid:qy-dz-01"]),
        "s1": world.handler("陈干事", role="staff", skills=REQUESTS, areas=["grid:qy-dz-01"]),
    }
    for name, (role, areas, handler_key) in STAFF.items():
        create_staff_user(
            world.uow(), name, role, token_of(name), world.clock, areas=areas,
            handler_id=handlers[handler_key] if handler_key else None,
        )
    api_settings = ApiSettings(
        database_url=db.url, actions_token=ACTIONS_TOKEN, telegram_token=TELEGRAM_TOKEN,
        open311_api_keys=(OPEN311_KEY,), secret_key=EXAMPLE_KEY,
        development=True, **settings,
    )
    wiring = App(settings=api_settings, engine=db.engine, session_factory=db.session_factory,
                 config=db.config)
    app = create_app(api_settings, app_state=wiring)

    async def clock():
        return world.clock

    app.dependency_overrides[get_now] = clock
    with TestClient(app) as client:
        yield Api(client=client, world=world, handlers=handlers)


__all__ = ["ACTIONS_TOKEN", "BOT_ROLES", "CHATS", "OPEN311_KEY", "ROLES", "T0",
           "TELEGRAM_TOKEN", "Api", "make_api"]
