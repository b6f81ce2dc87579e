// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { findPhases, matchCountText } from "../widget/search.js";
import { layoutNode } from "./helpers/layout-node.js";

/** @param {[string, string][]} pairs id and label */
function layout(pairs) {
  return {
    nodes: pairs.map(([id, label], i) =>
      layoutNode(id, { label, y: i * 60, order: i }),
    ),
    edges: [],
    width: 200,
    height: pairs.length * 60,
    warnings: [],
  };
}

const phases = layout([
  ["retrain", "Retrain the model"],
  ["train-eval", "Evaluate training"],
  ["load", "Load data"],
  ["train", "Train"],
  ["x1", "Pre-train checks"],
]);

describe("findPhases", () => {
  test("test_exact_then_prefix_then_substring_in_layout_order", () => {
    const ids = findPhases(phases, "train").map((n) => n.id);

    assert.deepEqual(ids, ["train", "train-eval", "retrain", "x1"]);
  });

  test("test_matching_ignores_case_and_reads_ids_too", () => {
    assert.deepEqual(
      findPhases(phases, "  LOAD ").map((n) => n.id),
      ["load"],
    );
    assert.deepEqual(
      findPhases(phases, "X1").map((n) => n.id),
      ["x1"],
    );
  });

  test("test_empty_query_finds_nothing", () => {
    assert.deepEqual(findPhases(phases, ""), []);
    assert.deepEqual(findPhases(phases, "   "), []);
    assert.deepEqual(findPhases(null, "train"), []);
  });

  test("test_limit_keeps_the_best_matches", () => {
    const ids = findPhases(phases, "train", 2).map((n) => n.id);

    assert.deepEqual(ids, ["train", "train-eval"]);
  });

  test("test_match_count_text", () => {
    assert.equal(matchCountText("", 0, -1), "");
    assert.equal(matchCountText("zz", 0, -1), "No match");
    assert.equal(matchCountText("train", 12, 2), "3 of 12");
  });
});
