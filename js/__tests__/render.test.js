// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { edgePath, nodeStatusLine, nodeTooltip } from "../widget/render.js";
import { layoutNode } from "./helpers/layout-node.js";

const node = layoutNode("train", {
  label: "Train the model",
  kind: "python",
  width: 200,
});

describe("render helpers", () => {
  test("test_node_status_line_shows_attempt_above_one", () => {
    assert.equal(nodeStatusLine("running", 1), "running");
    assert.equal(nodeStatusLine("running", 2), "running · attempt 2");
  });

  test("test_node_tooltip_holds_full_label_and_error", () => {
    const text = nodeTooltip(node, "failed", 3, "ValueError: bad");

    assert.equal(
      text,
      [
        "Train the model",
        "train · python",
        "failed · attempt 3",
        "Error: ValueError: bad",
      ].join("\n"),
    );
  });

  test("test_edge_path_starts_and_ends_on_route_points", () => {
    const d = edgePath([
      { x: 0, y: 0 },
      { x: 50, y: 10 },
      { x: 100, y: 0 },
    ]);

    assert.ok(d.startsWith("M0,0"));
    assert.ok(d.endsWith(" 100,0"));
    assert.equal(edgePath([]), "");
    // Two points: one curve leaving and entering level, halfway across.
    assert.equal(
      edgePath([
        { x: 0, y: 0 },
        { x: 10, y: 5 },
      ]),
      "M0,0C5,0 5,5 10,5",
    );
  });
});
