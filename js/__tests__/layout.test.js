// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  LABEL_MAX_UNITS,
  LONGEST_PATH_ABOVE,
  chooseRanker,
  layoutWorkflow,
  truncateLabel,
} from "../widget/layout.js";

/** @typedef {import("../widget/layout.js").Layout} Layout */
/** @typedef {import("../widget/layout.js").LayoutNode} LayoutNode */

/**
 * @param {string} id
 * @param {string[]} [after]
 * @param {string} [label]
 */
function phase(id, after = [], label = undefined) {
  return label === undefined
    ? { id, kind: "noop", after }
    : { id, kind: "noop", after, label };
}

/** @param {ReturnType<typeof phase>[]} phases */
function workflow(phases) {
  return { format: "dagstudio.workflow/1", id: "wf", name: "wf", phases };
}

/**
 * A layered graph: `layers` ranks of `width` phases, each after two phases
 * of the rank before.
 * @param {number} layers
 * @param {number} width
 */
function layeredWorkflow(layers, width) {
  const phases = [];
  for (let layer = 0; layer < layers; layer += 1) {
    for (let i = 0; i < width; i += 1) {
      const after =
        layer === 0
          ? []
          : [`p${layer - 1}-${i}`, `p${layer - 1}-${(i * 7 + 3) % width}`];
      phases.push(phase(`p${layer}-${i}`, [...new Set(after)]));
    }
  }
  return workflow(phases);
}

/**
 * @param {LayoutNode} a
 * @param {LayoutNode} b
 */
function overlaps(a, b) {
  return (
    a.x < b.x + b.width &&
    b.x < a.x + a.width &&
    a.y < b.y + b.height &&
    b.y < a.y + a.height
  );
}

/** @param {Layout} layout */
function assertNoOverlap(layout) {
  // Sort by x so only boxes that can meet on the x axis are compared.
  const nodes = [...layout.nodes].sort((a, b) => a.x - b.x);
  for (let i = 0; i < nodes.length; i += 1) {
    for (let j = i + 1; j < nodes.length; j += 1) {
      if (nodes[j].x >= nodes[i].x + nodes[i].width) break;
      assert.ok(
        !overlaps(nodes[i], nodes[j]),
        `${nodes[i].id} overlaps ${nodes[j].id}`,
      );
    }
  }
}

/** @param {Layout} layout */
function assertEdgesLeftToRight(layout) {
  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  for (const edge of layout.edges) {
    const from = byId.get(edge.from);
    const to = byId.get(edge.to);
    assert.ok(from && to, `edge ${edge.from} → ${edge.to} has its nodes`);
    assert.ok(
      from.x + from.width <= to.x,
      `edge ${edge.from} → ${edge.to} goes left to right`,
    );
    assert.ok(edge.points.length >= 2, "edge has a route");
    assert.ok(edge.points[0].x < edge.points[edge.points.length - 1].x);
  }
}

/** @param {Layout} layout */
function assertInsideDrawing(layout) {
  for (const node of layout.nodes) {
    assert.ok(Number.isFinite(node.x) && Number.isFinite(node.y), node.id);
    assert.ok(node.x >= 0 && node.y >= 0, `${node.id} inside the drawing`);
    assert.ok(node.x + node.width <= layout.width, `${node.id} fits width`);
    assert.ok(node.y + node.height <= layout.height, `${node.id} fits height`);
  }
}

describe("layoutWorkflow", () => {
  const diamond = workflow([
    phase("load"),
    phase("clean", ["load"]),
    phase("features", ["load"]),
    phase("train", ["clean", "features"]),
    phase("report", ["train"], "Build the report"),
  ]);

  test("test_layout_places_every_phase", () => {
    const layout = layoutWorkflow(diamond);

    assert.deepEqual(
      layout.nodes.map((n) => n.id),
      ["load", "clean", "features", "train", "report"],
    );
    assertInsideDrawing(layout);
    assert.deepEqual(layout.warnings, []);
  });

  test("test_layout_edges_go_left_to_right", () => {
    const layout = layoutWorkflow(diamond);

    assert.equal(layout.edges.length, 5);
    assertEdgesLeftToRight(layout);
  });

  test("test_layout_boxes_do_not_overlap", () => {
    const layout = layoutWorkflow(diamond);

    assertNoOverlap(layout);
  });

  test("test_layout_uses_label_else_id", () => {
    const layout = layoutWorkflow(diamond);
    const byId = new Map(layout.nodes.map((n) => [n.id, n]));

    assert.equal(byId.get("report")?.label, "Build the report");
    assert.equal(byId.get("load")?.label, "load");
  });

  test("test_layout_truncates_long_unicode_labels", () => {
    const long = "数据准备和模型训练之后的最终评估报告与图表生成步骤";
    const emoji =
      "🚀 Déploiement du modèle 👩‍👩‍👧‍👦 en production, région Île-de-France";
    const layout = layoutWorkflow(
      workflow([phase("a", [], long), phase("b", ["a"], emoji)]),
    );
    const [a, b] = layout.nodes;

    for (const node of [a, b]) {
      assert.ok(node.truncated, `${node.id} is truncated`);
      assert.ok(node.text.endsWith("…"), node.text);
      assert.ok(node.text.length < node.label.length);
      assert.ok(node.label.startsWith(node.text.slice(0, -1)));
    }
    assert.ok(!b.text.includes("\u200d…"), "no half family emoji");
  });

  test("test_layout_keeps_going_when_document_is_malformed", () => {
    const layout = layoutWorkflow({
      phases: [
        phase("a"),
        phase("a"),
        /** @type {any} */ ({ kind: "noop" }),
        phase("b", ["a", "ghost", "b"]),
      ],
    });

    assert.deepEqual(
      layout.nodes.map((n) => n.id),
      ["a", "b"],
    );
    assert.deepEqual(
      layout.edges.map((e) => [e.from, e.to]),
      [["a", "b"]],
    );
    assert.equal(layout.warnings.length, 4);
  });

  test("test_layout_of_empty_workflow_is_empty", () => {
    for (const doc of [workflow([]), {}, null, undefined]) {
      const layout = layoutWorkflow(doc);

      assert.deepEqual(layout.nodes, []);
      assert.deepEqual(layout.edges, []);
    }
  });

  test("test_layout_lays_out_disconnected_phases", () => {
    const layout = layoutWorkflow(
      workflow([phase("a"), phase("b"), phase("c", ["a"]), phase("d")]),
    );

    assert.equal(layout.nodes.length, 4);
    assertNoOverlap(layout);
    assertEdgesLeftToRight(layout);
  });

  test("test_layout_lays_out_1000_node_layered_graph", () => {
    const doc = layeredWorkflow(50, 20);

    const layout = layoutWorkflow(doc);

    assert.equal(layout.nodes.length, 1000);
    assert.equal(layout.edges.length, 49 * 20 * 2);
    assertInsideDrawing(layout);
    assertNoOverlap(layout);
    assertEdgesLeftToRight(layout);
  });
});

describe("chooseRanker", () => {
  test("test_choose_ranker_switches_to_longest_path_for_big_graphs", () => {
    assert.equal(chooseRanker(10), "network-simplex");
    assert.equal(chooseRanker(LONGEST_PATH_ABOVE), "network-simplex");
    assert.equal(chooseRanker(LONGEST_PATH_ABOVE + 1), "longest-path");
  });
});

describe("truncateLabel", () => {
  test("test_truncate_label_keeps_short_text", () => {
    assert.equal(truncateLabel("train model"), "train model");
  });

  test("test_truncate_label_collapses_whitespace", () => {
    assert.equal(truncateLabel("  train \n model "), "train model");
  });

  test("test_truncate_label_cuts_latin_text_to_the_limit", () => {
    const text = "a".repeat(LABEL_MAX_UNITS + 5);

    const cut = truncateLabel(text);

    assert.equal(cut, `${"a".repeat(LABEL_MAX_UNITS - 1)}…`);
  });

  test("test_truncate_label_counts_wide_characters_double", () => {
    const cut = truncateLabel("漢".repeat(20), 10);

    assert.equal(cut, `${"漢".repeat(4)}…`);
  });

  test("test_truncate_label_never_splits_a_grapheme", () => {
    const family = "👨‍👩‍👧‍👦";

    const cut = truncateLabel(family.repeat(10), 7);

    assert.equal(cut, `${family.repeat(3)}…`);
  });
});
