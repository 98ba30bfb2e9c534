"""The console test harness: the API's world (``api_support``) with passwords, and
signed-in browsers-without-a-browser (TestClients with their own cookies).

    console = Console(api)                    # from the fixture ``console``
    dispatcher = console.sign_in("dispatcher")
    page = dispatcher.get("/console/todo")    # follows redirects; .text is the page
    dispatcher.post("/console/orders/123/priority", data={"priority": "urgent"})  # CSRF added
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy import select

from integrations.workorders.adapters.orm import StaffUser
from tests.app.api.api_support import Api, make_api
from tests.app.world import Db

CSRF_IN_PAGE = re.compile(r'name="csrf_token" value="([^"]+)"')


def password_of(name: str) -> str:
    return f"pw-{name}-0123456789"


#: argon2id with tiny costs, for tests only: the hash carries its parameters, so
#: verifying it is fast too (the product hashes with argon2-cffi's defaults and
#: re-hashes such a weak hash at the next sign-in).
_CHEAP = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
_HASHES: dict[str, str] = {}


def give_passwords(db: Db) -> None:
    """Every account of the world gets ``password_of(username)``."""
    with db.session() as s:
        for user in s.scalars(select(StaffUser)):
            if user.username not in _HASHES:
                _HASHES[user.username] = _CHEAP.hash(password_of(user.username))
            user.password_hash = _HASHES[user.username]
        s.commit()


@dataclass
class Browser:
    """One person's cookie jar on the console; ``post`` adds the page's CSRF token."""

    client: TestClient
    csrf: str = ""

    def get(self, path: str, **kw: Any):
        return self.client.get(path, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, *, csrf: bool = True,
             **kw: Any):
        body = dict(data or {})
        if csrf:
            body.setdefault("csrf_token", self.csrf)
        kw.setdefault("follow_redirects", False)
        return self.client.post(path, data=body, **kw)

    def refresh_csrf(self) -> str:
        page = self.client.get("/console/account")
        found = CSRF_IN_PAGE.search(page.text)
        self.csrf = found.group(1) if found else ""
        return self.csrf


@dataclass
class Console:
    api: Api
    browsers: list[Browser] = field(default_factory=list)

    def browser(self, base_url: str = "http://testserver") -> Browser:
        client = TestClient(self.api.client.app, base_url=base_url)
        browser = Browser(client)
        self.browsers.append(browser)
        return browser

    def login_form(self, browser: Browser) -> str:
        """Open the sign-in page; the form's CSRF token."""
        page = browser.client.get("/console/login")
        assert page.status_code == 200, page.text
        found = CSRF_IN_PAGE.search(page.text)
        assert found, page.text
        return found.group(1)

    def attempt(self, browser: Browser, name: str, password: str, **extra: Any):
        token = self.login_form(browser)
        return browser.client.post(
            "/console/login", data={"username": name, "password": password,
                                    "csrf_token": token, **extra},
            follow_redirects=False)

    def sign_in(self, name: str, base_url: str = "http://testserver") -> Browser:
        browser = self.browser(base_url)
        response = self.attempt(browser, name, password_of(name))
        assert response.status_code == 303, response.text
        browser.refresh_csrf()
        assert browser.csrf, "no CSRF token on the account page"
        return browser

    def close(self) -> None:
        for browser in self.browsers:
            browser.client.close()


def make_console(db: Db, **settings: Any) -> Iterator[Console]:
    for api in make_api(db, **settings):
        give_passwords(db)
        console = Console(api)
        try:
            yield console
        finally:
            console.close()
