// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createNeighbourIndex } from "../widget/navigation.js";
import { layoutNode } from "./helpers/layout-node.js";

/**
 * @param {string} id
 * @param {number} rank
 * @param {number} order
 */
function node(id, rank, order) {
  return layoutNode(id, { x: rank * 200, y: order * 70, rank, order });
}

/**
 * a ─┬─ c ── e
 * b ─┘  d ─┘
 * (d is second in its column; e's predecessors are c and d)
 */
function layout() {
  return {
    nodes: [
      node("e", 2, 0),
      node("d", 1, 1),
      node("c", 1, 0),
      node("b", 0, 1),
      node("a", 0, 0),
    ],
    edges: [
      { from: "a", to: "d", points: [] },
      { from: "a", to: "c", points: [] },
      { from: "b", to: "c", points: [] },
      { from: "d", to: "e", points: [] },
      { from: "c", to: "e", points: [] },
    ],
    width: 600,
    height: 200,
    warnings: [],
  };
}

describe("arrow keys between nodes", () => {
  test("test_right_goes_to_the_first_successor_by_order", () => {
    const index = createNeighbourIndex(layout());

    assert.equal(index.next("a", "right"), "c");
    assert.equal(index.next("d", "right"), "e");
    assert.equal(index.next("e", "right"), null);
  });

  test("test_left_goes_to_the_first_predecessor_by_order", () => {
    const index = createNeighbourIndex(layout());

    assert.equal(index.next("e", "left"), "c");
    assert.equal(index.next("c", "left"), "a");
    assert.equal(index.next("a", "left"), null);
  });

  test("test_up_and_down_stay_in_the_column_and_stop_at_its_ends", () => {
    const index = createNeighbourIndex(layout());

    assert.equal(index.next("c", "down"), "d");
    assert.equal(index.next("d", "up"), "c");
    assert.equal(index.next("c", "up"), null);
    assert.equal(index.next("d", "down"), null);
  });

  test("test_home_and_end_are_the_first_and_last_nodes", () => {
    const index = createNeighbourIndex(layout());

    assert.equal(index.first(), "a");
    assert.equal(index.last(), "e");
  });

  test("test_unknown_node_has_no_neighbour", () => {
    assert.equal(createNeighbourIndex(layout()).next("zz", "down"), null);
  });

  test("test_without_rank_and_order_columns_come_from_geometry", () => {
    const plain = layout();
    plain.nodes = plain.nodes.map((n) => {
      const { rank, order, ...rest } = n;
      return /** @type {typeof n} */ (/** @type {unknown} */ (rest));
    });
    // Move d above c: geometry now says d comes first in its column.
    const d = /** @type {typeof plain.nodes[0]} */ (
      plain.nodes.find((n) => n.id === "d")
    );
    d.y = -70;
    const index = createNeighbourIndex(plain);

    assert.equal(index.next("d", "down"), "c");
    assert.equal(index.next("a", "right"), "d");
    assert.equal(index.first(), "a");
  });
});
