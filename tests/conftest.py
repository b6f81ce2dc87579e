"""Shared fixtures: a real JupyterLab, and a page of chromium for sync browser tests.

`dagstudio_page` needs a `dagstudio_browser` fixture from its module: Playwright's
sync API must stop with the module (see tests/test_server_widget.py); async
tests use `tests._lab.browser_page` instead.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._lab import Lab, only_loopback_sync, running_lab

ROOT = Path(__file__).resolve().parent.parent
OUTPUT = ROOT / "test-output"


@pytest.fixture(scope="session")
def dagstudio_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab on 127.0.0.1 with the example notebooks in its root."""
    notebooks = sorted((ROOT / "notebooks").glob("*.ipynb"))
    with running_lab(tmp_path_factory.mktemp("lab"), notebooks) as lab:
        yield lab


@pytest.fixture
def dagstudio_page(
    dagstudio_browser: Any, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """A fresh page that may reach 127.0.0.1 only; keeps a screenshot on failure."""
    context = dagstudio_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", only_loopback_sync)
    page = context.new_page()
    yield page
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{request.node.name}-last.png"))
    context.close()
