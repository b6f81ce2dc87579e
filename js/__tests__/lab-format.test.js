// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  FIRST_RUN_EXAMPLE,
  actionsFor,
  matchesFilter,
  progressText,
  shortTitle,
  toRow,
  troubleText,
} from "../lab/format.js";
import { ExecutionsService, PAGE_SIZE, errorText } from "../lab/service.js";

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
  test("test_progress_counts_completed_and_cached_phases_of_the_total", () => {
    assert.equal(progressText(summary({}).progress), "2 / 4");
  });

  test("test_progress_does_not_count_failed_or_skipped_phases_as_done", () => {
    const progress = {
      ...summary({}).progress,
      pending: 0,
      running: 0,
      cached: 0,
      failed: 1,
      skipped: 2,
    };

    assert.equal(progressText(progress), "1 / 4");
    assert.equal(troubleText(progress), "1 failed, 2 skipped");
    assert.equal(troubleText(summary({}).progress), "");
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

  test("test_row_falls_back_to_the_id_without_a_visible_name", () => {
    assert.equal(toRow(summary({ name: "" }), 0).name, "ex-1");
    assert.equal(toRow(summary({ name: "   " }), 0).name, "ex-1");
    assert.equal(toRow(summary({ name: " etl " }), 0).name, "etl");
  });

  test("test_row_carries_the_error_of_a_failed_execution", () => {
    const row = toRow(
      summary({ status: "failed", error: "phase 'b' failed" }),
      0,
    );

    assert.equal(row.error, "phase 'b' failed");
    assert.equal(toRow(summary({}), 0).error, "");
  });

  test("test_short_title_cuts_long_names_with_an_ellipsis", () => {
    assert.equal(shortTitle("nightly"), "nightly");
    const cut = shortTitle("x".repeat(500));

    assert.equal([...cut].length, 60);
    assert.ok(cut.endsWith("…"));
  });
});

describe("empty state", () => {
  test("test_first_run_example_is_four_short_lines_of_python", () => {
    const lines = FIRST_RUN_EXAMPLE.split("\n");

    assert.equal(lines.length, 4);
    assert.match(lines[0], /^from dagstudio_jupyter import /);
    assert.match(lines[3], /submit\(/);
    // Short enough for the sidebar at its default width.
    assert.ok(
      lines.every((line) => line.length <= 50),
      FIRST_RUN_EXAMPLE,
    );
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

test("test_actions_follow_what_the_server_accepts_in_each_status", () => {
  const table = {
    pending: { cancel: true, retry: false, remove: false },
    running: { cancel: true, retry: false, remove: false },
    completed: { cancel: false, retry: false, remove: true },
    failed: { cancel: false, retry: true, remove: true },
    cancelled: { cancel: false, retry: true, remove: true },
    interrupted: { cancel: false, retry: false, remove: false },
  };

  for (const [status, expected] of Object.entries(table)) {
    assert.deepEqual(actionsFor(status), expected, status);
  }
});

test("test_error_text_keeps_the_server_message_only", () => {
  const error = new Error(
    "[dagstudio] POST executions/ex-1/cancel: 409 execution 'ex-1' is completed, not running",
  );

  assert.equal(errorText(error), "execution 'ex-1' is completed, not running");
  assert.equal(
    errorText(new Error("[dagstudio] GET executions: server unreachable")),
    "server unreachable",
  );
});

describe("list", () => {
  /** @type {typeof fetch} */
  let realFetch;

  /**
   * Serve `total` executions, newest first, in pages; record the URLs.
   * @param {number} total
   */
  function serve(total) {
    /** @type {string[]} */
    const urls = [];
    globalThis.fetch = /** @type {typeof fetch} */ (
      async (/** @type {string} */ url) => {
        urls.push(url);
        const query = new URL(url, "http://127.0.0.1").searchParams;
        const from = Number(query.get("cursor") ?? 0);
        const limit = Number(query.get("limit"));
        const ids = [];
        for (let i = from; i < Math.min(from + limit, total); i += 1) {
          ids.push({ id: `ex-${i}`, name: "", status: "completed", owner: "" });
        }
        const next = from + limit < total ? String(from + limit) : null;
        const body = JSON.stringify({ executions: ids, next_cursor: next });
        return new Response(body, { status: 200 });
      }
    );
    return urls;
  }

  const doc = /** @type {Document} */ (
    /** @type {unknown} */ ({ cookie: "", getElementById: () => null })
  );

  test("test_list_fetches_pages_until_enough_and_says_if_more_remain", async () => {
    realFetch = globalThis.fetch;
    try {
      const urls = serve(PAGE_SIZE * 2 + 5);
      const service = new ExecutionsService(doc, "/user/someone/");

      const first = await service.list(PAGE_SIZE);
      const all = await service.list(PAGE_SIZE * 3);

      assert.equal(first.executions.length, PAGE_SIZE);
      assert.equal(first.more, true);
      assert.equal(all.executions.length, PAGE_SIZE * 2 + 5);
      assert.equal(all.more, false);
      assert.equal(
        new Set(all.executions.map((e) => e.id)).size,
        all.executions.length,
      );
      assert.equal(
        urls[0],
        `/user/someone/dagstudio/api/executions?limit=${PAGE_SIZE}`,
      );
      assert.match(
        urls[2],
        /\/user\/someone\/dagstudio\/api\/executions\?limit=50&cursor=50$/,
      );
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
