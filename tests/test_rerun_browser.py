"""Run control from the graph in real JupyterLab and Debian's chromium: a node's
menu starts "run this and downstream", and only those nodes change."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from dagstudio_jupyter.client import Client

from . import _sync_browser
from ._lab import OUTPUT, Lab, running_lab
from .test_server_widget import KERNEL_IDLE, write_notebook

# Playwright sync API fixtures for this module (see tests/_sync_browser.py).
dagstudio_browser = _sync_browser.dagstudio_browser
jp_asyncio_loop = _sync_browser.jp_asyncio_loop
jp_server_cleanup = _sync_browser.jp_server_cleanup

pytestmark = pytest.mark.browser

# Every query is scoped to the notebook in front.
PANEL = "window.jupyterapp.shell.currentWidget.node"
WIDGET = f"{PANEL}.querySelector('.dagstudio-widget')"
ALL_NODES = f"""(status) => {{
  const nodes = {PANEL}.querySelectorAll('.dagstudio-widget g.dagstudio-node');
  return nodes.length > 0 && Array.from(nodes).every(
    (node) => node.getAttribute('data-status') === status);
}}"""
NODE_STATUS = f"""([phase, status]) => {{
  const node = {PANEL}.querySelector(
    `g.dagstudio-node[data-phase-id="${{phase}}"]`);
  return !!node && node.getAttribute('data-status') === status;
}}"""
EXECUTION_STATUS = f"""(status) => {WIDGET}
  ?.getAttribute('data-execution-status') === status"""
# Records every change of a node's status in the notebook in front, as
# (phase, status) pairs in order: each mutation is compared with the last
# snapshot of every node, so a node drawn again from scratch counts too.
WATCH_NODES = f"""() => {{
  const panel = {PANEL};
  const snapshot = () => Object.fromEntries(Array.from(
    panel.querySelectorAll('.dagstudio-widget g.dagstudio-node'),
    (node) => [node.getAttribute('data-phase-id'), node.getAttribute('data-status')]));
  let last = snapshot();
  window.__dagstudioChanges = [];
  window.__dagstudioWatch = new MutationObserver(() => {{
    const now = snapshot();
    for (const id of new Set([...Object.keys(last), ...Object.keys(now)])) {{
      if (last[id] !== now[id]) window.__dagstudioChanges.push([id, now[id] ?? null]);
    }}
    last = now;
  }});
  window.__dagstudioWatch.observe(panel, {{
    subtree: true, childList: true, attributes: true,
    attributeFilter: ['data-status'],
  }});
  return last;
}}"""
MENU = ".dagstudio-menu[role='menu']"
FOCUSED_ITEM = "() => document.activeElement?.textContent"
FOCUSED_PHASE = "() => document.activeElement?.getAttribute('data-phase-id')"
PHASES = {"a": [], "b": ["a"], "c": ["b"], "x": [], "y": ["x"]}
# b and c take long enough to see them running, and to find the menu
# disabled meanwhile.
SECONDS = {"a": 0.2, "b": 2, "c": 2, "x": 0.2, "y": 0.2}


@pytest.fixture(scope="module")
def dagstudio_rerun_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    """JupyterLab of this module alone: its kernels and workspace stay here."""
    with running_lab(tmp_path_factory.mktemp("rerun-lab"), []) as lab:
        yield lab


def workflow_cell(name: str) -> str:
    """A cell that shows the workflow a → b → c, x → y of `sleep` phases."""
    lines = [
        "from dagstudio_jupyter import Client, Workflow",
        f"wf = Workflow({name!r})",
    ]
    for phase, after in PHASES.items():
        lines.append(
            f"wf.add({phase!r}, command='sleep {SECONDS[phase]}', after={after!r})"
        )
    lines += ["view = wf.show()", "view"]
    return "\n".join(lines)


def open_and_run(page: Any, lab: Lab, name: str) -> Any:
    """Open a notebook alone, run all its cells; return its widget's locator."""
    page.goto(f"{lab.url}lab/tree/{name}?reset&token={lab.token}")
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    # Not awaited: the command's promise settles when the last cell ends.
    page.evaluate(
        "() => { window.jupyterapp.commands.execute('notebook:run-all-cells'); }"
    )
    widget = page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first
    widget.wait_for(timeout=60_000)
    return widget


def save(page: Any) -> None:
    """Save the notebook in front, so that a reload finds the widget's output."""
    page.evaluate("() => window.jupyterapp.commands.execute('docmanager:save')")
    page.wait_for_function(
        "() => !window.jupyterapp.shell.currentWidget.context.model.dirty",
        timeout=30_000,
    )


def shot(locator: Any, name: str) -> None:
    OUTPUT.mkdir(exist_ok=True)
    locator.screenshot(path=str(OUTPUT / f"{name}.png"))


def node(widget: Any, phase: str) -> Any:
    return widget.locator(f"g.dagstudio-node[data-phase-id='{phase}']")


def changes_by_phase(page: Any) -> dict[str, list[str | None]]:
    """The status changes recorded by WATCH_NODES, per phase, in order."""
    changes: dict[str, list[str | None]] = {}
    for phase, status in page.evaluate("() => window.__dagstudioChanges"):
        changes.setdefault(phase, []).append(status)
    return changes


def run_downstream_of_b(page: Any, widget: Any, picture: str) -> dict[str, Any]:
    """Open b's menu with a right-click, choose "Run this and downstream",
    wait for the derived run to end; return the changes seen per phase."""
    node(widget, "b").click(button="right")
    menu = page.locator(MENU)
    menu.wait_for(timeout=10_000)
    items = menu.get_by_role("menuitem")
    assert items.all_inner_texts() == ["Run this phase", "Run this and downstream"]
    assert page.evaluate(FOCUSED_ITEM) == "Run this phase"
    page.screenshot(path=str(OUTPUT / f"{picture}-menu.png"))

    menu.get_by_role("menuitem", name="Run this and downstream").click()
    page.wait_for_function(NODE_STATUS, arg=["b", "running"], timeout=30_000)
    # While the new run goes on, its nodes' menus offer nothing.
    node(widget, "x").click(button="right")
    menu.wait_for(timeout=10_000)
    disabled = [
        (item.get_attribute("aria-disabled"), item.get_attribute("title") or "")
        for item in menu.get_by_role("menuitem").all()
    ]
    page.keyboard.press("Escape")
    menu.wait_for(state="detached", timeout=10_000)
    page.wait_for_function(EXECUTION_STATUS, arg="completed", timeout=60_000)
    page.wait_for_function(ALL_NODES, arg="completed", timeout=30_000)
    shot(widget, f"{picture}-done")
    assert disabled and all(
        flag == "true" and "still going" in title for flag, title in disabled
    )
    return changes_by_phase(page)


def assert_only_b_and_c_ran(changes: dict[str, list[str | None]]) -> None:
    assert set(changes) == {"b", "c"}, changes
    for phase in ("b", "c"):
        seen = changes[phase]
        assert seen[-1] == "completed", seen
        assert "running" in seen, seen
        assert set(seen) <= {"pending", "queued", "running", "completed"}, seen


@pytest.mark.timeout(300)
def test_run_this_and_downstream_from_a_server_runs_only_those_nodes(
    dagstudio_rerun_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_rerun_lab, dagstudio_page
    write_notebook(
        lab.root_dir / "rerun_server.ipynb",
        [
            workflow_cell("rerun-server"),
            "run = wf.submit(Client.from_environment(), widget=view)\nrun.id",
        ],
    )
    widget = open_and_run(page, lab, "rerun_server.ipynb")
    page.wait_for_function(EXECUTION_STATUS, arg="completed", timeout=60_000)
    page.wait_for_function(ALL_NODES, arg="completed", timeout=30_000)
    [source] = [
        e
        for e in Client(lab.url, lab.token).list(limit=50)
        if e.get("name") == "rerun-server"
    ]
    before = page.evaluate(WATCH_NODES)

    # The keyboard way in: Shift+F10 on a focused node, Escape gives focus back.
    node(widget, "b").focus()
    page.keyboard.press("Shift+F10")
    page.locator(MENU).wait_for(timeout=10_000)
    focused_first = page.evaluate(FOCUSED_ITEM)
    page.keyboard.press("ArrowDown")
    focused_next = page.evaluate(FOCUSED_ITEM)
    page.keyboard.press("Escape")
    page.locator(MENU).wait_for(state="detached", timeout=10_000)
    assert (focused_first, focused_next) == (
        "Run this phase",
        "Run this and downstream",
    )
    assert page.evaluate(FOCUSED_PHASE) == "b"

    changes = run_downstream_of_b(page, widget, "rerun-server")

    assert before == dict.fromkeys(PHASES, "completed")
    assert_only_b_and_c_ran(changes)
    link = widget.locator(".dagstudio-derived")
    assert link.is_visible()
    assert (
        link.inner_text() == f"Derived from {source['id'][:8]} · ran 'b' and downstream"
    )
    derived = [
        e
        for e in Client(lab.url, lab.token).list(limit=50)
        if e.get("name") == "rerun-server" and e["id"] != source["id"]
    ]
    assert len(derived) == 1
    assert derived[0]["derived_from"] == {
        "execution_id": source["id"],
        "mode": "downstream",
        "phase_id": "b",
    }
    title = node(widget, "a").locator("title").text_content() or ""
    assert f"result from execution {source['id'][:8]}" in title

    # The details panel says so too, and its Run button opens the same menu.
    node(widget, "a").click()
    details = widget.locator(".dagstudio-details")
    details.wait_for(timeout=10_000)
    assert f"Result\nfrom execution {source['id'][:8]}" in details.inner_text()
    run_button = details.locator(".dagstudio-details-run")
    run_button.click()
    page.locator(MENU).wait_for(timeout=10_000)
    assert run_button.get_attribute("aria-expanded") == "true"
    assert page.evaluate(FOCUSED_ITEM) == "Run this phase"
    page.keyboard.press("Escape")
    page.locator(MENU).wait_for(state="detached", timeout=10_000)
    assert page.evaluate(
        "() => document.activeElement?.classList.contains('dagstudio-details-run')"
    )
    assert run_button.get_attribute("aria-expanded") == "false"

    # A refresh finds the derived run again (the kernel's copy of `server`).
    save(page)
    page.reload()
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    link = page.locator(".jp-NotebookPanel:visible .dagstudio-derived")
    link.wait_for(timeout=30_000)
    page.wait_for_function(ALL_NODES, arg="completed", timeout=30_000)
    assert link.inner_text().startswith(f"Derived from {source['id'][:8]}")

    # The link follows the source run again.
    link.click()
    link.wait_for(state="hidden", timeout=30_000)
    page.wait_for_function(ALL_NODES, arg="completed", timeout=30_000)
    title = node(widget, "a").locator("title").text_content() or ""
    assert "result from execution" not in title

    # A refusal of the server is said in an error toast, in its own words.
    refusal = {"error": "conflict", "message": "the source is busy (test refusal)"}
    page.route(
        "**/dagstudio/api/executions/*/rerun",
        lambda route: route.fulfill(status=409, json=refusal),
    )
    node(widget, "c").click(button="right")
    page.locator(MENU).get_by_role("menuitem", name="Run this phase").click()
    toast = page.locator(".dagstudio-toasts .dagstudio-toast[data-level='error']")
    toast.first.wait_for(timeout=10_000)
    assert (
        toast.first.locator(".dagstudio-toast-text").inner_text()
        == "Could not start the run: the source is busy (test refusal)"
    )
    assert not widget.locator(".dagstudio-derived").is_visible()
    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
    )


@pytest.mark.timeout(300)
def test_run_this_and_downstream_from_a_kernel_run_runs_only_those_nodes(
    dagstudio_rerun_lab: Lab, dagstudio_page: Any
) -> None:
    lab, page = dagstudio_rerun_lab, dagstudio_page
    write_notebook(
        lab.root_dir / "rerun_kernel.ipynb",
        [workflow_cell("rerun-kernel"), "run = wf.start(widget=view)"],
    )
    widget = open_and_run(page, lab, "rerun_kernel.ipynb")
    page.wait_for_function(EXECUTION_STATUS, arg="completed", timeout=60_000)
    page.wait_for_function(ALL_NODES, arg="completed", timeout=30_000)
    before = page.evaluate(WATCH_NODES)

    changes = run_downstream_of_b(page, widget, "rerun-kernel")

    assert before == dict.fromkeys(PHASES, "completed")
    assert_only_b_and_c_ran(changes)
    link = widget.locator(".dagstudio-derived")
    assert link.inner_text().startswith("Derived from ")
    assert link.inner_text().endswith(" · ran 'b' and downstream")

    link.click()
    link.wait_for(state="hidden", timeout=30_000)
    page.wait_for_function(ALL_NODES, arg="completed", timeout=30_000)
    page.evaluate(
        "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
    )
