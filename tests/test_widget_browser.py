"""The widget in real JupyterLab and chromium: the quickstart run from the page."""

from __future__ import annotations

from typing import Any

import pytest

from ._lab import OUTPUT, Lab, browser_page

pytestmark = pytest.mark.browser

KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}"""
ALL_COMPLETED = """(total) => document.querySelectorAll(
  '.dagstudio-widget .dagstudio-node[data-status="completed"]'
).length === total"""


async def open_notebook(page: Any, lab: Lab, name: str) -> None:
    # `reset` drops the saved workspace, so notebooks that earlier tests
    # opened in the session's JupyterLab do not open again beside this one.
    await page.goto(lab.page_url(f"lab/tree/{name}") + "&reset")
    await page.wait_for_function(KERNEL_IDLE, timeout=60_000)


async def run_all_cells(page: Any) -> None:
    await page.evaluate(
        "() => window.jupyterapp.commands.execute('notebook:run-all-cells')"
    )


@pytest.mark.timeout(240)
async def test_quickstart_from_the_page_turns_every_node_completed(
    dagstudio_lab: Lab,
) -> None:
    async with browser_page("quickstart") as page:
        await open_notebook(page, dagstudio_lab, "quickstart.ipynb")

        await run_all_cells(page)
        widget = page.locator(".dagstudio-widget").first
        await widget.wait_for(timeout=60_000)
        total = await page.locator(".dagstudio-widget .dagstudio-node").count()
        await page.wait_for_function(ALL_COMPLETED, arg=total, timeout=120_000)
        await widget.scroll_into_view_if_needed()
        OUTPUT.mkdir(exist_ok=True)
        await widget.screenshot(path=str(OUTPUT / "quickstart-completed.png"))

        assert total == 11
        assert await widget.get_attribute("data-execution-status") == "completed"
        summary = await widget.locator(".dagstudio-summary").inner_text()
        assert "11/11 completed" in summary
        toast = page.locator(".dagstudio-toasts .dagstudio-toast[data-level='success']")
        assert "completed" in (await toast.first.inner_text()).lower()
