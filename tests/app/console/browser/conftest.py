"""The console in a real headless Chromium against the real stack.

One stack per test module (tools/stack.Stack: the work-order API serving the
console at ``stack.api_url + "/console/"``, the notifier, the sweeper, the
action server and Rasa with the REST channel, on free ports), staff passwords
set through the CLI, and Debian's Chromium driven by Playwright
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
    create_handler_accounts,
    set_passwords,
)
from tools.stack import Stack, unavailable_reason

#: the demo data's staff accounts (integrations/workorders/demo.py)
DEMO_STAFF = ("demo-dispatcher", "demo-supervisor", "demo-admin")
#: handler accounts made for the tests: username -> the demo handler's name
HANDLER_ACCOUNTS = {"bt-wangjianguo": "王建国", "bt-mawenbin": "马文斌",
                    "bt-zhenghaitao": "郑海涛", "bt-zhangli": "张丽"}


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
    """Passwords for the demo staff; handler accounts for a few demo handlers.

    Returns {handler account: handler id}."""
    set_passwords(stack.database_url, DEMO_STAFF)
    accounts = {u: db.handler_id(name) for u, name in HANDLER_ACCOUNTS.items()}
    create_handler_accounts(stack.database_url, accounts)
    return accounts


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
