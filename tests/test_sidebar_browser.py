"""The executions sidebar in real JupyterLab and chromium, on a server at the
root and on one under a JupyterHub-like base URL: runs started from a
notebook show up live, open in a tab, cancel, retry, delete, and survive a
page refresh."""

from __future__ import annotations

import re
import time
import urllib.request
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from dagstudio_jupyter.client import Client, ServerNotFoundError

from . import _sync_browser
from ._lab import Lab, running_lab
from .test_server_widget import KERNEL_IDLE, write_notebook

# Playwright sync API fixtures for this module (see tests/_sync_browser.py).
dagstudio_browser = _sync_browser.dagstudio_browser
jp_asyncio_loop = _sync_browser.jp_asyncio_loop
jp_server_cleanup = _sync_browser.jp_server_cleanup

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

PANEL = "#dagstudio-executions"
# The time, in the page's clock, when a row for each execution id first showed.
WATCH_ROWS = """() => {
  window.__dagstudioRowSeen = {};
  const note = () => {
    for (const row of document.querySelectorAll('li.dagstudio-execution')) {
      const id = row.getAttribute('data-id');
      if (!(id in window.__dagstudioRowSeen)) {
        window.__dagstudioRowSeen[id] = Date.now();
      }
    }
  };
  new MutationObserver(note).observe(document.body, {
    subtree: true, childList: true,
  });
  note();
}"""


def chain_notebook(name: str, *, steps: int, seconds: float) -> list[str]:
    """Cells that submit a chain of `sleep` phases to this server and print its id."""
    return [
        "from dagstudio_jupyter import Workflow\n"
        "from dagstudio_jupyter.client import Client\n"
        f"wf = Workflow({name!r})\n"
        f"for i in range({steps}):\n"
        f"    wf.add(f'step{{i}}', command='sleep {seconds}',"
        " after=[f'step{i - 1}'] if i else [])\n"
        "run = wf.submit(Client.from_environment())\n"
        "print('EXECUTION', run.id)",
    ]


@pytest.fixture(scope="module", params=["/", "/user/someone/"], ids=["root", "hub"])
def sidebar_lab(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Lab]:
    """JupyterLab of this module alone: the tests open notebooks and tabs,
    which stay in its saved workspace."""
    home = tmp_path_factory.mktemp("sidebar-lab")
    with running_lab(home, [], base_url=request.param) as lab:
        yield lab


def client(lab: Lab) -> Client:
    return Client(lab.url, lab.token)


def start_from_notebook(page: Any, lab: Lab, name: str, cells: list[str]) -> str:
    """Open a notebook beside the sidebar, run it, and return the execution id
    its output prints."""
    write_notebook(lab.root_dir / f"{name}.ipynb", cells)
    page.goto(f"{lab.url}lab/tree/{name}.ipynb?reset&token={lab.token}")
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    show_sidebar(page)
    page.locator(f'{PANEL}[data-connection="live"]').wait_for(timeout=20_000)
    page.evaluate(WATCH_ROWS)
    page.evaluate(
        "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    )
    output = page.locator(".jp-NotebookPanel:visible .jp-OutputArea-output").filter(
        has_text="EXECUTION "
    )
    output.wait_for(timeout=60_000)
    return str(output.inner_text().split("EXECUTION", 1)[1].strip())


def show_sidebar(page: Any) -> Any:
    page.wait_for_function(
        "() => window.jupyterapp && "
        "window.jupyterapp.commands.hasCommand('dagstudio:show-executions')",
        timeout=60_000,
    )
    # After the workspace is restored, which would otherwise pick the sidebar.
    page.evaluate(
        "async () => { await window.jupyterapp.restored; "
        "await window.jupyterapp.commands.execute('dagstudio:show-executions'); }"
    )
    panel = page.locator(PANEL)
    panel.wait_for(state="visible", timeout=10_000)
    return panel


def row_of(page: Any, execution_id: str, status: str | None = None) -> Any:
    where = f'[data-status="{status}"]' if status else ""
    return page.locator(f'{PANEL} li[data-id="{execution_id}"]{where}')


def seen_after_creation_ms(page: Any, lab: Lab, execution_id: str) -> float:
    """How long after the server created the execution its row showed."""
    seen = page.evaluate(f"() => window.__dagstudioRowSeen[{execution_id!r}]")
    created = client(lab).get(execution_id)["created_at"]
    return float(seen) - datetime.fromisoformat(created).timestamp() * 1000


def test_notebook_run_shows_up_live_and_opens_its_graph_following_it(
    sidebar_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    sockets: list[str] = []
    page.on("websocket", lambda socket: sockets.append(socket.url))

    execution_id = start_from_notebook(
        page, sidebar_lab, "live_row", chain_notebook("Live row", steps=3, seconds=2)
    )

    row = row_of(page, execution_id)
    row.wait_for(timeout=5_000)
    assert "Live row" in row.inner_text()
    # Both clocks are this machine's: the row came with the live feed.
    assert seen_after_creation_ms(page, sidebar_lab, execution_id) < 1_000
    row_of(page, execution_id, "running").wait_for(timeout=10_000)
    # Its progress moves while it runs, though it started after the page.
    row.filter(has_text=re.compile(r"[12] / 3 phases done")).wait_for(timeout=10_000)

    row.locator('button[data-command="dagstudio:open-execution"]').click()

    tab = page.locator(".dagstudio-execution-tab:visible")
    tab.wait_for(timeout=10_000)
    nodes = tab.locator("g.dagstudio-node")
    nodes.first.wait_for(timeout=20_000)
    assert nodes.count() == 3
    assert sorted(nodes.evaluate_all("ns => ns.map(n => n.dataset.phaseId)")) == [
        "step0",
        "step1",
        "step2",
    ]
    tab_title = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert "Live row" in tab_title.inner_text()
    # The tab follows the run: its last phase turns completed there, live.
    tab.locator(
        'g.dagstudio-node[data-phase-id="step2"][data-status="running"]'
    ).wait_for(timeout=30_000)
    tab.locator(
        'g.dagstudio-node[data-phase-id="step2"][data-status="completed"]'
    ).wait_for(timeout=30_000)
    assert "completed" in tab.locator(".dagstudio-execution-status").inner_text()
    row_of(page, execution_id, "completed").wait_for(timeout=10_000)
    assert "3 / 3 phases done" in row.inner_text()
    # The panel and the tab share the page's one live socket.
    live = [url for url in sockets if "/dagstudio/api/live" in url]
    assert len(live) == 1, sockets
    assert live[0].startswith(sidebar_lab.url.replace("http:", "ws:"))


def test_cancel_retry_and_delete_from_the_panel(
    sidebar_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    execution_id = start_from_notebook(
        page, sidebar_lab, "long_run", chain_notebook("Long run", steps=2, seconds=60)
    )
    row = row_of(page, execution_id, "running")
    row.wait_for(timeout=10_000)

    row.locator('button[data-command="dagstudio:cancel-execution"]').click()

    row_of(page, execution_id, "cancelled").wait_for(timeout=15_000)
    assert client(sidebar_lab).get(execution_id)["status"] == "cancelled"

    row_of(page, execution_id).locator(
        'button[data-command="dagstudio:retry-execution"]'
    ).click()

    row_of(page, execution_id, "running").wait_for(timeout=15_000)
    assert client(sidebar_lab).get(execution_id)["status"] == "running"
    # A running execution cannot be deleted: the panel offers no Delete.
    assert row_of(page, execution_id).locator("button", has_text="Delete").count() == 0
    page.evaluate(
        "(id) => window.jupyterapp.commands.execute("
        "'dagstudio:cancel-execution', { id })",
        execution_id,
    )
    row_of(page, execution_id, "cancelled").wait_for(timeout=15_000)

    row_of(page, execution_id).locator(
        'button[data-command="dagstudio:delete-execution"]'
    ).click()

    dialog = page.locator(".jp-Dialog")
    dialog.wait_for(timeout=5_000)
    assert "Long run" in dialog.inner_text()
    assert "cannot be undone" in dialog.inner_text()
    # Cancelling the dialog keeps the execution.
    dialog.locator("button", has_text="Cancel").click()
    dialog.wait_for(state="detached", timeout=5_000)
    assert client(sidebar_lab).get(execution_id)["status"] == "cancelled"
    # From the keyboard: the selected row, then the Delete key.
    row_of(page, execution_id).focus()
    page.keyboard.press("Delete")
    page.locator(".jp-Dialog button.jp-mod-warn", has_text="Delete").click()
    row_of(page, execution_id).wait_for(state="detached", timeout=10_000)
    with pytest.raises(ServerNotFoundError):
        client(sidebar_lab).get(execution_id)


def wait_for_saved_tab(page: Any, lab: Lab, execution_id: str) -> None:
    """Wait until a saved workspace holds the tab (JupyterLab saves a moment
    after a change)."""
    request = urllib.request.Request(
        f"{lab.url}lab/api/workspaces",
        headers={"Authorization": f"token {lab.token}"},
    )
    key = f"dagstudio-execution:{execution_id}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with urllib.request.urlopen(request, timeout=10) as response:
            if key in response.read().decode():
                return
        # Not time.sleep: the page's requests pass the sync route handler
        # only while Playwright is called.
        page.wait_for_timeout(200)
    raise AssertionError(f"no workspace saved the tab {key}")


def test_refresh_shows_the_same_list_and_reopens_the_tab(
    sidebar_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    lab_client = client(sidebar_lab)
    for name in ("Refresh one", "Refresh two"):
        done = lab_client.submit(
            {
                "format": "dagstudio.workflow/1",
                "id": name.lower().replace(" ", "-"),
                "name": name,
                "phases": [{"id": "only", "kind": "shell", "command": "true"}],
            }
        )
        lab_client.wait(done["id"], timeout=60)
    # Reset the workspace of the earlier tests, then load it as users do.
    page.goto(sidebar_lab.page_url("lab") + "&reset")
    show_sidebar(page)
    page.goto(sidebar_lab.page_url("lab"))
    panel = show_sidebar(page)
    panel.locator("li.dagstudio-execution").first.wait_for(timeout=20_000)
    before = panel.locator("li.dagstudio-execution").evaluate_all(
        "rows => rows.map(r => [r.dataset.id, r.dataset.status])"
    )
    first_id = before[0][0]
    page.evaluate(
        "(id) => window.jupyterapp.commands.execute("
        "'dagstudio:open-execution', { id })",
        first_id,
    )
    page.locator(".dagstudio-execution-tab:visible g.dagstudio-node").first.wait_for(
        timeout=20_000
    )
    # JupyterLab saves the workspace a moment after a change; refresh after.
    wait_for_saved_tab(page, sidebar_lab, first_id)

    page.reload()

    # The workspace brings back the sidebar and the tab, as JupyterLab does
    # for its own panels.
    panel = page.locator(PANEL)
    panel.locator("li.dagstudio-execution").first.wait_for(timeout=60_000)
    after = panel.locator("li.dagstudio-execution").evaluate_all(
        "rows => rows.map(r => [r.dataset.id, r.dataset.status])"
    )
    assert after == before
    assert len(after) >= 2
    tab = page.locator(f"#dagstudio-execution-{first_id}")
    tab.locator("g.dagstudio-node").first.wait_for(timeout=20_000)
    assert tab.locator('g.dagstudio-node[data-status="completed"]').count() == 1


def noop_workflow(name: str, *, fail: bool = False) -> dict[str, Any]:
    phase: dict[str, Any] = {"id": "only", "kind": "noop"}
    if fail:
        phase = {"id": "only", "kind": "shell", "command": "exit 3"}
    return {
        "format": "dagstudio.workflow/1",
        "id": re.sub(r"[^a-z0-9]+", "-", name.lower()),
        "name": name,
        "phases": [phase],
    }


def test_deletion_elsewhere_reaches_the_panel_and_an_open_tab(
    sidebar_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    lab_client = client(sidebar_lab)
    done = lab_client.submit(noop_workflow("Deleted elsewhere"))
    lab_client.wait(done["id"], timeout=60)
    page.goto(sidebar_lab.page_url("lab") + "&reset")
    show_sidebar(page)
    page.locator(f'{PANEL}[data-connection="live"]').wait_for(timeout=20_000)
    page.evaluate(
        "(id) => window.jupyterapp.commands.execute("
        "'dagstudio:open-execution', { id })",
        done["id"],
    )
    tab = page.locator(f"#dagstudio-execution-{done['id']}")
    tab.locator("g.dagstudio-node").first.wait_for(timeout=20_000)

    lab_client.delete(done["id"])

    # Far sooner than the panel's 30 s safety poll: the live channel said so.
    row_of(page, done["id"]).wait_for(state="detached", timeout=5_000)
    banner = tab.locator(".dagstudio-execution-gone")
    banner.wait_for(timeout=5_000)
    assert "deleted" in banner.inner_text()
    tab_title = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current")
    assert "not on the server" in tab_title.inner_text()


def test_filters_find_executions_beyond_the_first_page(
    sidebar_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    lab_client = client(sidebar_lab)
    needle = lab_client.submit(noop_workflow("Needle in the list", fail=True))
    lab_client.wait(needle["id"], timeout=60)
    hay = [lab_client.submit(noop_workflow(f"Hay {i}")) for i in range(55)]
    for execution in hay:
        lab_client.wait(execution["id"], timeout=60)
    page.goto(sidebar_lab.page_url("lab") + "&reset")
    panel = show_sidebar(page)
    row_of(page, hay[-1]["id"]).wait_for(timeout=20_000)
    assert row_of(page, needle["id"]).count() == 0  # past the first page

    panel.locator(".dagstudio-executions-filter").fill("NEEDLE")

    row_of(page, needle["id"]).wait_for(timeout=10_000)
    assert panel.locator("li.dagstudio-execution").count() == 1
    panel.locator(".dagstudio-executions-filter").fill("")
    panel.locator(".dagstudio-executions-status-filter").select_option("failed")
    row_of(page, needle["id"], "failed").wait_for(timeout=10_000)
    # A failed row says why.
    error = row_of(page, needle["id"]).locator(".dagstudio-execution-error")
    assert error.inner_text().strip() != ""
    # Without filters, "Show older" reaches it too.
    panel.locator(".dagstudio-executions-status-filter").select_option("")
    row_of(page, needle["id"]).wait_for(state="detached", timeout=10_000)
    panel.locator(".dagstudio-executions-more").click()
    row_of(page, needle["id"]).wait_for(timeout=10_000)


def flaky_once_workflow(name: str, marker: str) -> dict[str, Any]:
    """`first` completes; `second` fails the first time it runs only (it
    leaves `marker` behind), so a resume of the run completes."""
    return {
        "format": "dagstudio.workflow/1",
        "id": re.sub(r"[^a-z0-9]+", "-", name.lower()),
        "name": name,
        "phases": [
            {"id": "first", "kind": "shell", "command": "true"},
            {
                "id": "second",
                "kind": "shell",
                "command": f"test -e {marker} || {{ touch {marker}; exit 3; }}",
                "after": ["first"],
            },
        ],
    }


def test_resumed_execution_links_to_its_source_in_row_and_tab(
    sidebar_lab: Lab, dagstudio_page: Any, tmp_path: Any
) -> None:
    page = dagstudio_page
    lab_client = client(sidebar_lab)
    source = lab_client.submit(
        flaky_once_workflow("Resume me", str(tmp_path / "second-ran"))
    )
    assert lab_client.wait(source["id"], timeout=60)["status"] == "failed"
    page.goto(sidebar_lab.page_url("lab") + "&reset")
    show_sidebar(page)
    page.locator(f'{PANEL}[data-connection="live"]').wait_for(timeout=20_000)
    source_row = row_of(page, source["id"], "failed")
    source_row.wait_for(timeout=20_000)
    # A plain run derives from nothing.
    assert source_row.locator(".dagstudio-execution-source").count() == 0

    source_row.locator('button[data-command="dagstudio:resume-execution"]').click()

    # The new execution's tab opens, following it to its end.
    tab = page.locator(".dagstudio-execution-tab:visible")
    tab.wait_for(timeout=20_000)
    resumed_id = str(tab.get_attribute("id")).removeprefix("dagstudio-execution-")
    assert resumed_id != source["id"]
    assert lab_client.wait(resumed_id, timeout=60)["status"] == "completed"
    resumed = lab_client.get(resumed_id)
    assert resumed["derived_from"]["execution_id"] == source["id"]
    assert resumed["derived_from"]["mode"] == "resume"
    link_text = f"↳ from {source['id'][:8]} · resumed from failure"
    header = tab.locator(".dagstudio-execution-header")
    header.locator(".dagstudio-execution-source-link", has_text=link_text).wait_for(
        timeout=10_000
    )
    # The header's link stands for the widget's own, which would repeat it.
    assert not tab.locator(".dagstudio-derived").is_visible()
    # `first` is not run again: its result is the source's, and says so.
    reused = header.locator('li[data-phase-id="first"]')
    reused.wait_for(state="attached", timeout=10_000)
    assert f"result from {source['id'][:8]}" in reused.text_content()
    tab.locator(
        'g.dagstudio-node[data-phase-id="second"][data-status="completed"]'
    ).wait_for(timeout=30_000)
    # The sidebar's row of the new execution shows the same link.
    row = row_of(page, resumed_id, "completed")
    row.wait_for(timeout=15_000)
    link = row.locator(".dagstudio-execution-source-link")
    assert link.inner_text().strip() == link_text
    assert source["id"] in str(
        row.locator(".dagstudio-execution-source").get_attribute("title")
    )

    link.click()

    source_tab = page.locator(f"#dagstudio-execution-{source['id']}")
    source_tab.wait_for(state="visible", timeout=10_000)
    source_tab.locator(
        'g.dagstudio-node[data-phase-id="second"][data-status="failed"]'
    ).wait_for(timeout=20_000)
    # From the keyboard too: Enter on the link, with the source's tab closed.
    page.evaluate(
        "(id) => Array.from(window.jupyterapp.shell.widgets('main'))"
        ".find((w) => w.id === `dagstudio-execution-${id}`).close()",
        source["id"],
    )
    source_tab.wait_for(state="detached", timeout=10_000)
    link.focus()
    page.keyboard.press("Enter")
    source_tab.wait_for(state="visible", timeout=10_000)

    lab_client.delete(source["id"])

    # The link then says the source is gone instead of offering to open it.
    gone = row.locator('.dagstudio-execution-source[data-gone="true"]')
    gone.wait_for(timeout=10_000)
    assert "(deleted)" in gone.inner_text()
    assert row.locator(".dagstudio-execution-source-link").count() == 0


def test_rerun_from_a_node_menu_in_a_tab_opens_the_new_execution_beside_it(
    sidebar_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    lab_client = client(sidebar_lab)
    workflow = flaky_once_workflow("Run one again", "unused")
    workflow["phases"][1]["command"] = "true"
    source = lab_client.submit(workflow)
    assert lab_client.wait(source["id"], timeout=60)["status"] == "completed"
    page.goto(sidebar_lab.page_url("lab") + "&reset")
    show_sidebar(page)
    page.evaluate(
        "(id) => window.jupyterapp.commands.execute("
        "'dagstudio:open-execution', { id })",
        source["id"],
    )
    source_tab = page.locator(f"#dagstudio-execution-{source['id']}")
    node = source_tab.locator('g.dagstudio-node[data-phase-id="first"]')
    node.wait_for(timeout=20_000)

    # The menu's own opening (a right-click, focus and all) is the widget's
    # to test; here it only starts a re-run from inside a tab.
    page.evaluate("() => document.activeElement?.blur()")
    node.dispatch_event("contextmenu")
    page.locator(".dagstudio-menu [data-item='phase']").click()

    # The new execution opens in a tab of its own; the source's tab keeps
    # showing the source.
    tabs = page.locator(".dagstudio-execution-tab")
    tabs.nth(1).wait_for(state="attached", timeout=20_000)
    ids = tabs.evaluate_all("ts => ts.map(t => t.id)")
    new_id = next(i for i in ids if i != f"dagstudio-execution-{source['id']}")
    new_id = new_id.removeprefix("dagstudio-execution-")
    assert lab_client.get(new_id)["derived_from"] == {
        "execution_id": source["id"],
        "mode": "phase",
        "phase_id": "first",
    }
    new_tab = page.locator(f"#dagstudio-execution-{new_id}")
    new_tab.locator(
        ".dagstudio-execution-header .dagstudio-execution-source-link",
        has_text=f"↳ from {source['id'][:8]} · ran 'first'",
    ).wait_for(timeout=10_000)
    assert lab_client.wait(new_id, timeout=60)["status"] == "completed"
    assert source_tab.locator("g.dagstudio-node").count() == 2
    assert "completed" in source_tab.locator(".dagstudio-execution-status").inner_text()
    row_of(page, new_id).locator(
        ".dagstudio-execution-source-link", has_text="ran 'first'"
    ).wait_for(timeout=15_000)
