// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  elapsedBetween,
  executionElapsed,
  executionStatus,
  finishedRunMessage,
  formatElapsed,
  formatSummary,
  interruptedRun,
  isExecutionLive,
  missingRun,
  phaseAttempt,
  phaseStatus,
  statusIcon,
  statusText,
  summarize,
  PHASE_STATUSES,
} from "../widget/state.js";

const workflow = {
  format: "dagstudio.workflow/1",
  id: "wf",
  name: "wf",
  phases: ["a", "b", "c", "d", "e", "f"].map((id) => ({
    id,
    kind: "noop",
    after: [],
  })),
};

describe("summary", () => {
  test("test_summarize_counts_missing_states_as_pending", () => {
    const summary = summarize(workflow, {
      a: { status: "completed", attempt: 1 },
      b: { status: "running", attempt: 1 },
      c: { status: "failed", attempt: 2, error: "boom" },
      x: { status: "completed" },
    });

    assert.equal(summary.total, 6);
    assert.equal(summary.counts.completed, 1);
    assert.equal(summary.counts.running, 1);
    assert.equal(summary.counts.failed, 1);
    assert.equal(summary.counts.pending, 3);
  });

  test("test_summarize_treats_unknown_status_as_pending", () => {
    const summary = summarize(workflow, { a: { status: "exploded" } });

    assert.equal(summary.counts.pending, 6);
  });

  test("test_format_summary_shows_core_counts", () => {
    const text = formatSummary(summarize(workflow, {}));

    assert.equal(text, "0/6 completed · 0 running · 0 failed");
  });

  test("test_format_summary_adds_skipped_and_cancelled_when_non_zero", () => {
    const text = formatSummary(
      summarize(workflow, {
        a: { status: "completed" },
        b: { status: "completed" },
        c: { status: "failed" },
        d: { status: "skipped" },
        e: { status: "skipped" },
        f: { status: "cancelled" },
      }),
    );

    assert.equal(
      text,
      "2/6 completed · 0 running · 1 failed · 2 skipped · 1 cancelled",
    );
  });

  test("test_format_summary_of_no_phases", () => {
    assert.equal(formatSummary(summarize({ phases: [] }, {})), "No phases");
  });
});

describe("phase and execution status", () => {
  test("test_phase_status_defaults_to_pending", () => {
    assert.equal(phaseStatus({}, "a"), "pending");
    assert.equal(phaseStatus(null, "a"), "pending");
    assert.equal(phaseStatus({ a: { status: "cached" } }, "a"), "cached");
  });

  test("test_phase_attempt_is_a_non_negative_integer", () => {
    assert.equal(phaseAttempt({}, "a"), 0);
    assert.equal(phaseAttempt({ a: { attempt: 3 } }, "a"), 3);
    assert.equal(phaseAttempt({ a: { attempt: -1 } }, "a"), 0);
  });

  test("test_execution_status_of_empty_execution_is_none", () => {
    assert.equal(executionStatus({}), "none");
    assert.equal(executionStatus({ status: "running" }), "running");
  });

  test("test_every_status_has_icon_and_text", () => {
    for (const status of [...PHASE_STATUSES, "interrupted", "none"]) {
      assert.notEqual(statusIcon(status), "?", status);
      assert.ok(statusText(status).length > 0, status);
    }
  });
});

describe("elapsed time", () => {
  test("test_format_elapsed", () => {
    assert.equal(formatElapsed(0), "0s");
    assert.equal(formatElapsed(999), "0s");
    assert.equal(formatElapsed(42_000), "42s");
    assert.equal(formatElapsed(185_000), "3m 05s");
    assert.equal(formatElapsed(3_600_000 + 185_000), "1h 03m 05s");
    assert.equal(formatElapsed(-5), "0s");
  });

  test("test_elapsed_of_finished_execution_is_fixed", () => {
    const execution = {
      id: "e1",
      status: "completed",
      started_at: "2025-01-01T10:00:00Z",
      finished_at: "2025-01-01T10:01:05.500Z",
    };

    assert.equal(executionElapsed(execution, Date.now()), 65_500);
    assert.equal(isExecutionLive(execution), false);
  });

  test("test_elapsed_of_running_execution_follows_now", () => {
    const execution = {
      id: "e1",
      status: "running",
      started_at: "2025-01-01T10:00:00Z",
      finished_at: null,
    };
    const start = Date.parse("2025-01-01T10:00:00Z");

    assert.equal(executionElapsed(execution, start + 7_000), 7_000);
    assert.equal(isExecutionLive(execution), true);
  });

  test("test_elapsed_is_unknown_without_start", () => {
    assert.equal(executionElapsed({}, Date.now()), null);
    assert.equal(elapsedBetween("not a time", null, true, 0), null);
  });

  test("test_elapsed_never_negative_when_clocks_disagree", () => {
    const start = Date.parse("2025-01-01T10:00:00Z");

    assert.equal(
      elapsedBetween("2025-01-01T10:00:00Z", null, true, start - 500),
      0,
    );
  });
});

describe("finished run message", () => {
  test("test_finished_run_message_names_failed_phase_and_error", () => {
    const message = finishedRunMessage(
      "failed",
      { phases: [{ id: "a", kind: "noop", label: "Load data" }] },
      { a: { status: "failed", error: "FileNotFoundError: x.csv" } },
      { status: "failed" },
    );

    assert.deepEqual(message, {
      level: "error",
      text: "Workflow failed at phase Load data: FileNotFoundError: x.csv",
    });
  });

  test("test_finished_run_message_of_completed_run", () => {
    assert.deepEqual(finishedRunMessage("completed", workflow, {}, {}), {
      level: "success",
      text: "Workflow completed",
    });
  });

  test("test_finished_run_message_falls_back_to_execution_error", () => {
    const message = finishedRunMessage(
      "failed",
      workflow,
      {},
      {
        error: "runner crashed",
      },
    );

    assert.equal(message?.text, "Workflow failed: runner crashed");
  });
});

describe("kernel restart", () => {
  const AT = "2026-01-01T00:05:00.000Z";

  test("test_interrupted_run_marks_running_and_queued_phases", () => {
    const phases = {
      a: { status: "completed", attempt: 1, finished_at: "t1" },
      b: { status: "running", attempt: 2, started_at: "t2" },
      c: { status: "queued", attempt: 0 },
      d: { status: "pending", attempt: 0 },
      e: { status: "failed", attempt: 1, error: "boom" },
    };

    const result = interruptedRun(
      { id: "ex1", status: "running", started_at: "t0", last_seq: 9 },
      phases,
      AT,
    );

    assert.ok(result);
    assert.equal(result.execution.status, "interrupted");
    assert.equal(result.execution.finished_at, AT);
    assert.equal(result.execution.id, "ex1");
    assert.equal(result.execution.last_seq, 9);
    assert.deepEqual(
      Object.fromEntries(
        Object.entries(result.phases).map(([id, p]) => [id, p.status]),
      ),
      {
        a: "completed",
        b: "interrupted",
        c: "interrupted",
        d: "pending",
        e: "failed",
      },
    );
    assert.equal(result.phases.b.attempt, 2);
    assert.equal(result.phases.b.finished_at, AT);
    assert.equal(phases.b.status, "running", "the input is left alone");
  });

  test("test_interrupted_run_shows_as_interrupted_and_stops_the_clock", () => {
    const result = interruptedRun(
      { id: "ex1", status: "running", started_at: "2026-01-01T00:00:00Z" },
      { b: { status: "running" } },
      AT,
    );

    assert.ok(result);
    assert.equal(executionStatus(result.execution), "interrupted");
    assert.equal(phaseStatus(result.phases, "b"), "interrupted");
    assert.equal(isExecutionLive(result.execution), false);
    assert.equal(executionElapsed(result.execution, Date.now()), 300000);
  });

  test("test_interrupted_run_of_a_pending_run", () => {
    const result = interruptedRun({ id: "ex1", status: "pending" }, {}, AT);

    assert.equal(result?.execution.status, "interrupted");
  });

  test("test_interrupted_run_leaves_finished_or_absent_runs_alone", () => {
    for (const status of ["completed", "failed", "cancelled", "interrupted"]) {
      assert.equal(interruptedRun({ id: "ex1", status }, {}, AT), null, status);
    }
    assert.equal(interruptedRun({}, {}, AT), null);
    assert.equal(interruptedRun(null, null, AT), null);
  });

  test("test_summary_counts_interrupted_phases", () => {
    const summary = summarize(workflow, {
      a: { status: "completed" },
      b: { status: "interrupted" },
    });

    assert.equal(summary.counts.interrupted, 1);
    assert.equal(
      formatSummary(summary),
      "1/6 completed · 0 running · 0 failed · 1 interrupted",
    );
  });
});

test("a run the server no longer knows stops looking as if it runs", () => {
  const at = "2026-01-01T00:00:05Z";
  const stopped = missingRun(
    { id: "e1", status: "running", started_at: "2026-01-01T00:00:00Z" },
    {
      a: { status: "completed" },
      b: { status: "running" },
      c: { status: "queued" },
    },
    at,
  );

  assert.ok(stopped);
  assert.equal(stopped.execution.status, "missing");
  assert.equal(executionStatus(stopped.execution), "missing");
  assert.equal(isExecutionLive(stopped.execution), false);
  assert.equal(statusText("missing"), "not found");
  assert.deepEqual(
    Object.values(stopped.phases).map((p) => p.status),
    ["completed", "interrupted", "interrupted"],
  );
  assert.equal(missingRun({ id: "e1", status: "completed" }, {}, at), null);
});
