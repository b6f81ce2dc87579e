// @ts-check
/**
 * A page for the browser tests of the graph view (tests/
 * test_graph_view_browser.py): bundled with esbuild, it mounts
 * createGraphView and the search box on a generated layered graph, and
 * exposes them as `window.graphPage`. Not a node test.
 */
import { createGraphView } from "../../widget/render.js";
import { createSearchBox, findPhases } from "../../widget/search.js";
import { layoutNode } from "../helpers/layout-node.js";

/** @typedef {import("../../widget/layout.js").Layout} Layout */
/** @typedef {import("../../widget/layout.js").LayoutNode} LayoutNode */
/** @typedef {import("../../widget/state.js").PhaseState} PhaseState */

const WIDTH = 176;
const HEIGHT = 52;
const RANK_GAP = 36;
const ORDER_GAP = 24;
const MARGIN = 16;

/**
 * A layered graph of `count` phases in columns of `perRank`: phase (r, o)
 * leads to (r + 1, o) and (r + 1, o + 1).
 * @param {number} count
 * @param {number} perRank
 * @returns {Layout}
 */
export function layeredLayout(count, perRank) {
  /** @type {LayoutNode[]} */
  const nodes = [];
  for (let i = 0; i < count; i += 1) {
    const rank = Math.floor(i / perRank);
    const order = i % perRank;
    nodes.push(
      layoutNode(`p${rank}-${order}`, {
        label: `Phase ${i}`,
        x: MARGIN + rank * (WIDTH + RANK_GAP),
        y: MARGIN + order * (HEIGHT + ORDER_GAP),
        rank,
        order,
      }),
    );
  }
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const edges = [];
  for (const from of nodes) {
    for (const step of [0, 1]) {
      const to = byId.get(`p${from.rank + 1}-${from.order + step}`);
      if (!to) continue;
      edges.push({
        from: from.id,
        to: to.id,
        points: [
          { x: from.x + WIDTH, y: from.y + HEIGHT / 2 },
          { x: from.x + WIDTH + RANK_GAP / 2, y: (from.y + to.y) / 2 + 26 },
          { x: to.x, y: to.y + HEIGHT / 2 },
        ],
      });
    }
  }
  const ranks = Math.ceil(count / perRank);
  return {
    nodes,
    edges,
    width: 2 * MARGIN + ranks * (WIDTH + RANK_GAP) - RANK_GAP,
    height: 2 * MARGIN + Math.min(count, perRank) * (HEIGHT + ORDER_GAP),
    warnings: [],
  };
}

/**
 * Mount a view of `count` phases in `host`, all pending but the first.
 * @param {number} count
 * @param {number} perRank
 */
function mount(count, perRank) {
  const doc = document;
  const host = /** @type {HTMLElement} */ (doc.getElementById("host"));
  const controller = new AbortController();
  /** @type {string[]} */
  const activated = [];
  const view = createGraphView(doc, {
    signal: controller.signal,
    onActivate: (id) => activated.push(id),
  });
  view.element.style.height = "600px";
  const layout = layeredLayout(count, perRank);
  /** @type {LayoutNode[]} */
  let matches = [];
  const search = createSearchBox(doc, {
    signal: controller.signal,
    onSearch: (query) => {
      matches = findPhases(layout, query, 500);
      return matches.length;
    },
    onPick: (index) => view.reveal(matches[index].id, { focus: false }),
  });
  host.replaceChildren(search.element, view.element);
  view.setLayoutPending();
  /** @type {Record<string, PhaseState>} */
  const phases = { [layout.nodes[0].id]: { status: "completed", attempt: 1 } };
  view.setLayout(layout, phases);
  return { view, layout, activated, search, stop: () => controller.abort() };
}

Object.assign(window, { graphPage: { mount, layeredLayout } });
