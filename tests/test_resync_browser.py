"""The widget finds its run again: after a browser refresh, a Jupyter server
restart, a closed and reopened page; and shows a kernel run cut short by a
kernel restart as interrupted. Real JupyterLab, Debian's chromium."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from dagstudio_jupyter.client import Client

from ._lab import (
    CHROMIUM,
    CHROMIUM_ARGS,
    OFFLINE_FLAGS,
    OUTPUT,
    Lab,
    free_port,
    isolated_env,
    only_loopback,
    wait_until_up,
)
from ._server import record_log, record_secret
from .test_server_widget import KERNEL_IDLE, write_notebook

pytestmark = pytest.mark.browser

STORAGE_KEY = "dagstudio.followed/1"
# Every query is scoped to the notebook in front: other panels of a reused
# lab may hold widgets of earlier tests.
PANEL = "window.jupyterapp.shell.currentWidget.node"
WIDGET = f"{PANEL}.querySelector('.dagstudio-widget')"
NODE_STATUS = f"""([phase, status]) => {{
  const node = {PANEL}.querySelector(
    `g.dagstudio-node[data-phase-id="${{phase}}"]`);
  return !!node && node.getAttribute('data-status') === status;
}}"""
NODE_STATUSES = f"""() => Object.fromEntries(Array.from(
  {PANEL}.querySelectorAll('.dagstudio-widget g.dagstudio-node'),
  (node) => [node.getAttribute('data-phase-id'), node.getAttribute('data-status')]))"""
ALL_NODES = f"""(status) => {{
  const nodes = {PANEL}.querySelectorAll('.dagstudio-widget g.dagstudio-node');
  return nodes.length > 0 && Array.from(nodes).every(
    (node) => node.getAttribute('data-status') === status);
}}"""
EXECUTION_STATUS = f"""(status) => {WIDGET}
  ?.getAttribute('data-execution-status') === status"""
CONNECTION_STATE = f"""(state) => {PANEL}.querySelector('.dagstudio-connection')
  ?.getAttribute('data-state') === state"""
# Keeps every state the connection label of the notebook in front shows.
WATCH_CONNECTION = f"""() => {{
  const label = {PANEL}.querySelector('.dagstudio-connection');
  window.__dagstudioStates = [label.getAttribute('data-state')];
  new MutationObserver(() => {{
    window.__dagstudioStates.push(label.getAttribute('data-state'));
  }}).observe(label, {{ attributes: true, attributeFilter: ['data-state'] }});
}}"""
REMEMBERED = f"() => JSON.parse(localStorage.getItem('{STORAGE_KEY}') || '{{}}')"
# The kernel connection's own restart: no confirmation dialog.
RESTART_KERNEL = (
    "() => window.jupyterapp.shell.currentWidget"
    ".sessionContext.session.kernel.restart()"
)
# Drops the page's connection to the kernel and makes a new one; returns the
# connection states seen on the way.
BLIP_KERNEL_LINK = """async () => {
  const kernel = window.jupyterapp.shell.currentWidget.sessionContext.session.kernel;
  const seen = [];
  const record = (_, status) => seen.push(status);
  kernel.connectionStatusChanged.connect(record);
  await kernel.reconnect();
  kernel.connectionStatusChanged.disconnect(record);
  return seen;
}"""
TOAST = ".dagstudio-toasts .dagstudio-toast"
TOAST_TEXT = ".dagstudio-toast-text"


def server_chain(name: str, *, steps: int, seconds: float) -> list[str]:
    """Cells that show a chain of `sleep` phases and submit it to the server."""
    return [
        "from dagstudio_jupyter import Client, Workflow\n"
        f"wf = Workflow({name!r})\n"
        f"for i in range({steps}):\n"
        f"    wf.add(f'step{{i}}', command='sleep {seconds}',"
        " after=[f'step{i - 1}'] if i else [])\n"
        "view = wf.show()\n"
        "view",
        "run = wf.submit(Client.from_environment(), widget=view)\nrun.id",
    ]


@asynccontextmanager
async def browser_context(name: str) -> AsyncIterator[Any]:
    """A context of Debian's chromium that may reach 127.0.0.1 only.

    Unlike `browser_page`, a test can close its page and open another in
    the same context (same `localStorage`). The last state of the pages
    still open is kept in test-output/.
    """
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS
        )
        context = await browser.new_context(viewport={"width": 1400, "height": 1000})
        try:
            await context.route("**/*", only_loopback)
            yield context
        finally:
            OUTPUT.mkdir(exist_ok=True)
            for index, page in enumerate(context.pages):
                await page.screenshot(path=str(OUTPUT / f"{name}-last-{index}.png"))
            await browser.close()


async def open_notebook(page: Any, lab: Lab, name: str, *, reset: bool) -> None:
    """Open a notebook; `reset` drops the saved workspace (other notebooks)."""
    query = f"?reset&token={lab.token}" if reset else f"?token={lab.token}"
    await page.goto(f"{lab.url}lab/tree/{name}{query}")
    await page.wait_for_function(KERNEL_IDLE, timeout=60_000)


async def open_and_run(page: Any, lab: Lab, name: str) -> Any:
    """Open a notebook alone, run all its cells; return its widget's locator."""
    await open_notebook(page, lab, name, reset=True)
    # Not awaited: the command's promise settles when the last cell ends.
    await page.evaluate(
        "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    )
    widget = page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first
    await widget.wait_for(timeout=60_000)
    return widget


async def wait_for_cells(page: Any) -> None:
    """Wait until every cell of the notebook in front has run."""
    await page.wait_for_function(
        f"""() => Array.from({PANEL}.querySelectorAll(
          '.jp-CodeCell .jp-InputArea-prompt'), (p) => p.textContent)
          .every((text) => /\\[\\d+\\]/.test(text))""",
        timeout=60_000,
    )


async def save(page: Any) -> None:
    """Save the notebook in front, so a new page finds the widget's output."""
    await wait_for_cells(page)
    await page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    await page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
        timeout=30_000,
    )


async def remembered_entry(page: Any) -> dict[str, Any]:
    """Wait until the page remembers one run, and return its entry."""
    await page.wait_for_function(
        f"() => Object.keys(({REMEMBERED})()).length === 1", timeout=30_000
    )
    entries = await page.evaluate(REMEMBERED)
    return dict(next(iter(entries.values())))


async def shot(locator: Any, name: str) -> None:
    """Keep a picture of `locator` as test-output/<name>.png."""
    OUTPUT.mkdir(exist_ok=True)
    await locator.screenshot(path=str(OUTPUT / f"{name}.png"))


async def shut_down_kernel(page: Any) -> None:
    """Shut the test notebook's kernel down: the lab is shared."""
    await page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
    )


@pytest.mark.timeout(240)
async def test_refresh_mid_run_restores_every_node_and_reconnects(
    dagstudio_lab: Lab,
) -> None:
    lab = dagstudio_lab
    name = "resync_refresh.ipynb"
    write_notebook(lab.root_dir / name, server_chain("refresh", steps=6, seconds=1.5))
    async with browser_context(Path(name).stem) as context:
        page = await context.new_page()
        await open_and_run(page, lab, name)
        await page.wait_for_function(NODE_STATUS, arg=["step1", "running"])
        await save(page)
        before = await page.evaluate(NODE_STATUSES)
        entry = await remembered_entry(page)
        widget = page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first
        await shot(widget, "resync-refresh-before")

        await page.reload()
        await page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        toast = page.locator(f"{TOAST}[data-level='info']", has_text="Reconnected")
        await toast.first.wait_for(timeout=30_000)

        restored = await page.evaluate(NODE_STATUSES)
        await shot(widget, "resync-refresh-reconnected")
        await page.screenshot(path=str(OUTPUT / "resync-refresh-reconnected-page.png"))
        assert await toast.count() == 1
        assert (
            await toast.first.locator(TOAST_TEXT).inner_text()
            == "Reconnected to a running workflow"
        )
        # The kernel's copy of the widget is as old as the submission; what
        # the page shows now is the server's state, no older than before.
        assert set(restored) == {f"step{i}" for i in range(6)}
        assert restored["step0"] == "completed"
        assert before["step1"] == "running"
        assert restored["step1"] in ("running", "completed")
        assert "running" in restored.values()
        assert await page.evaluate(EXECUTION_STATUS, "running")

        await page.wait_for_function(ALL_NODES, arg="completed", timeout=60_000)

        await shot(widget, "resync-refresh-completed")
        assert await page.evaluate(EXECUTION_STATUS, "completed")
        assert await page.evaluate(CONNECTION_STATE, "live")
        assert await page.evaluate(REMEMBERED) == {}
        assert entry["status"] == "running"
        assert set(entry) == {"execution_id", "base_url", "at", "status"}

        # A run this browser saw finish stays quiet on the next refresh.
        await page.reload()
        await page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        await page.wait_for_function(EXECUTION_STATUS, arg="completed")
        await page.wait_for_function(CONNECTION_STATE, arg="live")
        await page.wait_for_timeout(1000)
        assert await page.locator(TOAST).count() == 0
        assert await page.evaluate(ALL_NODES, "completed")
        await shut_down_kernel(page)


async def leave_mid_run(context: Any, lab: Lab, name: str) -> dict[str, Any]:
    """Run a notebook's server run, save, and close the page while its first
    phase runs; return what the page remembered of the run."""
    page = await context.new_page()
    await open_and_run(page, lab, name)
    await page.wait_for_function(NODE_STATUS, arg=["step0", "running"])
    await save(page)
    entry = await remembered_entry(page)
    await page.close()
    return entry


@pytest.mark.timeout(240)
async def test_completed_run_reopened_in_a_new_page_says_it_completed(
    dagstudio_lab: Lab,
) -> None:
    lab = dagstudio_lab
    name = "resync_reopen.ipynb"
    write_notebook(lab.root_dir / name, server_chain("reopen", steps=3, seconds=1))
    client = Client(lab.url, lab.token)
    async with browser_context(Path(name).stem) as context:
        entry = await leave_mid_run(context, lab, name)

        execution = await finished(client, entry["execution_id"])
        page = await context.new_page()
        await open_notebook(page, lab, name, reset=False)
        toast = page.locator(f"{TOAST}[data-level='success']")
        await toast.first.wait_for(timeout=30_000)
        await page.wait_for_function(ALL_NODES, arg="completed", timeout=30_000)

        widget = page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first
        await shot(widget, "resync-reopened-completed")
        await page.screenshot(path=str(OUTPUT / "resync-reopened-completed-page.png"))
        assert execution["status"] == "completed"
        assert entry["status"] == "running"
        assert await page.evaluate(EXECUTION_STATUS, "completed")
        # One toast: the view's own "Workflow completed" is not raised on top.
        await page.wait_for_timeout(1000)
        assert await toast.count() == 1
        assert (
            await toast.first.locator(TOAST_TEXT).inner_text()
            == "Workflow previously completed"
        )
        assert await page.evaluate(REMEMBERED) == {}
        await shut_down_kernel(page)


@pytest.mark.timeout(240)
async def test_run_deleted_while_the_page_was_closed_is_shown_as_not_found(
    dagstudio_lab: Lab,
) -> None:
    lab = dagstudio_lab
    name = "resync_deleted.ipynb"
    write_notebook(lab.root_dir / name, server_chain("deleted", steps=3, seconds=2))
    client = Client(lab.url, lab.token)
    async with browser_context(Path(name).stem) as context:
        entry = await leave_mid_run(context, lab, name)
        await asyncio.to_thread(client.cancel, entry["execution_id"])
        await finished(client, entry["execution_id"])
        await asyncio.to_thread(client.delete, entry["execution_id"])

        page = await context.new_page()
        await open_notebook(page, lab, name, reset=False)
        toast = page.locator(f"{TOAST}[data-level='warning']")
        await toast.first.wait_for(timeout=30_000)
        await page.wait_for_function(EXECUTION_STATUS, arg="missing", timeout=30_000)

        widget = page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first
        await shot(widget, "resync-deleted")
        assert "no longer on the server" in await toast.first.inner_text()
        statuses = await page.evaluate(NODE_STATUSES)
        assert statuses and "running" not in statuses.values()
        assert await widget.locator(".dagstudio-cancel").is_hidden()
        assert (
            "not found"
            in await widget.locator(".dagstudio-execution-status").inner_text()
        )
        assert await page.evaluate(REMEMBERED) == {}
        await shut_down_kernel(page)


async def finished(client: Client, execution_id: str) -> dict[str, Any]:
    """Poll the server until the execution is over; return it."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        execution = await asyncio.to_thread(client.get, execution_id)
        if execution["status"] in ("completed", "failed", "cancelled"):
            return execution
        await asyncio.sleep(0.3)
    raise AssertionError(f"execution {execution_id} did not finish in 60 s")


@pytest.mark.timeout(240)
async def test_kernel_restart_shows_a_kernel_run_as_interrupted(
    dagstudio_lab: Lab,
) -> None:
    lab = dagstudio_lab
    name = "resync_kernel_restart.ipynb"
    cells = [
        "import time\n"
        "from dagstudio_jupyter import Workflow\n"
        "wf = Workflow('kernel-restart')\n"
        "for i in range(4):\n"
        "    wf.add(f'step{i}', lambda: time.sleep(1.5),"
        " after=[f'step{i - 1}'] if i else [])\n"
        "wf.add('side', lambda: time.sleep(30))\n"
        "view = wf.show()\n"
        "view",
        "run = wf.start(widget=view)",
    ]
    write_notebook(lab.root_dir / name, cells)
    async with browser_context(Path(name).stem) as context:
        page = await context.new_page()
        widget = await open_and_run(page, lab, name)
        await page.wait_for_function(NODE_STATUS, arg=["step0", "running"])

        # A dropped and restored link to a kernel that lives on is no restart.
        links = await page.evaluate(BLIP_KERNEL_LINK)
        await page.wait_for_function(NODE_STATUS, arg=["step1", "running"])
        assert "connecting" in links and links[-1] == "connected"
        assert await page.evaluate(EXECUTION_STATUS, "running")
        await shot(widget, "resync-kernel-after-reconnect")

        await page.evaluate(RESTART_KERNEL)
        await page.wait_for_function(
            EXECUTION_STATUS, arg="interrupted", timeout=30_000
        )

        await shot(widget, "resync-kernel-restarted")
        await page.screenshot(path=str(OUTPUT / "resync-kernel-restarted-page.png"))
        statuses = await page.evaluate(NODE_STATUSES)
        toast = page.locator(f"{TOAST}[data-level='warning']")
        assert "running" not in statuses.values()
        assert statuses["step0"] == "completed"
        assert statuses["step1"] == "interrupted"
        assert statuses["side"] == "interrupted"
        assert statuses["step3"] == "pending"
        assert (
            await toast.first.locator(TOAST_TEXT).inner_text()
            == "The kernel restarted; this run was interrupted"
        )
        await shut_down_kernel(page)


@pytest.mark.timeout(240)
async def test_widget_made_again_after_a_kernel_restart_finds_its_server_run(
    dagstudio_lab: Lab,
) -> None:
    lab = dagstudio_lab
    name = "resync_same_key.ipynb"
    cells = [
        "from dagstudio_jupyter import Client, DagWidget, Workflow\n"
        "wf = Workflow('same-key')\n"
        "for i in range(4):\n"
        "    wf.add(f'step{i}', command='sleep 1.5',"
        " after=[f'step{i - 1}'] if i else [])\n"
        "view = DagWidget(wf, view_key='etl')\n"
        "view",
        "run = wf.submit(Client.from_environment(), widget=view)",
    ]
    write_notebook(lab.root_dir / name, cells)
    async with browser_context(Path(name).stem) as context:
        page = await context.new_page()
        await open_and_run(page, lab, name)
        await page.wait_for_function(NODE_STATUS, arg=["step0", "running"])
        entry = await remembered_entry(page)

        # A server run goes on through a kernel restart, and so does its view.
        await page.evaluate(RESTART_KERNEL)
        await page.wait_for_function(KERNEL_IDLE, timeout=60_000)
        assert await page.evaluate(EXECUTION_STATUS, "running")
        # Only the first cell again: a new widget under the same key, with
        # no server link of its own.
        await page.evaluate(
            """() => {
              const panel = window.jupyterapp.shell.currentWidget;
              panel.content.activeCellIndex = 0;
              window.jupyterapp.commands.execute('notebook:run-cell');
            }"""
        )
        toast = page.locator(f"{TOAST}[data-level='info']", has_text="Reconnected")
        await toast.first.wait_for(timeout=30_000)
        await page.wait_for_function(ALL_NODES, arg="completed", timeout=60_000)

        widget = page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first
        await shot(widget, "resync-same-key-completed")
        assert (
            await page.locator(".jp-NotebookPanel:visible .dagstudio-widget").count()
            == 1
        )
        assert await page.evaluate(EXECUTION_STATUS, "completed")
        assert await page.evaluate(REMEMBERED) == {}
        assert entry["status"] == "running"
        await shut_down_kernel(page)


# -- a Jupyter server that crashes and comes back ------------------------------


class RestartableLab:
    """A lab that can crash (SIGKILL) and start again as the same server:
    port, root, runtime and data dirs, store, token and JWT secret, so the
    page's login cookie and the stored executions outlive the crash."""

    def __init__(self, home: Path) -> None:
        self.root = home / "root"
        self.root.mkdir(parents=True)
        self.token = secrets.token_hex(16)
        jwt_secret = secrets.token_urlsafe(48)
        record_secret(self.token, "Jupyter token")
        record_secret(jwt_secret, "JWT secret")
        self.port = free_port()
        self.log_path = home / "jupyter.log"
        record_log(self.log_path)
        self.env = isolated_env(home, self.token)
        self.env["JWT_SECRET_KEY"] = jwt_secret
        self.command = [
            sys.executable,
            "-m",
            "jupyter",
            "lab",
            "--no-browser",
            "--ip=127.0.0.1",
            f"--port={self.port}",
            "--ServerApp.port_retries=0",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.expose_app_in_browser=True",
            f"--DagStudioApp.store_path={home / 'store' / 'executions.duckdb'}",
            *OFFLINE_FLAGS,
        ]
        if os.geteuid() == 0:
            self.command.append("--allow-root")
        self.lab: Lab | None = None

    def start(self) -> Lab:
        with open(self.log_path, "ab") as log:
            process = subprocess.Popen(
                self.command, env=self.env, stdout=log, stderr=subprocess.STDOUT
            )
        url = f"http://127.0.0.1:{self.port}/"
        self.lab = Lab(url, self.token, self.root, self.log_path, process)
        wait_until_up(self.lab)
        return self.lab

    def crash(self) -> None:
        """SIGKILL the server, as a crash would, and reap it."""
        assert self.lab is not None
        os.kill(self.lab.process.pid, signal.SIGKILL)
        self.lab.process.wait()

    def stop(self) -> None:
        process = self.lab.process if self.lab is not None else None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextmanager
def restartable_lab(home: Path) -> Iterator[RestartableLab]:
    """A started `RestartableLab`, stopped when the block ends."""
    server = RestartableLab(home)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@pytest.mark.timeout(300)
async def test_server_restart_mid_run_reconnects_and_the_run_finishes_in_view(
    tmp_path: Path,
) -> None:
    name = "resync_server_restart.ipynb"
    with restartable_lab(tmp_path) as server:
        assert server.lab is not None
        lab = server.lab
        write_notebook(
            lab.root_dir / name, server_chain("restart", steps=4, seconds=1.5)
        )
        async with browser_context(Path(name).stem) as context:
            page = await context.new_page()
            widget = await open_and_run(page, lab, name)
            await page.wait_for_function(CONNECTION_STATE, arg="live", timeout=30_000)
            await page.wait_for_function(NODE_STATUS, arg=["step1", "running"])
            await page.evaluate(WATCH_CONNECTION)

            server.crash()
            await page.wait_for_function(
                "(states) => !states.includes("
                f"{PANEL}.querySelector('.dagstudio-connection')"
                ".getAttribute('data-state'))",
                arg=["live", "connecting"],
                timeout=30_000,
            )
            await shot(widget, "resync-server-down")
            server.start()
            await page.wait_for_function(ALL_NODES, arg="completed", timeout=90_000)

            await shot(widget, "resync-server-restarted-completed")
            states = await page.evaluate("() => window.__dagstudioStates")
            assert states[0] == "live"
            assert "reconnecting" in states
            assert states[-1] == "live"
            assert await page.evaluate(EXECUTION_STATUS, "completed")
            client = Client(lab.url, lab.token)
            listed = await asyncio.to_thread(client.list, limit=10)
            assert [e["status"] for e in listed] == ["completed"]
            execution = await asyncio.to_thread(client.get, listed[0]["id"])
            # The phase the crash cut short ran again on the restarted server.
            attempts = sorted(p["attempt"] for p in execution["phases"])
            assert attempts == [1, 1, 1, 2]
