// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  anchoredScroll,
  createGridIndex,
  edgeBox,
  firstNode,
  fitScale,
  minScaleFor,
  pickDomNodes,
} from "../widget/viewport.js";
import { layoutNode } from "./helpers/layout-node.js";

/**
 * A grid of `cols` × `rows` nodes, 100 × 40 with 20 between them.
 * @param {number} cols
 * @param {number} rows
 */
function gridNodes(cols, rows) {
  const nodes = [];
  for (let c = 0; c < cols; c += 1) {
    for (let r = 0; r < rows; r += 1) {
      const place = { x: c * 120, y: r * 60, width: 100, height: 40 };
      nodes.push(layoutNode(`n${c}-${r}`, { ...place, rank: c, order: r }));
    }
  }
  return nodes;
}

/** @param {ReturnType<typeof gridNodes>} nodes */
function indexOf(nodes) {
  const width = Math.max(...nodes.map((n) => n.x + n.width));
  const height = Math.max(...nodes.map((n) => n.y + n.height));
  return createGridIndex(nodes, (n) => n, { width, height });
}

describe("grid index", () => {
  test("test_query_returns_each_meeting_box_once_in_given_order", () => {
    const nodes = gridNodes(40, 40);
    const index = indexOf(nodes);

    const found = index.query({ x: 110, y: 45, width: 240, height: 80 });

    assert.deepEqual(
      found.map((n) => n.id),
      ["n1-1", "n1-2", "n2-1", "n2-2"],
    );
  });

  test("test_query_spanning_many_cells_has_no_duplicates", () => {
    const nodes = gridNodes(60, 60);
    const index = indexOf(nodes);

    const found = index.query({ x: -10, y: -10, width: 1e6, height: 1e6 });

    assert.equal(found.length, nodes.length);
    assert.equal(new Set(found).size, nodes.length);
  });

  test("test_hit_finds_the_box_under_the_point_or_none_in_a_gap", () => {
    const index = indexOf(gridNodes(10, 10));

    assert.equal(index.hit(250, 75)?.id, "n2-1");
    assert.equal(index.hit(110, 75), null);
    assert.equal(index.hit(-500, -500), null);
  });

  test("test_hit_with_slop_takes_the_nearest_box", () => {
    const index = indexOf(gridNodes(10, 10));

    assert.equal(index.hit(103, 20, 5)?.id, "n0-0");
    assert.equal(index.hit(117, 20, 5)?.id, "n1-0");
    assert.equal(index.hit(110, 20, 5), null);
  });

  test("test_edge_box_covers_every_route_point", () => {
    const box = edgeBox({
      points: [
        { x: 10, y: 50 },
        { x: 40, y: 5 },
        { x: 90, y: 30 },
      ],
    });

    assert.ok(box.x < 10 && box.y < 5);
    assert.ok(box.x + box.width > 90 && box.y + box.height > 50);
  });

  test("test_edge_box_covers_every_point_of_a_turning_route", () => {
    // The curves stay within the box of their points, so the box of the
    // points is the edge's box.
    const box = edgeBox({
      points: [
        { x: 0, y: 0 },
        { x: 100, y: 0 },
        { x: 100, y: 300 },
        { x: 200, y: 300 },
      ],
    });

    assert.ok(box.y <= 0 && box.y > -20, `box starts at y = ${box.y}`);
    assert.ok(box.x <= 0 && box.x + box.width >= 200);
    assert.ok(box.y + box.height >= 300);
  });
});

describe("DOM nodes for a view", () => {
  test("test_small_graph_keeps_every_node_whatever_the_view", () => {
    const nodes = gridNodes(10, 10);

    const picked = pickDomNodes(nodes, indexOf(nodes), emptyView(), 0.05);

    assert.equal(picked.length, 100);
  });

  test("test_large_graph_zoomed_out_has_no_dom_nodes", () => {
    const nodes = gridNodes(60, 60);
    const view = { x: 0, y: 0, width: 8000, height: 4000 };

    assert.deepEqual(pickDomNodes(nodes, indexOf(nodes), view, 0.2), []);
  });

  test("test_large_graph_zoomed_in_renders_the_view_and_margin_only", () => {
    const nodes = gridNodes(60, 60);
    const view = { x: 1200, y: 600, width: 600, height: 300 };

    const picked = pickDomNodes(nodes, indexOf(nodes), view, 1, {
      marginPx: 50,
    });

    const ids = new Set(picked.map((n) => n.id));
    assert.ok(ids.has("n10-10"), "a node inside the view");
    assert.ok(ids.has("n9-10"), "a node in the margin");
    assert.ok(!ids.has("n8-10"), "a node beyond the margin");
    for (const n of picked) {
      assert.ok(n.x + n.width >= 1150 && n.x <= 1850, n.id);
      assert.ok(n.y + n.height >= 550 && n.y <= 950, n.id);
    }
  });

  test("test_cap_keeps_the_nodes_nearest_the_view_centre", () => {
    const nodes = gridNodes(60, 60);
    const view = { x: 0, y: 0, width: 3000, height: 3000 };

    const picked = pickDomNodes(nodes, indexOf(nodes), view, 1, { cap: 5 });

    assert.equal(picked.length, 5);
    const centre = nodes.find(
      (n) => n.x <= 1500 && n.x + 120 > 1500 && n.y <= 1500 && n.y + 60 > 1500,
    );
    assert.ok(picked.some((n) => n.id === centre?.id));
    assert.ok(!picked.some((n) => n.id === "n0-0"));
  });
});

describe("scale", () => {
  test("test_fit_scale_fits_both_sides_and_caps_small_graphs", () => {
    assert.equal(
      fitScale({ width: 2000, height: 500 }, { width: 1008, height: 1008 }),
      0.5,
    );
    assert.equal(
      fitScale({ width: 100, height: 100 }, { width: 1000, height: 1000 }),
      1.25,
    );
  });

  test("test_min_scale_goes_below_default_only_to_fit_long_graphs", () => {
    assert.equal(minScaleFor(1), 0.05);
    assert.ok(minScaleFor(0.01) < 0.01);
    assert.equal(minScaleFor(1e-9), 0.002);
  });

  test("test_anchored_scroll_keeps_the_point_under_the_anchor", () => {
    const scroll = anchoredScroll(300, 100, 0, 1, 0, 2);
    // Layout x under the anchor was (300 + 100) / 1 = 400; at scale 2 it
    // sits at 800 in the content, 100 px into the view.
    assert.equal(scroll, 700);
  });
});

function emptyView() {
  return { x: 0, y: 0, width: 0, height: 0 };
}

describe("first view", () => {
  test("test_first_node_is_the_top_of_the_leftmost_column", () => {
    const nodes = [
      { id: "b", x: 200, y: 0 },
      { id: "c", x: 0, y: 900 },
      { id: "a", x: 0, y: 400 },
    ];

    assert.equal(firstNode(nodes)?.id, "a");
    assert.equal(firstNode([]), null);
  });
});
