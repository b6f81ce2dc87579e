// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  collapseGroups,
  groupState,
  workflowGroups,
} from "../widget/groups.js";
import { layoutWorkflow } from "../widget/layout.js";

/** @typedef {import("../widget/state.js").Phase} Phase */
/** @typedef {import("../widget/state.js").Workflow} Workflow */

/**
 * @param {string} id
 * @param {string[]} [after]
 * @param {string} [group]
 * @returns {Phase}
 */
function phase(id, after = [], group = undefined) {
  return group === undefined
    ? { id, kind: "noop", after }
    : { id, kind: "noop", after, group };
}

/**
 * @param {Phase[]} phases
 * @returns {Workflow}
 */
function workflow(phases) {
  return { format: "dagstudio.workflow/1", id: "wf", name: "wf", phases };
}

/**
 * ingest → (clean_a, clean_b in "cleaning") → train → (report_a, report_b
 * in "reports"), with a lone phase in a group of its own.
 */
const pipeline = workflow([
  phase("ingest"),
  phase("clean_a", ["ingest"], "cleaning"),
  phase("clean_b", ["ingest", "clean_a"], "cleaning"),
  phase("train", ["clean_a", "clean_b"]),
  phase("report_a", ["train"], "reports"),
  phase("report_b", ["train", "clean_b"], "reports"),
  phase("notify", ["report_a"], "alone"),
]);

/** @param {Workflow} doc */
function afterOf(doc) {
  return Object.fromEntries((doc.phases ?? []).map((p) => [p.id, p.after]));
}

describe("workflowGroups", () => {
  test("test_workflow_groups_lists_members_in_workflow_order", () => {
    const groups = workflowGroups(pipeline);

    assert.deepEqual(
      [...groups],
      [
        ["cleaning", ["clean_a", "clean_b"]],
        ["reports", ["report_a", "report_b"]],
      ],
    );
  });

  test("test_workflow_groups_skips_malformed_and_duplicate_phases", () => {
    const groups = workflowGroups(
      workflow([
        phase("a", [], "g"),
        phase("a", [], "g"),
        /** @type {any} */ ({ kind: "noop", group: "g" }),
        phase("b", [], ""),
      ]),
    );

    assert.deepEqual([...groups], []);
  });
});

describe("collapseGroups", () => {
  test("test_collapse_groups_redirects_edges_to_the_group_phase", () => {
    const { workflow: collapsed, members } = collapseGroups(
      pipeline,
      new Set(["cleaning"]),
    );

    assert.deepEqual(
      (collapsed.phases ?? []).map((p) => p.id),
      ["ingest", "group:cleaning", "train", "report_a", "report_b", "notify"],
    );
    assert.deepEqual(afterOf(collapsed), {
      ingest: [],
      "group:cleaning": ["ingest"],
      train: ["group:cleaning"],
      report_a: ["train"],
      report_b: ["train", "group:cleaning"],
      notify: ["report_a"],
    });
    assert.deepEqual(
      [...members],
      [["group:cleaning", ["clean_a", "clean_b"]]],
    );
    const group = (collapsed.phases ?? [])[1];
    assert.equal(group.kind, "group");
    assert.equal(group.label, "cleaning");
  });

  test("test_collapse_groups_joins_two_collapsed_groups_once", () => {
    const { workflow: collapsed } = collapseGroups(
      pipeline,
      new Set(["cleaning", "reports", "alone", "no such group"]),
    );

    assert.deepEqual(afterOf(collapsed), {
      ingest: [],
      "group:cleaning": ["ingest"],
      train: ["group:cleaning"],
      "group:reports": ["train", "group:cleaning"],
      notify: ["group:reports"],
    });
  });

  test("test_collapse_groups_leaves_the_input_unchanged", () => {
    const before = structuredClone(pipeline);

    const { workflow: collapsed } = collapseGroups(pipeline, new Set());
    collapseGroups(pipeline, new Set(["cleaning", "reports"]));

    assert.deepEqual(pipeline, before);
    assert.deepEqual(collapsed, before);
  });

  test("test_collapse_groups_id_does_not_clash_with_a_phase", () => {
    const doc = workflow([
      phase("group:g"),
      phase("group:g#2", ["group:g"]),
      phase("a", ["group:g#2"], "g"),
      phase("b", ["a"], "g"),
    ]);

    const { workflow: collapsed, members } = collapseGroups(
      doc,
      new Set(["g"]),
    );

    assert.deepEqual([...members.keys()], ["group:g#3"]);
    assert.deepEqual(afterOf(collapsed), {
      "group:g": [],
      "group:g#2": ["group:g"],
      "group:g#3": ["group:g#2"],
    });
  });

  test("test_collapse_groups_keeps_malformed_dependencies_for_warnings", () => {
    const doc = workflow([
      phase("a", [], "g"),
      phase("b", ["a"], "g"),
      phase("c", ["b", "ghost", "c", "a"]),
    ]);

    const { workflow: collapsed } = collapseGroups(doc, new Set(["g"]));
    const layout = layoutWorkflow(collapsed);

    assert.deepEqual(afterOf(collapsed).c, ["group:g", "ghost", "c"]);
    assert.equal(layout.warnings.length, 2);
  });

  test("test_collapse_groups_cycle_still_lays_out", () => {
    // a → x → b with a and b in one group: collapsed, g → x → g.
    const doc = workflow([
      phase("a", [], "g"),
      phase("x", ["a"]),
      phase("b", ["x"], "g"),
      phase("y", ["b"]),
    ]);

    const { workflow: collapsed } = collapseGroups(doc, new Set(["g"]));
    const layout = layoutWorkflow(collapsed);

    assert.deepEqual(afterOf(collapsed), {
      "group:g": ["x"],
      x: ["group:g"],
      y: ["group:g"],
    });
    assert.equal(layout.nodes.length, 3);
    assert.equal(layout.edges.length, 3);
    assert.match(layout.warnings.join("\n"), /cycle/);
    for (const edge of layout.edges) assert.ok(edge.points.length >= 2);
  });
});

describe("groupState", () => {
  const ids = ["a", "b", "c"];

  test("test_group_state_follows_status_precedence", () => {
    const cases = [
      [{ a: "completed", b: "running", c: "failed" }, "running"],
      [{ a: "completed", b: "queued", c: "failed" }, "failed"],
      [{ a: "completed", b: "queued", c: "pending" }, "queued"],
      [{ a: "completed", b: "cancelled" }, "pending"],
      [{ a: "completed", b: "cancelled", c: "skipped" }, "cancelled"],
      [{ a: "completed", b: "cached", c: "skipped" }, "completed"],
      [{ a: "cached", b: "cached", c: "cached" }, "cached"],
      [{ a: "skipped", b: "skipped", c: "skipped" }, "skipped"],
    ];

    for (const [statuses, expected] of cases) {
      const phases = Object.fromEntries(
        Object.entries(statuses).map(([id, status]) => [id, { status }]),
      );

      assert.equal(groupState(ids, phases).status, expected);
    }
  });

  test("test_group_state_counts_members_and_names_the_failure", () => {
    const state = groupState(ids, {
      a: { status: "completed", attempt: 1 },
      b: { status: "failed", attempt: 3, error: "ValueError: bad row" },
      c: { status: "bogus" },
    });

    assert.deepEqual(state, {
      status: "failed",
      attempt: 3,
      error: "b: ValueError: bad row",
      counts: { completed: 1, failed: 1, pending: 1 },
    });
  });

  test("test_group_state_of_nothing_run_is_pending", () => {
    assert.equal(groupState(ids, {}).status, "pending");
    assert.equal(groupState([], null).status, "pending");
  });
});
