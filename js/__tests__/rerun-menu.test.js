// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  derivedText,
  fromExecutionText,
  missingUpstream,
  readDerivedFrom,
  rerunItems,
  rerunMessage,
  rerunRequest,
  shortId,
} from "../widget/rerun.js";

/** @typedef {import("../widget/rerun.js").MenuContext} MenuContext */

const SOURCE = "abcd1234ef567890abcd1234ef567890";
// a → b → c, and an unrelated x → y.
const WORKFLOW = {
  phases: [
    { id: "a", kind: "noop" },
    { id: "b", kind: "noop", after: ["a"] },
    { id: "c", kind: "noop", after: ["b"] },
    { id: "x", kind: "noop" },
    { id: "y", kind: "noop", after: ["x"] },
  ],
};

/**
 * @param {Record<string, string>} statuses
 * @returns {Record<string, { status: string }>}
 */
function states(statuses) {
  return Object.fromEntries(
    Object.entries(statuses).map(([id, status]) => [id, { status }]),
  );
}

const ALL_COMPLETED = states({
  a: "completed",
  b: "completed",
  c: "completed",
  x: "completed",
  y: "completed",
});

/**
 * @param {Partial<MenuContext>} [overrides]
 * @returns {MenuContext}
 */
function context(overrides = {}) {
  return {
    execution: { id: SOURCE, status: "completed" },
    phases: ALL_COMPLETED,
    workflow: WORKFLOW,
    phaseId: "b",
    ...overrides,
  };
}

/** @param {ReturnType<typeof rerunItems>} items */
function summary(items) {
  return items.map((item) => [item.id, item.enabled]);
}

describe("menu items", () => {
  test("test_menu_offers_phase_and_downstream_after_a_completed_run", () => {
    const items = rerunItems(context());

    assert.deepEqual(summary(items), [
      ["phase", true],
      ["downstream", true],
    ]);
    assert.deepEqual(
      items.map((item) => item.label),
      ["Run this phase", "Run this and downstream"],
    );
    assert.match(items[1].title, /'b' and every phase after it/);
  });

  test("test_menu_texts_use_the_phase_label_when_given", () => {
    const items = rerunItems(context({ label: "Build the model" }));

    assert.match(items[0].title, /Run 'Build the model' again/);
  });

  for (const status of ["failed", "cancelled"]) {
    test(`test_menu_offers_resume_when_the_run_is_${status}`, () => {
      const phases = states({ a: "completed", b: "completed", c: status });

      const items = rerunItems(
        context({ execution: { id: SOURCE, status }, phases }),
      );

      assert.deepEqual(summary(items), [
        ["phase", true],
        ["downstream", true],
        ["resume", true],
      ]);
      assert.equal(items[2].label, "Resume from failure");
    });
  }

  for (const status of ["running", "pending"]) {
    test(`test_menu_items_are_disabled_with_a_reason_while_${status}`, () => {
      const items = rerunItems(context({ execution: { id: SOURCE, status } }));

      assert.deepEqual(summary(items), [
        ["phase", false],
        ["downstream", false],
      ]);
      for (const item of items) {
        assert.match(item.title, /still going/);
      }
    });
  }

  test("test_menu_items_are_disabled_before_anything_ran", () => {
    for (const execution of [null, {}, { status: "completed" }]) {
      const items = rerunItems(context({ execution, phases: {} }));

      assert.deepEqual(summary(items), [
        ["phase", false],
        ["downstream", false],
      ]);
      assert.match(items[0].title, /Nothing has run yet/);
    }
  });

  test("test_menu_items_are_disabled_for_a_run_the_page_lost", () => {
    /** @type {[string, RegExp][]} */
    const cases = [
      ["interrupted", /kernel .* restarted/],
      ["missing", /no longer on the server/],
    ];
    for (const [status, reason] of cases) {
      const items = rerunItems(context({ execution: { id: SOURCE, status } }));

      assert.equal(items[0].enabled, false);
      assert.match(items[0].title, reason);
    }
  });

  test("test_menu_items_are_disabled_while_a_rerun_is_starting", () => {
    const items = rerunItems(context({ busy: true }));

    assert.deepEqual(summary(items), [
      ["phase", false],
      ["downstream", false],
    ]);
    assert.match(items[0].title, /Starting/);
  });

  test("test_running_blocks_resume_too", () => {
    // A failed run whose resume is going already shows as running again.
    const items = rerunItems(
      context({ execution: { id: SOURCE, status: "running" } }),
    );

    assert.equal(
      items.some((item) => item.id === "resume"),
      false,
    );
  });

  test("test_a_group_node_cannot_be_run_as_one_phase", () => {
    const items = rerunItems(
      context({ phaseId: "group:etl", isGroup: true, phases: {} }),
    );

    assert.deepEqual(summary(items), [
      ["phase", false],
      ["downstream", false],
    ]);
    assert.match(items[0].title, /expand it/);
  });

  test("test_a_phase_whose_upstream_failed_cannot_run_alone", () => {
    const phases = states({ a: "failed", b: "skipped", c: "skipped" });

    const items = rerunItems(
      context({ execution: { id: SOURCE, status: "failed" }, phases }),
    );

    assert.deepEqual(summary(items), [
      ["phase", false],
      ["downstream", false],
      ["resume", true],
    ]);
    assert.match(items[0].title, /Needs the result of 'a'/);
  });

  test("test_cached_upstream_counts_as_done", () => {
    const phases = states({ a: "cached", b: "completed", c: "completed" });

    const items = rerunItems(context({ phases }));

    assert.equal(items[0].enabled, true);
  });
});

describe("upstream a re-run needs", () => {
  test("test_missing_upstream_of_one_phase_is_its_parents_not_done", () => {
    const phases = states({ a: "failed" });

    assert.deepEqual(missingUpstream(WORKFLOW, phases, "b", "phase"), ["a"]);
    assert.deepEqual(missingUpstream(WORKFLOW, phases, "a", "phase"), []);
  });

  test("test_downstream_needs_the_parents_outside_the_selection_only", () => {
    // c also needs z, which is not downstream of b.
    const workflow = {
      phases: [
        { id: "a", kind: "noop" },
        { id: "b", kind: "noop", after: ["a"] },
        { id: "z", kind: "noop" },
        { id: "c", kind: "noop", after: ["b", "z"] },
      ],
    };
    const phases = states({ a: "completed", b: "failed", z: "cancelled" });

    assert.deepEqual(missingUpstream(workflow, phases, "b", "downstream"), [
      "z",
    ]);
    assert.deepEqual(missingUpstream(workflow, phases, "c", "phase"), [
      "b",
      "z",
    ]);
  });

  test("test_missing_upstream_ignores_malformed_documents", () => {
    assert.deepEqual(missingUpstream(null, null, "b", "downstream"), []);
    assert.deepEqual(
      missingUpstream(
        /** @type {any} */ ({ phases: [null, { id: "b", after: "a" }] }),
        {},
        "b",
        "phase",
      ),
      [],
    );
  });
});

describe("requests", () => {
  test("test_kernel_message_names_mode_and_phase", () => {
    assert.deepEqual(rerunMessage("downstream", "b"), {
      type: "rerun",
      mode: "downstream",
      phase_id: "b",
    });
    assert.deepEqual(rerunMessage("phase", "b"), {
      type: "rerun",
      mode: "phase",
      phase_id: "b",
    });
  });

  test("test_a_resume_names_no_phase", () => {
    assert.deepEqual(rerunMessage("resume", "b"), {
      type: "rerun",
      mode: "resume",
      phase_id: null,
    });
    assert.deepEqual(rerunRequest(SOURCE, "resume", "b").body, {
      mode: "resume",
      phase_id: null,
    });
  });

  test("test_server_request_posts_to_the_followed_execution", () => {
    assert.deepEqual(rerunRequest(SOURCE, "downstream", "b"), {
      method: "POST",
      parts: ["executions", SOURCE, "rerun"],
      body: { mode: "downstream", phase_id: "b" },
    });
  });
});

describe("derived run texts", () => {
  test("test_derived_link_text_for_each_mode", () => {
    const cases = [
      ["phase", "b", "Derived from abcd1234 · ran 'b'"],
      ["downstream", "b", "Derived from abcd1234 · ran 'b' and downstream"],
      ["resume", null, "Derived from abcd1234 · resumed from failure"],
    ];
    for (const [mode, phase, text] of cases) {
      const derived = readDerivedFrom({
        execution_id: SOURCE,
        mode,
        phase_id: phase,
      });

      assert.ok(derived);
      assert.equal(derivedText(derived), text);
    }
  });

  test("test_derived_link_text_uses_the_label_given", () => {
    const derived = readDerivedFrom({
      execution_id: SOURCE,
      mode: "downstream",
      phase_id: "b",
    });

    assert.ok(derived);
    assert.equal(
      derivedText(derived, (id) => `Phase ${id.toUpperCase()}`),
      "Derived from abcd1234 · ran 'Phase B' and downstream",
    );
  });

  test("test_read_derived_from_refuses_malformed_values", () => {
    for (const value of [
      null,
      undefined,
      "abc",
      {},
      { execution_id: "", mode: "phase" },
      { execution_id: SOURCE, mode: "everything" },
      { execution_id: 3, mode: "phase" },
    ]) {
      assert.equal(readDerivedFrom(value), null);
    }
    assert.deepEqual(
      readDerivedFrom({ execution_id: SOURCE, mode: "resume", phase_id: 7 }),
      { executionId: SOURCE, mode: "resume", phaseId: null },
    );
  });

  test("test_result_from_another_execution_names_its_short_id", () => {
    assert.equal(shortId(SOURCE), "abcd1234");
    assert.equal(fromExecutionText(SOURCE), "result from execution abcd1234");
  });
});
