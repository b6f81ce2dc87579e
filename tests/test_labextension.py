"""The JupyterLab extension: installed with the package, and its executions
sidebar following runs in a real JupyterLab page."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from typing import Any

from dagstudio_jupyter.client import Client

from . import _sync_browser
from ._lab import Lab

# Playwright sync API fixtures for this module (see tests/_sync_browser.py).
dagstudio_browser = _sync_browser.dagstudio_browser
jp_asyncio_loop = _sync_browser.jp_asyncio_loop
jp_server_cleanup = _sync_browser.jp_server_cleanup

ANSI = re.compile(r"\x1b\[[0-9;]*m")
PANEL = "#dagstudio-executions"


def test_install_enables_the_labextension() -> None:
    listing = subprocess.run(
        [sys.executable, "-m", "jupyter", "labextension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )

    lines = ANSI.sub("", listing.stdout + listing.stderr).splitlines()
    ours = [line.split() for line in lines if "dagstudio-jupyter" in line]
    assert any("enabled" in words and "OK" in words for words in ours), lines


def open_sidebar(page: Any, lab: Lab) -> Any:
    page.goto(lab.page_url("lab"))
    tab = page.locator('.jp-SideBar [data-id="dagstudio-executions"]')
    tab.wait_for(timeout=60_000)
    tab.click()
    panel = page.locator(PANEL)
    panel.wait_for(state="visible", timeout=10_000)
    return panel


def test_sidebar_lists_a_new_run_and_shows_it_completed(
    dagstudio_lab: Lab, dagstudio_page: Any
) -> None:
    panel = open_sidebar(dagstudio_page, dagstudio_lab)
    workflow = {
        "format": "dagstudio.workflow/1",
        "id": "sidebar-sleeps",
        "name": "Sidebar sleeps",
        "phases": [
            {"id": "first", "kind": "shell", "command": "sleep 1"},
            {"id": "second", "kind": "shell", "command": "sleep 1", "after": ["first"]},
        ],
    }

    dagstudio_page.locator(f'{PANEL}[data-connection="live"]').wait_for(timeout=20_000)

    execution = Client(dagstudio_lab.url, dagstudio_lab.token).submit(workflow)

    selector = f'li[data-id="{execution["id"]}"]'
    row = panel.locator(selector)
    # Within a moment: the live feed, not the 30 s safety poll, brings it.
    row.wait_for(timeout=1_500)
    assert "Sidebar sleeps" in row.inner_text()
    panel.locator(f'{selector}[data-status="completed"]').wait_for(timeout=60_000)
    text = row.inner_text()
    assert "completed" in text
    assert "2 / 2 phases" in text

    # The filters narrow the list without another request.
    panel.locator(".dagstudio-executions-filter").fill("no such run")
    assert row.count() == 0
    assert "No execution matches" in panel.inner_text()
    panel.locator(".dagstudio-executions-filter").fill("SIDEBAR sleeps")
    assert row.count() == 1
    panel.locator(".dagstudio-executions-status-filter").select_option("failed")
    assert row.count() == 0
    panel.locator(".dagstudio-executions-status-filter").select_option("completed")
    assert row.count() == 1


def test_sidebar_explains_how_to_start_when_there_are_no_executions(
    dagstudio_lab: Lab, dagstudio_page: Any
) -> None:
    # The session's server may hold runs of other tests: this page sees none.
    dagstudio_page.route(
        "**/dagstudio/api/executions",
        lambda route: route.fulfill(
            status=200,
            content_type="application/json",
            body=json.dumps({"executions": [], "next_cursor": None}),
        ),
    )

    panel = open_sidebar(dagstudio_page, dagstudio_lab)

    example = panel.locator(".dagstudio-executions-example")
    example.wait_for(timeout=10_000)
    assert panel.locator("li").count() == 0
    assert "No executions yet" in panel.inner_text()
    lines = example.inner_text().strip().splitlines()
    assert len(lines) == 3
    assert lines[0] == "from dagstudio_jupyter import Workflow"
    heading = panel.locator("h2").text_content()
    assert heading == "DAG Studio executions"
