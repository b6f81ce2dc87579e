"""Fixtures for test modules that drive chromium with Playwright's sync API.

A module imports all three; they override pytest-jupyter's fixtures for that
module only, so its async tests elsewhere keep their own event loops.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from ._lab import CHROMIUM, CHROMIUM_ARGS


@pytest.fixture(scope="module")
def dagstudio_browser() -> Iterator[Any]:
    """Debian's chromium for one module (overrides the session's).

    While Playwright's sync API runs, its event loop is the running loop of
    this thread, and pytest-jupyter's autouse fixtures of every later test
    would try to close it; stopping Playwright with the module spares them.
    """
    if shutil.which(CHROMIUM) is None:
        pytest.fail(f"{CHROMIUM} is missing; `make install` installs Debian's chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def jp_asyncio_loop() -> None:
    """Leave this thread's event loop alone (overrides pytest-jupyter's).

    The autouse fixtures of pytest-jupyter close the thread's loop after each
    test and run a ServerApp clean-up on it. Once Playwright's sync API has
    started, that loop is Playwright's own and still running: the close fails
    and the clean-up coroutine is never awaited. No module using this starts
    a server in this process.
    """
    return None


@pytest.fixture
def jp_server_cleanup() -> None:
    """No in-process ServerApp to clean up (overrides pytest-jupyter's)."""
    return None
