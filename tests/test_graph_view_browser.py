"""The graph view at 5,000 phases in Debian's chromium, without JupyterLab.

The page is js/__tests__/harness/graph-view-page.js bundled with esbuild: it
mounts `createGraphView` and the search box on a generated layered graph
(50 columns of 100 phases; phase `p<column>-<row>` is labelled "Phase <n>").
Playwright serves it from a made-up 127.0.0.1 address through `page.route`,
so no server runs and no request leaves the browser.
"""

from __future__ import annotations

import base64
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from . import _sync_browser
from ._lab import OUTPUT, only_loopback_sync

# Playwright sync API fixtures for this module (see tests/_sync_browser.py).
dagstudio_browser = _sync_browser.dagstudio_browser
jp_asyncio_loop = _sync_browser.jp_asyncio_loop
jp_server_cleanup = _sync_browser.jp_server_cleanup

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parent.parent
ESBUILD = ROOT / "node_modules" / ".bin" / "esbuild"
HARNESS = ROOT / "js" / "__tests__" / "harness" / "graph-view-page.js"
CSS = ROOT / "js" / "widget" / "widget.css"
BASE = "http://127.0.0.1:9/graph-view/"
# default-src 'self' also forbids blob: and data: images: the PNG export
# must not need them.
PAGE = """<!doctype html>
<html><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'self'">
<link rel="stylesheet" href="widget.css"></head>
<body><div class="dagstudio-widget" id="host"></div>
<script src="harness.js"></script></body></html>"""
PHASES = 5000
PER_COLUMN = 100
# The view's own cap (DOM_NODE_CAP in js/widget/viewport.js).
DOM_NODE_CAP = 600

CANVAS = ".dagstudio-canvas"
READY = f"{CANVAS}[data-layout-state='ready']"
VIEW_STATE = """() => {
  const c = document.querySelector('.dagstudio-canvas');
  return {
    draws: Number(c.dataset.draws),
    rendered: Number(c.dataset.renderedNodes),
    domNodes: c.querySelectorAll('g.dagstudio-node').length,
    scale: g.view.getScale(),
  };
}"""
NEXT_FRAMES = """() => new Promise(
  (resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))"""
# Where a node is on screen, from the SVG layer that spans the whole graph
# (there whether or not the node has a DOM element).
NODE_CENTRE = """(id) => {
  const node = g.layout.nodes.find((n) => n.id === id);
  const origin = document.querySelector('.dagstudio-graph').getBoundingClientRect();
  const scale = g.view.getScale();
  return {
    x: origin.left + (node.x + node.width / 2) * scale,
    y: origin.top + (node.y + node.height / 2) * scale,
  };
}"""
IN_VIEWPORT = """(id) => {
  const node = document.querySelector(`g.dagstudio-node[data-phase-id="${id}"]`);
  if (!node) return false;
  const box = node.getBoundingClientRect();
  const view = document.querySelector('.dagstudio-canvas').getBoundingClientRect();
  return box.left >= view.left && box.right <= view.right
    && box.top >= view.top && box.bottom <= view.bottom;
}"""
FOCUSED = "() => document.activeElement.getAttribute('data-phase-id')"
# The ids of the DOM nodes that are at least partly inside the viewport.
SHOWN = """() => {
  const view = document.querySelector('.dagstudio-canvas').getBoundingClientRect();
  return [...document.querySelectorAll('g.dagstudio-node')].filter((node) => {
    const box = node.getBoundingClientRect();
    return box.right > view.left && box.left < view.right
      && box.bottom > view.top && box.top < view.bottom;
  }).map((node) => node.getAttribute('data-phase-id'));
}"""


@pytest.fixture(scope="module")
def dagstudio_harness(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The harness page's files, its script bundled from the sources."""
    if not ESBUILD.exists():
        pytest.fail(f"{ESBUILD} is missing; `npm ci` installs it")
    bundle = tmp_path_factory.mktemp("graph-view") / "harness.js"
    subprocess.run(
        [
            str(ESBUILD),
            str(HARNESS),
            "--bundle",
            "--format=iife",
            f"--outfile={bundle}",
        ],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    return {
        "index.html": (PAGE.encode(), "text/html"),
        "harness.js": (bundle.read_bytes(), "text/javascript"),
        "widget.css": (CSS.read_bytes(), "text/css"),
    }


@pytest.fixture(scope="module")
def dagstudio_harness_page(
    dagstudio_browser: Any, dagstudio_harness: dict[str, Any]
) -> Iterator[Any]:
    """One page of the harness for the module; each test mounts anew in it."""
    context = dagstudio_browser.new_context(viewport={"width": 1400, "height": 1000})
    context.route("**/*", only_loopback_sync)

    def serve(route: Any) -> None:
        name = route.request.url.removeprefix(BASE)
        if name in dagstudio_harness:
            body, content_type = dagstudio_harness[name]
            route.fulfill(body=body, content_type=content_type)
        else:
            route.abort()

    page = context.new_page()
    page.route(f"{BASE}**", serve)
    page.goto(f"{BASE}index.html")
    yield page
    context.close()


@pytest.fixture
def dagstudio_graph(
    dagstudio_harness_page: Any, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """The harness page with a fresh graph of PHASES phases as `window.g`."""
    page = dagstudio_harness_page
    errors: list[str] = []

    def record(error: Any) -> None:
        errors.append(str(error))

    page.on("pageerror", record)
    page.evaluate(
        f"""() => {{
          window.g?.stop();
          document.activeElement?.blur();
          window.g = graphPage.mount({PHASES}, {PER_COLUMN});
        }}"""
    )
    page.wait_for_selector(READY, state="attached")
    yield page
    page.remove_listener("pageerror", record)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=str(OUTPUT / f"{request.node.name}-last.png"))
    assert errors == []


def test_graph_view_large_graph_is_ready_with_a_bounded_number_of_dom_nodes(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph

    state = page.evaluate(VIEW_STATE)

    assert state["draws"] >= 1
    assert 0 < state["domNodes"] <= DOM_NODE_CAP
    assert state["rendered"] == state["domNodes"]
    first = page.locator("g.dagstudio-node[data-phase-id='p0-0']")
    assert first.get_attribute("data-status") == "completed"
    assert first.get_attribute("aria-label") == "Phase 0: completed"
    assert first.get_attribute("tabindex") == "-1"  # the viewport is the Tab stop
    assert first.get_attribute("data-kind") == "noop"
    assert page.locator("g.dagstudio-node[data-phase-id='p49-99']").count() == 0


def test_graph_view_scrolling_swaps_dom_nodes_and_redraws(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    before = page.evaluate(VIEW_STATE)

    page.evaluate(
        "() => { document.querySelector('.dagstudio-canvas').scrollTo(4e3, 3e3); }"
    )
    page.evaluate(NEXT_FRAMES)

    after = page.evaluate(VIEW_STATE)
    assert after["draws"] > before["draws"]
    assert 0 < after["domNodes"] <= DOM_NODE_CAP
    assert page.locator("g.dagstudio-node[data-phase-id='p0-0']").count() == 0
    visible = page.evaluate(
        "() => [...document.querySelectorAll('g.dagstudio-node')]"
        ".some((n) => n.getAttribute('data-phase-id') === 'p31-66')"
    )
    assert visible


def test_graph_view_zoomed_out_paints_boxes_and_a_click_opens_one(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    page.evaluate("() => g.view.fit()")
    page.evaluate(NEXT_FRAMES)
    state = page.evaluate(VIEW_STATE)
    assert state["scale"] < 0.2
    assert state["domNodes"] == 0
    # The first phase is completed: its box on the canvas is green.
    rgba = page.evaluate(
        """(at) => {
          const canvas = document.querySelector('.dagstudio-paint');
          const box = canvas.getBoundingClientRect();
          const ratio = canvas.width / box.width;
          return Array.from(canvas.getContext('2d').getImageData(
            Math.round((at.x - box.left) * ratio),
            Math.round((at.y - box.top) * ratio), 1, 1).data);
        }""",
        page.evaluate(NODE_CENTRE, "p0-0"),
    )
    assert rgba[3] == 255 and rgba[1] > rgba[0] and rgba[1] > rgba[2]

    target = page.evaluate(NODE_CENTRE, "p20-40")
    page.mouse.click(target["x"], target["y"])

    assert page.evaluate("() => g.activated") == ["p20-40"]
    assert page.evaluate("() => g.view.getScale()") >= 0.5
    assert page.evaluate(FOCUSED) == "p20-40"
    assert page.evaluate(IN_VIEWPORT, "p20-40")


def test_graph_view_search_and_reveal_bring_a_far_phase_into_view(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    search = page.locator("input.dagstudio-search")

    search.fill("phase 4321")

    assert page.locator(".dagstudio-search-count").inner_text() == "1 of 1"
    found = page.locator("g.dagstudio-node[data-phase-id='p43-21']")
    assert "dagstudio-selected" in (found.get_attribute("class") or "")
    assert page.evaluate(IN_VIEWPORT, "p43-21")
    assert page.evaluate("() => document.activeElement.className") == "dagstudio-search"

    assert page.evaluate("() => g.view.reveal('p12-80')") is True

    assert page.evaluate(FOCUSED) == "p12-80"
    assert page.evaluate(IN_VIEWPORT, "p12-80")
    assert page.evaluate("() => g.view.reveal('no-such-phase')") is False


def test_graph_view_new_layout_of_the_same_graph_keeps_the_view_on_its_node(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    page.evaluate("() => g.view.reveal('p20-50')")
    before = page.evaluate(NODE_CENTRE, "p20-50")

    # The same graph again, every node moved right and down (as when a
    # group before it is collapsed).
    page.evaluate(
        """() => {
          const moved = graphPage.layeredLayout(5000, 100);
          for (const node of moved.nodes) { node.x += 900; node.y += 300; }
          for (const edge of moved.edges) {
            for (const point of edge.points) { point.x += 900; point.y += 300; }
          }
          moved.width += 900;
          moved.height += 300;
          g.layout = moved;
          g.view.setLayout(moved, {});
        }"""
    )

    after = page.evaluate(NODE_CENTRE, "p20-50")
    assert abs(after["x"] - before["x"]) < 2
    assert abs(after["y"] - before["y"]) < 2
    assert page.evaluate(IN_VIEWPORT, "p20-50")


def test_graph_view_search_box_steps_through_matches_and_clears(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    search = page.locator("input.dagstudio-search")
    count = page.locator(".dagstudio-search-count")
    selected = "() => document.querySelector('.dagstudio-selected')?.dataset.phaseId"

    # "Phase 12" first (exact), then "Phase 120" … "Phase 1299" (prefix).
    search.fill("PHASE 12")
    first = page.evaluate(selected)
    search.press("Enter")
    second = page.evaluate(selected)
    search.press("Shift+Enter")
    back = page.evaluate(selected)
    search.press("Shift+Enter")
    last = (count.inner_text(), page.evaluate(selected))
    search.press("Escape")

    assert (first, second, back) == ("p0-12", "p1-20", "p0-12")
    assert last == ("111 of 111", "p12-99")
    assert search.input_value() == ""
    assert count.is_hidden()


def test_graph_view_arrow_keys_move_focus_along_edges_and_columns(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    page.evaluate("() => g.view.fit()")
    # Zoomed out there is no node to Tab to: the viewport takes focus.
    page.focus(CANVAS)
    page.keyboard.press("End")
    assert page.evaluate(FOCUSED) == "p49-99"
    assert page.evaluate("() => g.view.focusNode('p30-50')") is True
    assert page.evaluate(FOCUSED) == "p30-50"

    moves = []
    for key in ("ArrowRight", "ArrowDown", "ArrowLeft", "ArrowUp", "Home"):
        page.keyboard.press(key)
        moves.append(page.evaluate(FOCUSED))

    # Right: successors p31-50 and p31-51, first by order; Left from p31-51:
    # predecessors p30-50 and p30-51, first by order.
    assert moves == ["p31-50", "p31-51", "p30-50", "p30-49", "p0-0"]
    page.evaluate(NEXT_FRAMES)
    assert page.evaluate(VIEW_STATE)["domNodes"] == 1


def test_graph_view_status_updates_coalesce_into_one_draw(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    page.evaluate(NEXT_FRAMES)
    before = page.evaluate(VIEW_STATE)

    page.evaluate(
        """() => {
          for (let i = 1; i <= 50; i += 1) {
            g.view.update({
              'p0-0': { status: 'completed', attempt: 1 },
              'p1-1': { status: i % 2 ? 'running' : 'failed', attempt: i },
            });
          }
        }"""
    )
    page.evaluate(NEXT_FRAMES)

    after = page.evaluate(VIEW_STATE)
    assert after["draws"] - before["draws"] == 1
    node = page.locator("g.dagstudio-node[data-phase-id='p1-1']")
    assert node.get_attribute("data-status") == "failed"
    assert node.get_attribute("data-attempt") == "50"
    assert node.get_attribute("aria-label") == "Phase 101: failed · attempt 50"
    assert node.locator(".dagstudio-node-icon").text_content() == "✕"


def test_graph_view_status_resolver_overrides_chosen_nodes_only(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph

    page.evaluate(
        """() => g.view.setStatusResolver((phases, node) =>
          node.id === 'p0-1' ? { status: 'running', attempt: 1 } : null)"""
    )
    page.evaluate(NEXT_FRAMES)

    status = "(id) => document.querySelector(`[data-phase-id='${id}']`).dataset.status"
    assert page.evaluate(status, "p0-1") == "running"
    assert page.evaluate(status, "p0-0") == "completed"
    assert page.evaluate(status, "p0-2") == "pending"


def test_graph_view_exports_the_visible_part_as_svg_and_png(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    page.evaluate("() => g.view.reveal('p20-50')")
    page.evaluate(NEXT_FRAMES)
    shown = page.evaluate(SHOWN)

    svg = page.evaluate("() => g.view.exportSvg()")
    png = page.evaluate(
        """async () => {
          const blob = await g.view.exportPng();
          const bytes = new Uint8Array(await blob.arrayBuffer());
          let text = '';
          for (const b of bytes.slice(0, 24)) text += String.fromCharCode(b);
          return { type: blob.type, size: blob.size, head: btoa(text) };
        }"""
    )

    parsed = page.evaluate(
        "(text) => new DOMParser().parseFromString(text, 'image/svg+xml')"
        ".querySelectorAll('parsererror').length",
        svg,
    )
    assert parsed == 0
    assert 0 < len(shown) < 200
    for phase in shown:
        assert f'data-phase-id="{phase}"' in svg
    assert 'data-phase-id="p0-0"' not in svg
    assert 'data-phase-id="p49-99"' not in svg
    assert "var(--" not in svg
    assert png["type"] == "image/png"
    head = base64.b64decode(png["head"])
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width = int.from_bytes(head[16:20], "big")
    assert width >= 1000


def test_graph_view_small_graph_keeps_every_node_in_layout_order(
    dagstudio_graph: Any,
) -> None:
    page = dagstudio_graph
    page.evaluate("() => { g.stop(); window.g = graphPage.mount(40, 10); }")
    page.wait_for_selector(READY, state="attached")

    page.evaluate("() => g.view.fit()")
    page.evaluate("() => g.view.zoomBy(0.1)")
    page.evaluate(NEXT_FRAMES)

    ids = page.evaluate(
        "() => [...document.querySelectorAll('g.dagstudio-node')]"
        ".map((n) => n.getAttribute('data-phase-id'))"
    )
    assert ids == page.evaluate("() => g.layout.nodes.map((n) => n.id)")
    assert page.evaluate("() => g.view.getScale()") < 0.5
