"""Large workflows in real JupyterLab and Debian's chromium.

Two notebooks, each opened once for the module in a page of its own: the
2,055-phase kedro-viz graph from shared/data/dags, shown with
`load_graph(...).show()`, and a generated layered DAG of 5,000 phases. The
tests find phases by name, collapse and open groups, move through the graph
with the keyboard, export the view and follow a kernel run, asserting what a
person sees: the nodes in the DOM, which one is selected or focused, and
where it is on screen.
"""

from __future__ import annotations

import inspect
import random
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from dagstudio_jupyter import Workflow
from dagstudio_jupyter.importers import load_graph

from . import _sync_browser
from ._lab import OUTPUT, Lab, only_loopback_sync
from .test_server_widget import KERNEL_IDLE, write_notebook

# Playwright sync API fixtures for this module (see tests/_sync_browser.py).
dagstudio_browser = _sync_browser.dagstudio_browser
jp_asyncio_loop = _sync_browser.jp_asyncio_loop
jp_server_cleanup = _sync_browser.jp_server_cleanup

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
# CI keeps a copy of shared/ beside the repository.
KEDRO_GRAPH = ROOT.parent / "shared/data/dags/kedro-viz/large-dataset.json"
KEDRO_PHASES = 2055
GENERATED_PHASES = 5000
# The view's own cap on DOM nodes (DOM_NODE_CAP in js/widget/viewport.js).
DOM_NODE_CAP = 600
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

PANEL = "window.jupyterapp.shell.currentWidget.node"
CANVAS = f"{PANEL}.querySelector('.dagstudio-canvas')"
VIEW_STATE = f"""() => {{
  const canvas = {CANVAS};
  const graph = canvas.querySelector('svg.dagstudio-graph');
  return {{
    state: canvas.getAttribute('data-layout-state'),
    error: canvas.getAttribute('data-error'),
    draws: Number(canvas.getAttribute('data-draws')),
    rendered: Number(canvas.getAttribute('data-rendered-nodes')),
    domNodes: canvas.querySelectorAll('g.dagstudio-node').length,
    width: Number(graph.getAttribute('width')),
    height: Number(graph.getAttribute('height')),
    viewBox: graph.getAttribute('viewBox'),
    viewWidth: canvas.clientWidth,
    viewHeight: canvas.clientHeight,
    scrollTop: canvas.scrollTop,
    scrollHeight: canvas.scrollHeight,
  }};
}}"""
SETTLED = f"() => {CANVAS}?.getAttribute('data-layout-state') !== 'pending'"
NEXT_FRAMES = """() => new Promise(
  (resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))"""
# Whether a node has a DOM element lying wholly inside the graph's viewport.
IN_VIEW = f"""(id) => {{
  const canvas = {CANVAS};
  const node = Array.from(canvas.querySelectorAll('g.dagstudio-node'))
    .find((n) => n.getAttribute('data-phase-id') === id);
  if (!node) return false;
  const box = node.getBoundingClientRect();
  const view = canvas.getBoundingClientRect();
  return box.width > 0 && box.left >= view.left && box.right <= view.right
    && box.top >= view.top && box.bottom <= view.bottom;
}}"""
DOM_NODES = f"""() => Array.from(
  {CANVAS}.querySelectorAll('g.dagstudio-node'),
  (n) => ({{
    id: n.getAttribute('data-phase-id'),
    kind: n.getAttribute('data-kind'),
    status: n.getAttribute('data-status'),
    selected: n.classList.contains('dagstudio-selected'),
  }}))"""
# The labels of the DOM nodes at least partly inside the viewport.
SHOWN_LABELS = f"""() => {{
  const canvas = {CANVAS};
  const view = canvas.getBoundingClientRect();
  return Array.from(canvas.querySelectorAll('g.dagstudio-node')).filter((n) => {{
    const box = n.getBoundingClientRect();
    return box.right > view.left && box.left < view.right
      && box.bottom > view.top && box.top < view.bottom;
  }}).map((n) => n.querySelector('.dagstudio-node-label').textContent);
}}"""
FOCUSED = "() => document.activeElement?.getAttribute('data-phase-id') ?? null"
FOCUSED_CLASS = "() => document.activeElement?.getAttribute('class') ?? ''"
RUN_CELL = """(index) => {
  const panel = window.jupyterapp.shell.currentWidget;
  panel.content.activeCellIndex = index;
  window.jupyterapp.commands.execute('notebook:run-cell');
}"""
# Keeps every status a node shows from now on.
WATCH_STATUS = f"""(id) => {{
  window.__dagstudioStatuses = [];
  new MutationObserver((records) => {{
    for (const record of records) {{
      const node = record.target;
      if (node.getAttribute('data-phase-id') !== id) continue;
      window.__dagstudioStatuses.push(node.getAttribute('data-status'));
    }}
  }}).observe({CANVAS}, {{
    subtree: true, attributes: true, attributeFilter: ['data-status'],
  }});
}}"""


def generated_workflow(
    columns: int = 50, rows: int = 100, seed: int = 5000
) -> Workflow:
    """A seeded layered random DAG of `columns` x `rows` phases.

    Phase `p<c>-<r>`, labelled "Step <c * rows + r>", depends on `p<c-1>-<r>`
    and on up to two random phases of the three columns before it, so every
    phase outside the last column has a successor.
    """
    rng = random.Random(seed)
    wf = Workflow("generated", name="Generated 5000")
    for column in range(columns):
        for row in range(rows):
            after = set()
            if column:
                after.add(f"p{column - 1}-{row}")
                for _ in range(rng.randint(0, 2)):
                    back = rng.randint(1, min(3, column))
                    after.add(f"p{column - back}-{rng.randrange(rows)}")
            wf.add(
                f"p{column}-{row}",
                label=f"Step {column * rows + row}",
                after=sorted(after),
            )
    return wf


GENERATED_CELLS = [
    "import random\n\nfrom dagstudio_jupyter import Workflow\n\n\n"
    + inspect.getsource(generated_workflow)
    + "\n\nwf = generated_workflow()\nview = wf.show()\nview",
    "run = wf.run(widget=view)\nrun.status",
]


@dataclass
class Notebook:
    """A notebook open alone in its own page, with its widget on screen."""

    page: Any
    errors: list[str] = field(default_factory=list)

    def widget(self) -> Any:
        return self.page.locator(".jp-NotebookPanel:visible .dagstudio-widget").first

    def search(self) -> Any:
        return self.widget().locator("input.dagstudio-search")

    def node(self, phase_id: str) -> Any:
        return self.widget().locator(f"g.dagstudio-node[data-phase-id='{phase_id}']")

    def view(self) -> dict[str, Any]:
        return dict(self.page.evaluate(VIEW_STATE))

    def settle(self) -> dict[str, Any]:
        """Wait until the layout is drawn and the next frames are painted."""
        self.page.wait_for_function(SETTLED, timeout=60_000)
        self.page.evaluate(NEXT_FRAMES)
        view = self.view()
        assert view["state"] == "ready", view["error"]
        return view

    def dom_nodes(self) -> list[dict[str, Any]]:
        return list(self.page.evaluate(DOM_NODES))

    def selected(self) -> list[str]:
        return [n["id"] for n in self.dom_nodes() if n["selected"]]

    def in_view(self, phase_id: str) -> bool:
        return bool(self.page.evaluate(IN_VIEW, phase_id))

    def focused(self) -> str | None:
        found = self.page.evaluate(FOCUSED)
        return None if found is None else str(found)

    def groups_button(self) -> Any:
        return self.widget().locator("button.dagstudio-groups")

    def set_groups(self, collapsed: bool) -> None:
        """Collapse or expand every group with the toolbar button."""
        wanted = "Collapse groups" if collapsed else "Expand groups"
        if self.groups_button().inner_text() == wanted:
            self.groups_button().click()
            self.settle()

    def download(self, button: str) -> tuple[str, bytes]:
        """Click an export button; return the download's name and bytes."""
        with self.page.expect_download() as info:
            self.widget().locator(f"button.{button}").click()
        download = info.value
        return download.suggested_filename, Path(download.path()).read_bytes()

    def run_cell(self, index: int) -> None:
        # Not awaited: the command's promise settles when the cell ends.
        self.page.evaluate(RUN_CELL, index)

    def shot(self, name: str) -> None:
        OUTPUT.mkdir(exist_ok=True)
        self.widget().screenshot(path=str(OUTPUT / f"large-{name}.png"))

    def reset(self) -> None:
        """Empty the search box, close the details, expand every group."""
        if self.search().input_value() != "":
            self.search().fill("")
        close = self.widget().locator(".dagstudio-details-close")
        if close.is_visible():
            close.click()
        if self.groups_button().is_visible():
            self.set_groups(collapsed=False)
        self.settle()


# -- fixtures -----------------------------------------------------------------


@contextmanager
def open_notebook(
    browser: Any, lab: Lab, name: str, cells: list[str]
) -> Iterator[Notebook]:
    """Write a notebook into the lab, open it alone in a page of its own and
    run its first cell; shut its kernel down at the end (the lab is shared)."""
    write_notebook(lab.root_dir / f"{name}.ipynb", cells)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", only_loopback_sync)
    page = context.new_page()
    notebook = Notebook(page)

    def record(message: Any) -> None:
        if message.type == "error" and "[dagstudio]" in message.text:
            notebook.errors.append(message.text)

    page.on("pageerror", lambda error: notebook.errors.append(str(error)))
    page.on("console", record)
    # A workspace of its own, reset: no other notebook, no other kernel.
    page.goto(
        f"{lab.url}lab/workspaces/{name}/tree/{name}.ipynb?reset&token={lab.token}"
    )
    page.wait_for_function(KERNEL_IDLE, timeout=60_000)
    notebook.run_cell(0)
    notebook.widget().wait_for(timeout=60_000)
    try:
        yield notebook
    finally:
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=str(OUTPUT / f"large-{name}-last.png"))
        page.evaluate(
            "() => window.jupyterapp.shell.currentWidget.sessionContext.shutdown()"
        )
        context.close()


@pytest.fixture(scope="module")
def dagstudio_kedro_workflow() -> Workflow:
    if not KEDRO_GRAPH.exists():
        pytest.fail(f"{KEDRO_GRAPH} is missing: shared/ belongs beside the repository")
    return load_graph(KEDRO_GRAPH)


@pytest.fixture(scope="module")
def dagstudio_kedro_notebook(
    dagstudio_browser: Any, dagstudio_lab: Lab, dagstudio_kedro_workflow: Workflow
) -> Iterator[Notebook]:
    cells = [
        "from dagstudio_jupyter.importers import load_graph\n"
        f"wf = load_graph({str(KEDRO_GRAPH)!r})\n"
        "view = wf.show()\n"
        "view"
    ]
    with open_notebook(dagstudio_browser, dagstudio_lab, "large_kedro", cells) as nb:
        yield nb


@pytest.fixture
def dagstudio_kedro(dagstudio_kedro_notebook: Notebook) -> Iterator[Notebook]:
    """The kedro notebook with nothing searched, selected or collapsed."""
    dagstudio_kedro_notebook.reset()
    yield dagstudio_kedro_notebook
    assert dagstudio_kedro_notebook.errors == []


@pytest.fixture(scope="module")
def dagstudio_generated_workflow() -> Workflow:
    return generated_workflow()


@pytest.fixture(scope="module")
def dagstudio_generated_notebook(
    dagstudio_browser: Any, dagstudio_lab: Lab
) -> Iterator[Notebook]:
    with open_notebook(
        dagstudio_browser, dagstudio_lab, "large_generated", GENERATED_CELLS
    ) as nb:
        yield nb


@pytest.fixture
def dagstudio_generated(dagstudio_generated_notebook: Notebook) -> Iterator[Notebook]:
    """The 5,000-phase notebook with nothing searched or selected."""
    dagstudio_generated_notebook.reset()
    yield dagstudio_generated_notebook
    assert dagstudio_generated_notebook.errors == []


def phase_id(workflow: Workflow, label: str) -> str:
    (found,) = [p.id for p in workflow.phases.values() if p.label == label]
    return found


def kedro_groups(workflow: Workflow) -> dict[str, list[str]]:
    """Group node id → member ids, for the groups the view can collapse."""
    members: dict[str, list[str]] = {}
    for phase in workflow.phases.values():
        if phase.group:
            members.setdefault(f"group:{phase.group}", []).append(phase.id)
    return {group: ids for group, ids in members.items() if len(ids) >= 2}


def svg_nodes(svg: bytes) -> list[str]:
    """The phase ids of the nodes drawn in an exported SVG document."""
    root = ElementTree.fromstring(svg)
    return [
        element.attrib["data-phase-id"]
        for element in root.iter("{http://www.w3.org/2000/svg}g")
        if "data-phase-id" in element.attrib
    ]


def whole_graph_svg(nb: Notebook) -> list[str]:
    """Fit the graph into the view and return the node ids of its SVG export."""
    nb.widget().locator("button.dagstudio-fit").click()
    nb.page.evaluate(NEXT_FRAMES)
    _, svg = nb.download("dagstudio-export-svg")
    return svg_nodes(svg)


# -- the kedro-viz graph: 2,055 phases ----------------------------------------


def test_kedro_graph_is_drawn_with_a_bounded_number_of_dom_nodes(
    dagstudio_kedro: Notebook, dagstudio_kedro_workflow: Workflow
) -> None:
    kedro, workflow = dagstudio_kedro, dagstudio_kedro_workflow
    view = kedro.settle()

    kedro.shot("kedro-ready")
    # The six modularPipeline nodes of the 2,061 are hierarchy, not phases.
    assert len(workflow) == KEDRO_PHASES
    assert view["state"] == "ready"
    assert view["error"] is None
    assert 0 < view["rendered"] <= DOM_NODE_CAP
    assert view["rendered"] == view["domNodes"]
    summary = kedro.widget().locator(".dagstudio-summary").inner_text()
    assert f"0/{KEDRO_PHASES} completed" in summary


def test_kedro_typed_search_counts_and_reveals_the_phase_in_view(
    dagstudio_kedro: Notebook, dagstudio_kedro_workflow: Workflow
) -> None:
    kedro, workflow = dagstudio_kedro, dagstudio_kedro_workflow
    target = phase_id(workflow, "identity_func_777")
    search = kedro.search()
    assert kedro.node(target).count() == 0

    search.click()
    search.press_sequentially("identity_func_777")
    kedro.page.evaluate(NEXT_FRAMES)

    kedro.shot("kedro-search")
    count = kedro.widget().locator(".dagstudio-search-count")
    assert count.inner_text() == "1 of 1"
    assert kedro.selected() == [target]
    assert kedro.in_view(target)
    assert kedro.node(target).get_attribute("aria-label") == (
        "identity_func_777: pending"
    )
    # The box keeps focus, so the person can go on typing.
    assert kedro.page.evaluate(FOCUSED_CLASS) == "dagstudio-search"


def test_kedro_search_counts_every_match_and_puts_the_exact_one_first(
    dagstudio_kedro: Notebook, dagstudio_kedro_workflow: Workflow
) -> None:
    kedro, workflow = dagstudio_kedro, dagstudio_kedro_workflow
    spine = phase_id(workflow, "prm_spine_table")
    expected = sum(
        "prm_spine_table" in (phase.label or phase.id).lower()
        or "prm_spine_table" in phase.id.lower()
        for phase in workflow.phases.values()
    )
    assert expected > 1000

    kedro.search().fill("prm_spine_table")
    kedro.settle()

    count = kedro.widget().locator(".dagstudio-search-count").inner_text()
    assert count == f"1 of {expected}"
    assert kedro.selected() == [spine]
    # Shift+Enter from the first match wraps to the last one.
    kedro.search().press("Shift+Enter")
    count = kedro.widget().locator(".dagstudio-search-count").inner_text()
    assert count == f"{expected} of {expected}"


def test_kedro_groups_button_collapses_namespaces_and_expands_them_again(
    dagstudio_kedro: Notebook, dagstudio_kedro_workflow: Workflow
) -> None:
    kedro, workflow = dagstudio_kedro, dagstudio_kedro_workflow
    groups = kedro_groups(workflow)
    members = sum(len(ids) for ids in groups.values())
    button = kedro.groups_button()
    expanded = kedro.view()["viewBox"]
    assert button.inner_text() == "Collapse groups"
    assert len(whole_graph_svg(kedro)) == KEDRO_PHASES
    # Next to prm_spine_table sit phases of three namespaces.
    kedro.search().fill("prm_spine_table")

    button.click()
    kedro.settle()

    kedro.shot("kedro-collapsed")
    assert button.inner_text() == "Expand groups"
    assert button.get_attribute("aria-pressed") == "true"
    shown = {n["id"]: n for n in kedro.dom_nodes() if n["kind"] == "group"}
    assert "group:feature_engineering" in shown
    assert set(shown) <= set(groups)
    label = kedro.node("group:feature_engineering").get_attribute("aria-label")
    assert label == "feature_engineering: 6 phases · pending"
    collapsed = whole_graph_svg(kedro)
    assert len(collapsed) == KEDRO_PHASES - members + len(groups)
    assert {i for i in collapsed if i.startswith("group:")} == set(groups)

    button.click()
    kedro.settle()

    assert button.inner_text() == "Collapse groups"
    assert [n for n in kedro.dom_nodes() if n["kind"] == "group"] == []
    assert kedro.view()["viewBox"] == expanded
    restored = whole_graph_svg(kedro)
    assert len(restored) == KEDRO_PHASES
    assert set(restored) == set(workflow.phases)


def test_kedro_group_node_opens_on_enter_and_on_click(
    dagstudio_kedro: Notebook, dagstudio_kedro_workflow: Workflow
) -> None:
    kedro, workflow = dagstudio_kedro, dagstudio_kedro_workflow
    groups = kedro_groups(workflow)
    spine = phase_id(workflow, "prm_spine_table")
    kedro.search().fill("prm_spine_table")
    kedro.set_groups(collapsed=True)
    kedro.node(spine).click()
    # prm_spine_table feeds three phases of feature_engineering only.
    kedro.page.keyboard.press("ArrowRight")
    assert kedro.focused() == "group:feature_engineering"

    kedro.page.keyboard.press("Enter")
    kedro.settle()

    kedro.shot("kedro-group-opened-by-enter")
    first = groups["group:feature_engineering"][0]
    assert kedro.focused() == first
    assert kedro.in_view(first)
    ids = [n["id"] for n in kedro.dom_nodes()]
    assert "group:feature_engineering" not in ids
    assert kedro.groups_button().inner_text() == "Expand groups"

    group = kedro.widget().locator("g.dagstudio-node[data-kind='group']").first
    clicked = str(group.get_attribute("data-phase-id"))
    group.click()
    kedro.settle()

    kedro.shot("kedro-group-opened-by-click")
    assert kedro.focused() == groups[clicked][0]
    assert clicked not in [n["id"] for n in kedro.dom_nodes()]


def test_kedro_search_inside_a_collapsed_group_expands_it_and_reveals_the_phase(
    dagstudio_kedro: Notebook, dagstudio_kedro_workflow: Workflow
) -> None:
    kedro, workflow = dagstudio_kedro, dagstudio_kedro_workflow
    target = phase_id(workflow, "identity_func_777")
    kedro.set_groups(collapsed=True)
    assert kedro.node(target).count() == 0

    # One input event, as when the name is pasted.
    kedro.search().fill("identity_func_777")
    kedro.settle()

    kedro.shot("kedro-search-in-collapsed-group")
    assert kedro.widget().locator(".dagstudio-search-count").inner_text() == "1 of 1"
    assert kedro.selected() == [target]
    assert kedro.in_view(target)
    ids = [n["id"] for n in kedro.dom_nodes()]
    assert "group:ingestion" not in ids
    # Only the group holding the match opens; the others stay collapsed.
    assert kedro.groups_button().inner_text() == "Expand groups"
    assert "group:reporting" in whole_graph_svg(kedro)


def test_kedro_typed_search_keeps_focus_in_the_box_when_groups_are_collapsed(
    dagstudio_kedro: Notebook, dagstudio_kedro_workflow: Workflow
) -> None:
    kedro, workflow = dagstudio_kedro, dagstudio_kedro_workflow
    target = phase_id(workflow, "identity_func_777")
    kedro.set_groups(collapsed=True)
    search = kedro.search()

    search.click()
    search.press_sequentially("identity_func_777")
    kedro.settle()

    assert search.input_value() == "identity_func_777"
    assert kedro.page.evaluate(FOCUSED_CLASS) == "dagstudio-search"
    assert kedro.selected() == [target]


# -- a generated workflow: 5,000 phases ---------------------------------------


def test_generated_graph_is_drawn_with_a_bounded_number_of_dom_nodes(
    dagstudio_generated: Notebook,
) -> None:
    big = dagstudio_generated
    view = big.settle()

    big.shot("generated-ready")
    assert view["error"] is None
    assert 0 < view["rendered"] <= DOM_NODE_CAP
    assert view["rendered"] == view["domNodes"]
    summary = big.widget().locator(".dagstudio-summary").inner_text()
    assert f"0/{GENERATED_PHASES} completed" in summary
    # A workflow without groups has no groups button.
    assert big.groups_button().is_hidden()


def test_generated_typed_search_reveals_and_selects_a_far_phase(
    dagstudio_generated: Notebook,
) -> None:
    big = dagstudio_generated
    search = big.search()
    assert big.node("p43-21").count() == 0

    search.click()
    search.press_sequentially("Step 4321")
    big.page.evaluate(NEXT_FRAMES)

    big.shot("generated-search")
    assert big.widget().locator(".dagstudio-search-count").inner_text() == "1 of 1"
    assert big.selected() == ["p43-21"]
    assert big.in_view("p43-21")
    assert big.view()["rendered"] <= DOM_NODE_CAP


def test_generated_graph_pans_fits_and_zooms(dagstudio_generated: Notebook) -> None:
    big = dagstudio_generated
    big.search().fill("Step 2500")
    big.page.evaluate(NEXT_FRAMES)
    before = big.view()
    ids_before = {n["id"] for n in big.dom_nodes()}
    box = big.widget().locator(".dagstudio-canvas").bounding_box()
    big.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)

    # Down, unless the view is too near the bottom of the graph for that.
    room = before["scrollHeight"] - before["viewHeight"] - before["scrollTop"]
    big.page.mouse.wheel(0, 800 if room >= 800 else -800)
    # Half the way is enough: the wheel may scroll smoothly.
    big.page.wait_for_function(
        f"(top) => Math.abs({CANVAS}.scrollTop - top) >= 400", arg=before["scrollTop"]
    )
    big.page.evaluate(NEXT_FRAMES)

    panned = big.view()
    assert panned["draws"] > before["draws"]
    assert {n["id"] for n in big.dom_nodes()} - ids_before
    assert panned["rendered"] <= DOM_NODE_CAP

    big.widget().locator("button.dagstudio-fit").click()
    big.page.evaluate(NEXT_FRAMES)

    big.shot("generated-fit")
    fitted = big.view()
    assert fitted["width"] < before["width"]
    assert fitted["width"] <= fitted["viewWidth"]
    assert fitted["height"] <= fitted["viewHeight"]
    # Zoomed out this far the boxes are painted, not DOM nodes.
    assert fitted["rendered"] < 10

    big.widget().locator("button.dagstudio-zoom-in").click()
    big.page.evaluate(NEXT_FRAMES)

    assert big.view()["width"] > fitted["width"]


def test_generated_arrow_keys_follow_edges_and_enter_opens_details(
    dagstudio_generated: Notebook, dagstudio_generated_workflow: Workflow
) -> None:
    big, workflow = dagstudio_generated, dagstudio_generated_workflow
    search = big.search()
    search.fill("Step 1234")
    search.focus()
    # Tab leaves the toolbar for the graph, which is one Tab stop; an arrow
    # enters its nodes at the selected one (the search's match).
    for _ in range(12):
        big.page.keyboard.press("Tab")
        if "dagstudio-canvas" in big.page.evaluate(FOCUSED_CLASS).split():
            break
    assert "dagstudio-canvas" in big.page.evaluate(FOCUSED_CLASS).split()
    big.page.keyboard.press("ArrowDown")
    start = big.focused()
    assert start == phase_id(workflow, "Step 1234")

    big.page.keyboard.press("ArrowRight")

    moved = big.focused()
    successors = [p.id for p in workflow.phases.values() if start in p.after]
    assert moved in successors
    assert big.in_view(str(moved))

    big.page.keyboard.press("ArrowLeft")

    assert big.focused() in workflow[str(moved)].after

    back = str(big.focused())
    big.page.keyboard.press("Enter")

    details = big.widget().locator(".dagstudio-details")
    big.shot("generated-details")
    assert details.is_visible()
    assert details.get_attribute("data-phase-id") == back
    title = details.locator(".dagstudio-details-title").inner_text()
    assert title == workflow[back].label

    big.page.keyboard.press("Escape")

    assert details.is_hidden()
    assert big.focused() == back
    # From a node, Tab leaves the graph in one step.
    big.page.keyboard.press("Tab")
    assert big.focused() is None
    assert "dagstudio-canvas" not in big.page.evaluate(FOCUSED_CLASS).split()


def test_generated_export_buttons_download_the_view_as_svg_and_png(
    dagstudio_generated: Notebook,
) -> None:
    big = dagstudio_generated
    big.search().fill("Step 2500")
    big.page.evaluate(NEXT_FRAMES)
    shown = big.page.evaluate(SHOWN_LABELS)

    svg_name, svg = big.download("dagstudio-export-svg")
    png_name, png = big.download("dagstudio-export-png")

    assert svg_name == "Generated-5000.svg"
    root = ElementTree.fromstring(svg)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = {element.text for element in root.iter("{http://www.w3.org/2000/svg}text")}
    assert 0 < len(shown) < 300
    assert set(shown) <= texts
    # Only the part in view: the far corners of the graph are not in it.
    nodes = svg_nodes(svg)
    assert len(nodes) < 300
    assert "p0-0" not in nodes
    assert "p49-99" not in nodes
    assert png_name == "Generated-5000.png"
    assert png[:8] == PNG_SIGNATURE
    assert png[12:16] == b"IHDR"
    width = int.from_bytes(png[16:20], "big")
    height = int.from_bytes(png[20:24], "big")
    assert width > 0
    assert height > 0


def test_generated_kernel_run_updates_the_node_in_view(
    dagstudio_generated: Notebook,
) -> None:
    big = dagstudio_generated
    big.search().fill("Step 2500")
    big.page.evaluate(NEXT_FRAMES)
    assert big.node("p25-0").get_attribute("data-status") == "pending"
    big.page.evaluate(WATCH_STATUS, "p25-0")

    big.run_cell(1)
    big.page.wait_for_function(
        f"() => {PANEL}.querySelector('.dagstudio-widget')"
        "?.getAttribute('data-execution-status') === 'completed'",
        timeout=120_000,
    )
    big.page.wait_for_function(
        f"() => {CANVAS}.querySelector('g.dagstudio-node[data-phase-id=\"p25-0\"]')"
        "?.getAttribute('data-status') === 'completed'",
        timeout=30_000,
    )

    big.shot("generated-run-completed")
    assert big.in_view("p25-0")
    assert big.page.evaluate("() => window.__dagstudioStatuses")[-1] == "completed"
    summary = big.widget().locator(".dagstudio-summary").inner_text()
    assert f"{GENERATED_PHASES}/{GENERATED_PHASES} completed" in summary
