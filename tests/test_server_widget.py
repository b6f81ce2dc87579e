"""The widget on server runs: `attach`, the example notebook, and the page
following the server on its own while the kernel is busy or gone."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from dagstudio_jupyter import DagWidget, Workflow
from dagstudio_jupyter.client import Client

from . import _sync_browser
from ._lab import Lab, running_lab
from .conftest import OUTPUT

# Playwright sync API fixtures for this module (see tests/_sync_browser.py).
dagstudio_browser = _sync_browser.dagstudio_browser
jp_asyncio_loop = _sync_browser.jp_asyncio_loop
jp_server_cleanup = _sync_browser.jp_server_cleanup

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
PROBE = """
import json as _json
print(_json.dumps({"id": run.id, "server": view.server, "execution": view.execution}))
"""
# The notebook panel in front; other panels may hold widgets of earlier tests.
CURRENT = "window.jupyterapp.shell.currentWidget.node"
KERNEL_IDLE = """() => {
  const panel = window.jupyterapp && window.jupyterapp.shell.currentWidget;
  const kernel = panel && panel.sessionContext && panel.sessionContext.session
    && panel.sessionContext.session.kernel;
  return !!kernel && kernel.status === 'idle';
}"""
# Whether the kernel is in the notebook's last cell: the one before it has
# finished ("[2]:") and the last one has not ("[*]:"). JupyterLab's kernel
# status is no proof: here it was seen to read "idle" while a cell still ran.
IN_LAST_CELL = """() => {
  const panel = window.jupyterapp.shell.currentWidget.node;
  const prompts = Array.from(
    panel.querySelectorAll('.jp-CodeCell .jp-InputArea-prompt'),
    (prompt) => prompt.textContent);
  const [before, last] = prompts.slice(-2);
  return /\\[\\d+\\]/.test(before || '') && (last || '').includes('*');
}"""
# Records every node status change, and whether the kernel was in the last cell.
WATCH_NODES = """() => {
  window.__dagstudioSeen = [];
  const inLastCell = (IN_LAST_CELL);
  const panel = window.jupyterapp.shell.currentWidget.node;
  const observer = new MutationObserver((records) => {
    for (const record of records) {
      const node = record.target;
      if (!node.matches || !node.matches('g.dagstudio-node')) continue;
      if (!panel.contains(node)) continue;
      window.__dagstudioSeen.push({
        id: node.getAttribute('data-phase-id'),
        status: node.getAttribute('data-status'),
        inLastCell: inLastCell(),
      });
    }
  });
  observer.observe(document.body, {
    subtree: true, attributes: true, attributeFilter: ['data-status'],
  });
}""".replace("(IN_LAST_CELL)", IN_LAST_CELL)
NODE_STATUS = """([phase, status]) => {
  const panel = window.jupyterapp.shell.currentWidget.node;
  const node = panel.querySelector(`g.dagstudio-node[data-phase-id="${phase}"]`);
  return !!node && node.getAttribute('data-status') === status;
}"""
ALL_NODES = """(status) => {
  const panel = window.jupyterapp.shell.currentWidget.node;
  const nodes = panel.querySelectorAll('.dagstudio-widget g.dagstudio-node');
  return nodes.length > 0 && Array.from(nodes).every(
    (node) => node.getAttribute('data-status') === status);
}"""


class FakeClient:
    """Answers `get` with a stored execution document, like `Client.get`."""

    def __init__(self, execution: dict[str, Any], url: str) -> None:
        self.execution = execution
        self.url = url
        self.asked: list[str] = []

    def get(self, execution_id: str) -> dict[str, Any]:
        self.asked.append(execution_id)
        return json.loads(json.dumps(self.execution))


def server_execution() -> dict[str, Any]:
    wf = Workflow("w", name="Server flow")
    wf.add("a", command="true")
    wf.add("b", command="true", after="a")
    return {
        "id": "ex-1",
        "workflow": wf.to_dict(),
        "owner": "ada",
        "status": "running",
        "created_at": "2026-01-01T00:00:00Z",
        "started_at": "2026-01-01T00:00:01Z",
        "finished_at": None,
        "error": None,
        "last_seq": 4,
        "phases": [
            {"id": "a", "status": "completed", "attempt": 1, "error": None},
            {"id": "b", "status": "running", "attempt": 1, "error": None},
        ],
    }


def test_attach_shows_the_server_state_and_hands_over_to_the_browser() -> None:
    client = FakeClient(server_execution(), "http://127.0.0.1:8888/user/ada/")
    widget = DagWidget()

    widget.attach("ex-1", client=client)  # type: ignore[arg-type]

    assert client.asked == ["ex-1"]
    assert widget.workflow["name"] == "Server flow"
    assert widget.phases["a"]["status"] == "completed"
    assert widget.phases["b"] == {
        "status": "running",
        "attempt": 1,
        "started_at": None,
        "finished_at": None,
        "error": None,
        "from_execution": None,
    }
    assert widget.execution["id"] == "ex-1"
    assert widget.execution["last_seq"] == 4
    assert widget.execution["status"] == "running"
    assert widget.server == {"execution_id": "ex-1", "base_url": "/user/ada/"}


def test_attach_stops_following_a_kernel_run() -> None:
    wf = Workflow("w")
    wf.add("slow", lambda: time.sleep(0.3))
    widget = DagWidget(wf, flush_interval_s=0.01)
    run = wf.start(widget=widget)

    widget.attach("ex-1", client=FakeClient(server_execution(), "http://h/"))  # type: ignore[arg-type]
    run.wait()
    widget.flush()

    assert widget.execution["id"] == "ex-1"
    assert widget.execution["status"] == "running"
    assert widget.server["execution_id"] == "ex-1"


def test_follow_after_attach_clears_the_server_link() -> None:
    wf = Workflow("w")
    wf.add("a", lambda: 1)
    widget = DagWidget(wf)
    widget.attach("ex-1", client=FakeClient(server_execution(), "http://h/"))  # type: ignore[arg-type]

    run = wf.run(widget=widget)
    widget.flush()

    assert widget.server == {}
    assert widget.execution["id"] == run.id
    assert widget.execution["status"] == "completed"


def test_attach_keeps_no_credential_in_the_widget_state() -> None:
    client = FakeClient(server_execution(), "http://127.0.0.1:8888/?token=s3cret")
    widget = DagWidget()

    widget.attach("ex-1", client=client)  # type: ignore[arg-type]

    assert "s3cret" not in json.dumps(widget.get_state())
    assert widget.server["base_url"] == "/"


def test_attach_refuses_an_answer_without_a_workflow() -> None:
    execution = server_execution()
    del execution["workflow"]

    with pytest.raises(TypeError, match="without its workflow"):
        DagWidget().attach("ex-1", client=FakeClient(execution, "http://h/"))  # type: ignore[arg-type]


# -- a real JupyterLab ------------------------------------------------------


@pytest.fixture(scope="module")
def dagstudio_server_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab with the server-run example and its phases module.

    Its own, not the session's: the notebooks opened here stay in the saved
    workspace and their kernels keep running, which other tests would see.
    """
    home = tmp_path_factory.mktemp("server-lab")
    with running_lab(home, [NOTEBOOKS / "server_run.ipynb"]) as lab:
        shutil.copy(NOTEBOOKS / "quickstart_phases.py", lab.root_dir)
        yield lab


def lab_client(lab: Lab) -> Client:
    return Client(lab.url, lab.token)


@pytest.mark.timeout(600)
def test_server_run_notebook_completes_every_phase_on_the_server(
    dagstudio_server_lab: Lab,
) -> None:
    lab = dagstudio_server_lab
    notebook = nbformat.read(NOTEBOOKS / "server_run.ipynb", as_version=4)
    notebook.cells.append(nbformat.v4.new_code_cell(PROBE))
    env = dict(os.environ, DAGSTUDIO_SERVER_URL=lab.url, DAGSTUDIO_TOKEN=lab.token)
    # As in JupyterLab, the kernel starts in the notebook's folder on the server.
    runner = NotebookClient(
        notebook,
        timeout=300,
        kernel_name="python3",
        resources={"metadata": {"path": str(lab.root_dir)}},
    )

    runner.execute(env=env)

    probe = json.loads(notebook.cells[-1].outputs[0]["text"])
    report = notebook.cells[-2].outputs[0]["text"]
    assert "<- best" in report
    execution = lab_client(lab).get(probe["id"])
    assert probe["server"] == {"execution_id": probe["id"], "base_url": "/"}
    assert probe["execution"]["id"] == probe["id"]
    assert len(execution["phases"]) == 11
    assert {p["id"]: p["status"] for p in execution["phases"]} == {
        p["id"]: "completed" for p in execution["phases"]
    }
    assert execution["status"] == "completed"


# -- the page follows the server itself ---------------------------------------


def write_notebook(path: Path, cells: list[str]) -> None:
    notebook = nbformat.v4.new_notebook(
        cells=[nbformat.v4.new_code_cell(source) for source in cells],
        metadata={
            "kernelspec": {
                "display_name": "Python 3",
                "language": "python",
                "name": "python3",
            }
        },
    )
    nbformat.write(notebook, path)


def open_and_run(page: Any, lab: Lab, name: str) -> Any:
    """Open a notebook alone (`reset` drops the saved workspace), run all its
    cells, and return the locator of its first widget."""
    page.goto(f"{lab.url}lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    page.evaluate(WATCH_NODES)
    # Not awaited: the command's promise settles when the last cell ends.
    page.evaluate(
        "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    )
    widget = page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first
    widget.wait_for(timeout=60_000)
    return widget


def current(page: Any, script: str) -> Any:
    """Evaluate `script`, an expression over `panel`, in the notebook in front."""
    return page.evaluate(f"() => {{ const panel = {CURRENT}; return {script}; }}")


def chain_cells(name: str, *, steps: int, seconds: float, busy_s: float) -> list[str]:
    """Cells that attach a widget to a chain of `sleep` phases, then keep busy."""
    return [
        "from dagstudio_jupyter import Workflow\n"
        "from dagstudio_jupyter.client import Client\n"
        f"wf = Workflow({name!r})\n"
        f"for i in range({steps}):\n"
        f"    wf.add(f'step{{i}}', command='sleep {seconds}',"
        " after=[f'step{i - 1}'] if i else [])\n"
        "view = wf.show()\n"
        "view",
        "run = wf.submit(Client.from_environment(), widget=view)\nrun",
        f"import time\ntime.sleep({busy_s})",
    ]


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_server_run_notebook_in_the_page_turns_every_node_completed(
    dagstudio_server_lab: Lab, dagstudio_page: Any
) -> None:
    page = dagstudio_page
    widget = open_and_run(page, dagstudio_server_lab, "server_run.ipynb")

    page.wait_for_function(ALL_NODES, arg="completed", timeout=180_000)

    widget.scroll_into_view_if_needed()
    OUTPUT.mkdir(exist_ok=True)
    widget.screenshot(path=str(OUTPUT / "server-run-completed.png"))
    assert widget.locator("g.dagstudio-node").count() == 11
    assert widget.get_attribute("data-execution-status") == "completed"
    assert widget.locator(".dagstudio-connection").get_attribute("data-state") == "live"


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_page_follows_a_server_run_while_the_kernel_is_busy(
    dagstudio_server_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_server_lab, dagstudio_page
    cells = chain_cells("busy-kernel", steps=4, seconds=1, busy_s=40)
    write_notebook(lab.root_dir / "busy_kernel.ipynb", cells)
    widget = open_and_run(page, lab, "busy_kernel.ipynb")
    label = widget.locator(".dagstudio-connection")
    page.wait_for_function(
        f"() => {CURRENT}.querySelector('.dagstudio-connection')"
        "?.getAttribute('data-state') === 'live'",
        timeout=60_000,
    )
    widget.scroll_into_view_if_needed()
    OUTPUT.mkdir(exist_ok=True)
    widget.screenshot(path=str(OUTPUT / "server-follow-busy-kernel-live.png"))

    page.wait_for_function(ALL_NODES, arg="completed", timeout=60_000)

    widget.screenshot(path=str(OUTPUT / "server-follow-busy-kernel-completed.png"))
    sleeping = page.evaluate(IN_LAST_CELL)
    seen = page.evaluate("() => window.__dagstudioSeen")
    completed = {s["id"]: s["inLastCell"] for s in seen if s["status"] == "completed"}
    assert sleeping, "the kernel finished its sleep before the run did"
    assert completed == {f"step{i}": True for i in range(4)}
    assert any(s["status"] == "running" for s in seen)
    assert widget.get_attribute("data-execution-status") == "completed"
    assert label.get_attribute("data-state") == "live"
    toast = page.locator(".dagstudio-toasts .dagstudio-toast[data-level='success']")
    toast.first.wait_for(timeout=10_000)
    assert "completed" in toast.first.inner_text().lower()


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_cancel_button_cancels_a_server_run_while_the_kernel_is_busy(
    dagstudio_server_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_server_lab, dagstudio_page
    cells = chain_cells("cancel-busy", steps=5, seconds=3, busy_s=60)
    write_notebook(lab.root_dir / "cancel_busy.ipynb", cells)
    widget = open_and_run(page, lab, "cancel_busy.ipynb")
    page.wait_for_function(NODE_STATUS, arg=["step0", "running"], timeout=60_000)

    widget.locator(".dagstudio-cancel").click()
    page.wait_for_function(
        f"() => {CURRENT}.querySelector('.dagstudio-widget')"
        "?.getAttribute('data-execution-status') === 'cancelled'",
        timeout=30_000,
    )

    widget.scroll_into_view_if_needed()
    OUTPUT.mkdir(exist_ok=True)
    widget.screenshot(path=str(OUTPUT / "server-cancel-busy-kernel.png"))
    sleeping = page.evaluate(IN_LAST_CELL)
    statuses = current(
        page,
        "Array.from(panel.querySelectorAll('g.dagstudio-node'))"
        ".map((n) => n.getAttribute('data-status'))",
    )
    on_server = [
        e for e in lab_client(lab).list(limit=50) if e.get("name") == "cancel-busy"
    ]
    assert sleeping, "the kernel was not busy, so it might have relayed the cancel"
    assert set(statuses) == {"cancelled"}
    assert [e["status"] for e in on_server] == ["cancelled"]


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_page_keeps_following_a_server_run_after_the_kernel_shuts_down(
    dagstudio_server_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_server_lab, dagstudio_page
    cells = chain_cells("kernel-gone", steps=3, seconds=1.5, busy_s=0)[:2]
    write_notebook(lab.root_dir / "kernel_gone.ipynb", cells)
    widget = open_and_run(page, lab, "kernel_gone.ipynb")
    page.wait_for_function(NODE_STATUS, arg=["step0", "running"], timeout=60_000)

    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.session.shutdown()"
    )
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.sessionContext.session",
        timeout=30_000,
    )
    page.wait_for_function(ALL_NODES, arg="completed", timeout=60_000)

    widget.scroll_into_view_if_needed()
    OUTPUT.mkdir(exist_ok=True)
    widget.screenshot(path=str(OUTPUT / "server-follow-kernel-gone.png"))
    assert widget.get_attribute("data-execution-status") == "completed"


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_widgets_share_one_live_socket_that_comes_back_after_a_drop(
    dagstudio_server_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_server_lab, dagstudio_page
    cells = [
        "from dagstudio_jupyter import Client, Workflow\n"
        "flows = []\n"
        "for name in ('left', 'right'):\n"
        "    wf = Workflow(name)\n"
        "    for i in range(4):\n"
        "        wf.add(f'step{i}', command='sleep 1',"
        " after=[f'step{i - 1}'] if i else [])\n"
        "    flows.append(wf)\n"
        "views = [wf.show() for wf in flows]\n"
        "views[0]",
        "views[1]",
        "client = Client.from_environment()\n"
        "runs = [wf.submit(client, widget=view) for wf, view in zip(flows, views)]",
    ]
    write_notebook(lab.root_dir / "two_widgets.ipynb", cells)
    live_sockets: list[str] = []
    page.on(
        "websocket",
        lambda socket: (
            "dagstudio/api/live" in socket.url and live_sockets.append(socket.url)
        ),
    )
    open_and_run(page, lab, "two_widgets.ipynb")
    page.wait_for_function(
        f"() => {CURRENT}.querySelectorAll("
        "'.dagstudio-connection[data-state=\"live\"]').length === 2",
        timeout=60_000,
    )
    assert len(live_sockets) == 1

    page.evaluate(
        """() => {
          const connections = globalThis[Symbol.for('dagstudio.live-connections/1')];
          for (const connection of connections.values()) {
            connection._socket.close(4000, 'dropped by the test');
          }
        }"""
    )
    page.wait_for_function(ALL_NODES, arg="completed", timeout=60_000)

    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / "server-two-widgets-after-drop.png"))
    states = current(
        page,
        "Array.from(panel.querySelectorAll('.dagstudio-connection'))"
        ".map((label) => label.getAttribute('data-state'))",
    )
    assert len(live_sockets) == 2
    assert states == ["live", "live"]
    assert page.locator(".jp-NotebookPanel:visible g.dagstudio-node").count() == 8


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_widget_shows_the_error_state_for_an_execution_it_cannot_see(
    dagstudio_server_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_server_lab, dagstudio_page
    cells = [
        "from dagstudio_jupyter import Workflow\n"
        "wf = Workflow('unknown')\n"
        "wf.add('a')\n"
        "view = wf.show()\n"
        "view.server = {'execution_id': 'no-such-execution', 'base_url': '/'}\n"
        "view"
    ]
    write_notebook(lab.root_dir / "unknown_execution.ipynb", cells)

    widget = open_and_run(page, lab, "unknown_execution.ipynb")

    label = widget.locator(".dagstudio-connection")
    page.wait_for_function(
        f"() => {CURRENT}.querySelector('.dagstudio-connection')"
        "?.getAttribute('data-state') === 'error'",
        timeout=30_000,
    )
    assert label.is_visible()
    assert "no-such-execution" in (label.get_attribute("title") or "")


@pytest.mark.browser
@pytest.mark.timeout(300)
def test_failed_server_run_raises_a_toast_naming_the_phase(
    dagstudio_server_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_server_lab, dagstudio_page
    cells = [
        "from dagstudio_jupyter import Client, Workflow\n"
        "wf = Workflow('fails')\n"
        "wf.add('prepare', command='sleep 1')\n"
        "wf.add('check', command='echo broken input; exit 3', after=['prepare'],"
        " label='Check the input', retries=1)\n"
        "wf.add('publish', command='true', after=['check'])\n"
        "view = wf.show()\n"
        "view",
        "run = wf.submit(Client.from_environment(), widget=view, retry_backoff_s=0.2)",
    ]
    write_notebook(lab.root_dir / "fails.ipynb", cells)

    widget = open_and_run(page, lab, "fails.ipynb")

    toast = page.locator(".dagstudio-toasts .dagstudio-toast[data-level='error']")
    toast.first.wait_for(timeout=60_000)
    text = toast.first.inner_text()
    assert "Check the input" in text
    assert "status 3" in text
    warning = page.locator(".dagstudio-toasts .dagstudio-toast[data-level='warning']")
    assert "'check' failed on attempt 1" in warning.first.inner_text()
    assert widget.get_attribute("data-execution-status") == "failed"
    assert current(
        page,
        "Array.from(panel.querySelectorAll('g.dagstudio-node'),"
        " (n) => n.getAttribute('data-status'))",
    ) == ["completed", "failed", "skipped"]
