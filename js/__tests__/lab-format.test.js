// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  FIRST_RUN_EXAMPLE,
  matchesFilter,
  progressText,
  toRow,
} from "../lab/format.js";

/** @param {Record<string, unknown>} fields */
function summary(fields) {
  return {
    id: "ex-1",
    name: "nightly",
    status: "running",
    owner: "ada",
    created_at: "2026-01-02T03:04:00+00:00",
    started_at: "2026-01-02T03:04:05+00:00",
    finished_at: null,
    error: null,
    progress: {
      total: 4,
      pending: 1,
      queued: 0,
      running: 1,
      completed: 1,
      failed: 0,
      skipped: 0,
      cancelled: 0,
      cached: 1,
    },
    ...fields,
  };
}

describe("sidebar rows", () => {
  test("test_progress_counts_finished_phases_of_the_total", () => {
    assert.equal(progressText(summary({}).progress), "2 / 4");
  });

  test("test_progress_is_empty_without_phase_counts", () => {
    assert.equal(progressText(undefined), "");
    assert.equal(progressText({ total: 0 }), "");
  });

  test("test_row_of_a_running_execution_times_up_to_now", () => {
    const now = Date.parse("2026-01-02T03:06:10+00:00");

    const row = toRow(summary({}), now);

    assert.equal(row.name, "nightly");
    assert.equal(row.status, "running");
    assert.equal(row.icon, "◐");
    assert.equal(row.progress, "2 / 4");
    assert.equal(row.owner, "ada");
    assert.equal(row.duration, "2m 05s");
  });

  test("test_row_of_a_finished_execution_times_to_its_end", () => {
    const row = toRow(
      summary({
        status: "completed",
        finished_at: "2026-01-02T03:04:09+00:00",
      }),
      Date.parse("2026-01-03T00:00:00+00:00"),
    );

    assert.equal(row.icon, "✓");
    assert.equal(row.statusText, "completed");
    assert.equal(row.duration, "4s");
  });

  test("test_row_of_a_pending_execution_has_no_start_nor_duration", () => {
    const row = toRow(summary({ status: "pending", started_at: null }), 0);

    assert.equal(row.started, "—");
    assert.equal(row.duration, "");
  });

  test("test_row_falls_back_to_the_id_without_a_name", () => {
    assert.equal(toRow(summary({ name: "" }), 0).name, "ex-1");
  });
});

describe("empty state", () => {
  test("test_first_run_example_is_three_lines_of_python", () => {
    const lines = FIRST_RUN_EXAMPLE.split("\n");

    assert.equal(lines.length, 3);
    assert.match(lines[0], /^from dagstudio_jupyter import /);
    assert.match(lines[2], /submit\(/);
  });
});

test("test_filter_matches_status_and_text_in_name_id_or_owner", () => {
  const execution = {
    id: "abc123",
    name: "Nightly ETL",
    status: "failed",
    owner: "ana",
  };

  assert.equal(matchesFilter(execution, "", ""), true);
  assert.equal(matchesFilter(execution, "etl", ""), true);
  assert.equal(matchesFilter(execution, " ABC1 ", "failed"), true);
  assert.equal(matchesFilter(execution, "ana", ""), true);
  assert.equal(matchesFilter(execution, "", "completed"), false);
  assert.equal(matchesFilter(execution, "weekly", ""), false);
});
