// @ts-check
/**
 * How cached and reused phases and derived runs are shown: node text,
 * legend, palette, and the live fold that carries `from_execution` and
 * `derived_from`.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { STATUS_MEANINGS, legendStatuses } from "../widget/legend.js";
import {
  applyEvents,
  stateFromExecution,
  stateFromTraits,
} from "../widget/live-state.js";
import {
  cleanNodeState,
  nodeSpokenText,
  nodeTooltip,
  phaseNodeState,
} from "../widget/paint.js";
import { defaultPalette } from "../widget/palette.js";
import { phaseLabel } from "../widget/run-control.js";
import { PHASE_STATUSES, summarize } from "../widget/state.js";
import { scrollToShow } from "../widget/viewport.js";
import { layoutNode } from "./helpers/layout-node.js";

const SOURCE = "abcd1234ef567890abcd1234ef567890";

describe("cached and reused nodes", () => {
  test("test_node_state_carries_the_execution_a_result_comes_from", () => {
    const node = layoutNode("b");
    const phases = {
      b: { status: "cached", attempt: 0, from_execution: SOURCE },
      c: { status: "completed", attempt: 1, from_execution: null },
    };

    assert.equal(phaseNodeState(phases, node).fromExecution, SOURCE);
    assert.equal(
      "fromExecution" in phaseNodeState(phases, layoutNode("c")),
      false,
    );
    assert.equal(
      cleanNodeState({ status: "cached", fromExecution: SOURCE }).fromExecution,
      SOURCE,
    );
    assert.equal(
      "fromExecution" in cleanNodeState({ fromExecution: 3 }),
      false,
    );
  });

  test("test_tooltip_says_where_the_result_comes_from", () => {
    const node = layoutNode("b", { kind: "python" });

    const text = nodeTooltip(node, "completed", 1, null, SOURCE);

    assert.deepEqual(text.split("\n"), [
      "b",
      "b · python",
      "completed",
      "result from execution abcd1234",
    ]);
    assert.equal(nodeTooltip(node, "completed", 1, null).split("\n").length, 3);
  });

  test("test_screen_readers_hear_cached_and_its_source", () => {
    const node = layoutNode("b", { label: "Load" });

    assert.equal(
      nodeSpokenText(node, {
        status: "cached",
        attempt: 0,
        error: null,
        fromExecution: SOURCE,
      }),
      "Load: cached, not run, result from execution abcd1234",
    );
    assert.equal(
      nodeSpokenText(node, { status: "completed", attempt: 1, error: null }),
      "Load: completed",
    );
  });

  test("test_cached_has_its_own_colour_apart_from_completed", () => {
    const { styles } = defaultPalette();

    assert.notEqual(styles.cached.stroke, styles.completed.stroke);
    assert.notEqual(styles.cached.fill, styles.completed.fill);
    assert.notEqual(styles.cached.icon, styles.completed.icon);
    assert.deepEqual(styles.cached.dash, [2, 3]);
  });
});

describe("legend", () => {
  const workflow = { phases: ["a", "b", "c"].map((id) => ({ id, kind: "" })) };

  test("test_legend_lists_the_statuses_present_cached_apart", () => {
    const summary = summarize(workflow, {
      a: { status: "completed" },
      b: { status: "cached" },
      c: { status: "running" },
    });

    assert.deepEqual(legendStatuses(summary), [
      "running",
      "completed",
      "cached",
    ]);
  });

  test("test_legend_is_empty_before_a_run", () => {
    assert.deepEqual(legendStatuses(summarize(workflow, {})), []);
  });

  test("test_every_status_has_a_meaning", () => {
    for (const status of PHASE_STATUSES) {
      assert.ok(STATUS_MEANINGS[status], status);
    }
  });
});

describe("live fold of derived runs", () => {
  test("test_execution_document_keeps_derived_from_and_from_execution", () => {
    const derived = { execution_id: SOURCE, mode: "downstream", phase_id: "b" };

    const state = stateFromExecution({
      id: "ex2",
      status: "running",
      last_seq: 3,
      derived_from: derived,
      phases: [
        { id: "a", status: "completed", from_execution: SOURCE },
        { id: "b", status: "running", from_execution: null },
      ],
    });

    assert.deepEqual(state.execution.derived_from, derived);
    assert.equal(state.phases.a.from_execution, SOURCE);
  });

  test("test_reused_and_cached_events_set_from_execution_and_times", () => {
    const events = [
      {
        seq: 1,
        at: "2026-01-02T00:00:00Z",
        execution_id: "ex2",
        phase_id: "a",
        status: "completed",
        attempt: 1,
        from_execution: SOURCE,
        started_at: "2026-01-01T00:00:00Z",
        finished_at: "2026-01-01T00:00:05Z",
      },
      {
        seq: 2,
        at: "2026-01-02T00:00:01Z",
        execution_id: "ex2",
        phase_id: "b",
        status: "cached",
        from_execution: SOURCE,
      },
    ];

    const { state } = applyEvents(stateFromTraits("ex2", null, null), events);

    assert.equal(state.phases.a.from_execution, SOURCE);
    assert.equal(state.phases.a.started_at, "2026-01-01T00:00:00Z");
    assert.equal(state.phases.a.finished_at, "2026-01-01T00:00:05Z");
    assert.equal(state.phases.b.status, "cached");
    assert.equal(state.phases.b.from_execution, SOURCE);
    assert.equal(state.phases.b.finished_at, "2026-01-02T00:00:01Z");
  });

  test("test_a_phase_run_again_drops_its_earlier_source", () => {
    const start = stateFromExecution({
      id: "ex2",
      status: "running",
      last_seq: 0,
      phases: [{ id: "b", status: "completed", from_execution: SOURCE }],
    });
    const event = {
      seq: 1,
      at: "2026-01-02T00:00:00Z",
      execution_id: "ex2",
      phase_id: "b",
      status: "running",
      attempt: 1,
    };

    const { state } = applyEvents(start, [event]);

    assert.equal(state.phases.b.from_execution, null);
  });
});

describe("helpers", () => {
  test("test_phase_label_falls_back_to_the_id", () => {
    const workflow = { phases: [{ id: "b", kind: "", label: "Build" }] };

    assert.equal(phaseLabel(workflow, "b"), "Build");
    assert.equal(phaseLabel(workflow, "c"), "c");
    assert.equal(phaseLabel(undefined, "c"), "c");
  });

  test("test_scroll_to_show_moves_the_least", () => {
    const view = {
      scrollLeft: 100,
      scrollTop: 0,
      clientWidth: 200,
      clientHeight: 100,
    };
    const box = (/** @type {number} */ x) => ({
      x,
      y: 10,
      width: 50,
      height: 20,
    });
    const origin = { x: 0, y: 0 };

    assert.deepEqual(scrollToShow(box(150), origin, 1, view), {
      left: 100,
      top: 0,
    });
    assert.deepEqual(scrollToShow(box(20), origin, 1, view), {
      left: 12,
      top: 0,
    });
    assert.deepEqual(scrollToShow(box(300), origin, 1, view), {
      left: 158,
      top: 0,
    });
  });
});
