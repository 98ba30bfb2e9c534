"""The console in a real headless Chromium against the real stack.

One stack per test module (tools/stack.Stack: the work-order API serving the
console at ``stack.api_url + "/console/"``, the notifier, the sweeper, the
action server and Rasa with the REST channel, on free ports; the demo accounts
with the passwords load-demo gave them), and Debian's Chromium driven by Playwright
(``executable_path``, never a downloaded browser). Contexts: ``office``
(1366x768) and ``phone`` (390x844), from ``browse``.

Skipped (with the reason) when the stack or Chromium is missing; under
``CI=true`` they fail instead, so CI never passes without them.
Screenshots go to ``CONSOLE_SCREENSHOTS`` (default: a tmp dir of the run).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.app.conftest import in_ci
from tests.app.console.browser.browser_support import (
    CHROMIUM,
    OFFICE,
    PHONE,
    Db,
    Screenshots,
    chromium_missing,
    sign_in,
)
from tools.stack import Stack, unavailable_reason


def _unavailable() -> str | None:
    reason = unavailable_reason()
    if reason:
        return f"the browser tests need the whole stack: {reason}"
    return chromium_missing()


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Iterator[Stack]:
    reason = _unavailable()
    if reason:
        if in_ci():
            pytest.fail(f"CI runs the console's browser tests: {reason}")
        pytest.skip(reason)
    model = os.environ.get("E2E_MODEL") or None
    running = Stack(tmp_path_factory.mktemp("browser-stack"), model).start()
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def db(stack) -> Iterator[Db]:
    found = Db(stack.database_url)
    try:
        yield found
    finally:
        found.close()


@pytest.fixture(scope="module")
def staff(stack, db) -> dict[str, int]:
    """The demo handlers' own accounts: {username: handler id} (their passwords, like
    every demo account's, from ``stack.staff_password``)."""
    accounts = db.handler_accounts()
    assert {"zhangli", "wangjianguo"} <= set(accounts), accounts
    return accounts


@pytest.fixture(scope="module")
def login(stack, base) -> Callable[..., Any]:
    """``login(page, username, password=None, next_path=None)``: the real sign-in page,
    with the demo account's password unless another is given."""

    def login(page: Any, username: str, password: str | None = None,
              next_path: str | None = None) -> Any:
        chosen = password if password is not None else stack.staff_password(username)
        return sign_in(page, base, username, chosen, next_path)

    return login


@pytest.fixture(scope="module")
def base(stack) -> str:
    return stack.api_url.rstrip("/")


@pytest.fixture(scope="module")
def chromium(stack) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield browser
        finally:
            browser.close()


def _context(chromium: Any, viewport: dict[str, int], **extra: Any) -> Any:
    context = chromium.new_context(viewport=viewport, locale="zh-CN",
                                   timezone_id="Asia/Shanghai", accept_downloads=True, **extra)
    context.set_default_timeout(15_000)
    return context


@pytest.fixture
def browse(chromium) -> Iterator[Callable[[str], Any]]:
    """``browse("office")`` / ``browse("phone")``: a fresh browser context (its own
    cookies: one person) at an office screen's size or a phone's width; closed after
    the test."""
    opened: list[Any] = []

    def new(kind: str = "office") -> Any:
        if kind == "phone":
            context = _context(chromium, PHONE, is_mobile=True, has_touch=True)
        else:
            context = _context(chromium, OFFICE)
        opened.append(context)
        return context

    try:
        yield new
    finally:
        for context in opened:
            context.close()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory) -> Screenshots:
    chosen = os.environ.get("CONSOLE_SCREENSHOTS", "").strip()
    return Screenshots(Path(chosen) if chosen else tmp_path_factory.mktemp("screenshots"))
