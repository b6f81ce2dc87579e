"""The widget in real JupyterLab and chromium: the quickstart run from the page."""

from __future__ import annotations

from typing import Any

import pytest

from ._lab import Lab
from .conftest import OUTPUT

pytestmark = pytest.mark.browser

KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}"""


def open_notebook(page: Any, lab: Lab, name: str) -> None:
    page.goto(lab.page_url(f"lab/tree/{name}"))
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)


def run_all_cells(page: Any) -> None:
    page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")


@pytest.mark.timeout(240)
def test_quickstart_from_the_page_turns_every_node_completed(
    dagstudio_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    open_notebook(page, dagstudio_lab, "quickstart.ipynb")

    run_all_cells(page)
    widget = page.locator(".dagstudio-widget").first
    widget.wait_for(timeout=60_000)
    total = page.locator(".dagstudio-widget .dagstudio-node").count()
    page.wait_for_function(
        """(total) => document.querySelectorAll(
             '.dagstudio-widget .dagstudio-node[data-status="completed"]'
           ).length === total""",
        arg=total,
        timeout=120_000,
    )
    widget.scroll_into_view_if_needed()
    OUTPUT.mkdir(exist_ok=True)
    widget.screenshot(path=str(OUTPUT / "quickstart-completed.png"))
    page.screenshot(path=str(OUTPUT / "quickstart-page.png"))

    assert total == 11
    assert widget.get_attribute("data-execution-status") == "completed"
    summary = widget.locator(".dagstudio-summary").inner_text()
    assert "11" in summary
    toast = page.locator(".dagstudio-toasts .dagstudio-toast[data-level='success']")
    assert "completed" in toast.first.inner_text().lower()
