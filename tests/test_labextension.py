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
    # The workspace may have restored the panel already; a click would then
    # close it.
    page.evaluate("async () => { await window.jupyterapp.restored; }")
    if page.locator(PANEL).is_hidden():
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
        re.compile(r".*/dagstudio/api/executions(\?.*)?$"),
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
    assert len(lines) == 4
    assert lines[0] == "from dagstudio_jupyter import Workflow"
    heading = panel.locator("h2").text_content()
    assert heading == "DAG Studio executions"


def test_missing_server_extension_is_explained_in_a_dialog(
    dagstudio_lab: Lab, dagstudio_page: Any
) -> None:
    # As on a server where the Python package is installed but its server
    # extension is not enabled: the API is not there.
    dagstudio_page.route(
        re.compile(r".*/dagstudio/api/.*"),
        lambda route: route.fulfill(
            status=404,
            content_type="text/html",
            body="<html><body>404 : Not Found</body></html>",
        ),
    )

    dagstudio_page.goto(dagstudio_lab.page_url("lab"))

    dialog = dagstudio_page.locator(".jp-Dialog")
    dialog.wait_for(timeout=60_000)
    text = dialog.inner_text()
    assert "DAG Studio server extension not found" in text
    assert "jupyter server extension enable dagstudio_jupyter" in text


def test_palette_lists_the_panel_and_its_actions(
    dagstudio_lab: Lab, dagstudio_page: Any
) -> None:
    open_sidebar(dagstudio_page, dagstudio_lab)

    dagstudio_page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:activate-command-palette')"
    )
    search = dagstudio_page.locator(".jp-ModalCommandPalette input")
    search.fill("DAG Studio")

    items = dagstudio_page.locator(".jp-ModalCommandPalette .lm-CommandPalette-item")
    items.first.wait_for(timeout=10_000)
    labels = set(items.all_inner_texts())
    for label in (
        "Show DAG Studio Executions",
        "Refresh DAG Studio Executions",
        "Open Execution Graph",
        "Cancel Execution",
        "Retry Failed Phases",
        "Delete Execution…",
    ):
        assert any(label in text for text in labels), (label, labels)
    header = dagstudio_page.locator(
        ".jp-ModalCommandPalette .lm-CommandPalette-header", has_text="DAG Studio"
    )
    assert header.count() == 1


def test_sidebar_takes_its_colours_from_the_theme(
    dagstudio_lab: Lab, dagstudio_page: Any
) -> None:
    panel = open_sidebar(dagstudio_page, dagstudio_lab)
    light = panel.evaluate("node => getComputedStyle(node).backgroundColor")
    page_light = dagstudio_page.evaluate(
        "() => getComputedStyle(document.body)"
        ".getPropertyValue('--jp-layout-color1').trim()"
    )

    dagstudio_page.evaluate(
        "() => window.jupyterapp.commands.execute("
        "'apputils:change-theme', { theme: 'JupyterLab Dark' })"
    )
    dagstudio_page.wait_for_function(
        "() => document.body.dataset.jpThemeLight === 'false'", timeout=30_000
    )

    dark = panel.evaluate("node => getComputedStyle(node).backgroundColor")
    assert light != dark
    assert page_light != dagstudio_page.evaluate(
        "() => getComputedStyle(document.body)"
        ".getPropertyValue('--jp-layout-color1').trim()"
    )
    dagstudio_page.evaluate(
        "() => window.jupyterapp.commands.execute("
        "'apputils:change-theme', { theme: 'JupyterLab Light' })"
    )
    dagstudio_page.wait_for_function(
        "() => document.body.dataset.jpThemeLight === 'true'", timeout=30_000
    )
