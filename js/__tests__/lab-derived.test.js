// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { CommandIDs } from "../lab/command-ids.js";
import {
  REUSED_LIST_MAX,
  derivedFrom,
  rerunText,
  reusedPhases,
  reusedSummary,
  shortId,
  sourceLink,
} from "../lab/derived.js";
import {
  actionsFor,
  cachedText,
  progressText,
  resumeAllowed,
  toRow,
} from "../lab/format.js";
import { movedIndex } from "../lab/row-selection.js";
import { ExecutionsService } from "../lab/service.js";
import { SourceTracker } from "../lab/sources.js";

const SOURCE = "abcd1234ef567890abcd1234ef567890";

describe("source link of a derived execution", () => {
  test("test_rerun_text_names_the_phase_and_the_mode", () => {
    const link = { execution_id: SOURCE, phase_id: "b" };

    assert.equal(rerunText({ ...link, mode: "phase" }), "ran 'b'");
    assert.equal(
      rerunText({ ...link, mode: "downstream" }),
      "ran 'b' and downstream",
    );
    assert.equal(
      rerunText({ ...link, mode: "resume", phase_id: null }),
      "resumed from failure",
    );
    assert.equal(rerunText({ ...link, mode: "later" }), "re-ran");
  });

  test("test_source_link_shows_the_short_id_and_titles_the_full_one", () => {
    const link = sourceLink(
      { execution_id: SOURCE, mode: "downstream", phase_id: "b" },
      false,
    );

    assert.equal(link?.text, "↳ from abcd1234 · ran 'b' and downstream");
    assert.equal(link?.sourceId, SOURCE);
    assert.ok(link?.title.includes(SOURCE), link?.title);
    assert.equal(link?.gone, false);
  });

  test("test_source_link_says_deleted_when_the_source_is_gone", () => {
    const link = sourceLink(
      { execution_id: SOURCE, mode: "resume", phase_id: null },
      true,
    );

    assert.equal(
      link?.text,
      "↳ from abcd1234 (deleted) · resumed from failure",
    );
    assert.match(link?.title ?? "", /deleted/);
  });

  test("test_no_source_link_without_a_source_execution", () => {
    for (const value of [
      null,
      undefined,
      "abcd",
      {},
      { execution_id: "" },
      { execution_id: 7, mode: "phase" },
    ]) {
      assert.equal(derivedFrom(value), null, JSON.stringify(value));
      assert.equal(sourceLink(value, false), null);
    }
  });

  test("test_short_id_keeps_eight_characters", () => {
    assert.equal(shortId(SOURCE), "abcd1234");
    assert.equal(shortId("abc"), "abc");
  });
});

describe("phases not run here", () => {
  const workflow = {
    phases: [
      { id: "a", kind: "noop" },
      { id: "b", kind: "noop", label: "Load" },
      { id: "c", kind: "noop" },
      { id: "d", kind: "noop" },
    ],
  };

  test("test_reused_phases_keep_cached_distinct_from_completed", () => {
    const phases = {
      a: { status: "cached", from_execution: "1111aaaa2222" },
      b: { status: "completed", from_execution: SOURCE },
      c: { status: "completed", from_execution: null },
      d: { status: "skipped", error: "not part of this run" },
    };

    const reused = reusedPhases(workflow, phases);

    assert.deepEqual(
      reused.map((phase) => [phase.id, phase.label, phase.statusText]),
      [
        ["a", "a", "cached"],
        ["b", "Load", "completed"],
      ],
    );
    assert.equal(reused[0].icon, "↺");
    assert.equal(reused[0].fromText, "result from 1111aaaa");
    assert.equal(reused[1].from, SOURCE);
    assert.equal(reused[1].fromText, "result from abcd1234");
    assert.equal(
      reusedSummary(reused),
      "2 phases not run here: 1 cached, 1 reused",
    );
  });

  test("test_a_cached_phase_without_a_source_id_is_still_listed", () => {
    const reused = reusedPhases(workflow, { c: { status: "cached" } });

    assert.equal(reused.length, 1);
    assert.equal(reused[0].fromText, "");
    assert.equal(reusedSummary(reused), "1 phase not run here: 1 cached");
  });

  test("test_no_reused_phases_in_a_plain_run", () => {
    const phases = { a: { status: "completed" }, b: { status: "running" } };

    assert.deepEqual(reusedPhases(workflow, phases), []);
    assert.deepEqual(reusedPhases(undefined, undefined), []);
    assert.equal(reusedSummary([]), "");
    assert.ok(REUSED_LIST_MAX > 0);
  });
});

describe("cached phases count as done", () => {
  const progress = { total: 3, completed: 1, cached: 2, running: 0 };

  test("test_progress_of_a_run_with_cached_phases_is_complete", () => {
    assert.equal(progressText(progress), "3 / 3");
    assert.equal(cachedText(progress), "2 cached");
    assert.equal(cachedText({ total: 3, completed: 3 }), "");
    assert.equal(cachedText(undefined), "");
  });

  test("test_row_says_how_many_phases_were_cached", () => {
    const row = toRow(
      {
        id: "ex-2",
        name: "etl",
        status: "completed",
        owner: "",
        started_at: "2026-01-02T03:04:05+00:00",
        finished_at: "2026-01-02T03:04:06+00:00",
        progress,
      },
      0,
    );

    assert.equal(row.progress, "3 / 3");
    assert.equal(row.cached, "2 cached");
  });
});

describe("which actions apply", () => {
  test("test_resume_applies_after_a_failure_or_a_cancel_only", () => {
    const table = {
      pending: false,
      running: false,
      completed: false,
      failed: true,
      cancelled: true,
      interrupted: false,
      missing: false,
    };

    for (const [status, expected] of Object.entries(table)) {
      assert.equal(resumeAllowed(status), expected, status);
      // Where a resume applies, so does the in-place retry: both stay.
      if (expected) assert.equal(actionsFor(status).retry, true, status);
    }
  });

  test("test_command_ids_follow_the_verb_noun_pattern", () => {
    assert.equal(CommandIDs.resumeExecution, "dagstudio:resume-execution");
    assert.equal(
      CommandIDs.openSourceExecution,
      "dagstudio:open-source-execution",
    );
    for (const id of Object.values(CommandIDs)) {
      assert.match(id, /^dagstudio:[a-z]+(-[a-z]+)+$/);
    }
  });
});

describe("keyboard moves in the list", () => {
  test("test_moved_index_stays_within_the_list", () => {
    assert.equal(movedIndex("ArrowDown", 0, 3), 1);
    assert.equal(movedIndex("ArrowDown", 2, 3), 2);
    assert.equal(movedIndex("ArrowUp", 0, 3), 0);
    assert.equal(movedIndex("PageDown", 1, 30), 11);
    assert.equal(movedIndex("PageUp", 4, 30), 0);
    assert.equal(movedIndex("Home", 7, 30), 0);
    assert.equal(movedIndex("End", 7, 30), 29);
    assert.equal(movedIndex("Enter", 7, 30), null);
    assert.equal(movedIndex("Delete", 7, 30), null);
  });
});

describe("source tracker", () => {
  /** Answers kept until a test settles them. */
  function pendingLookups() {
    /** @type {Map<string, { resolve: (present: boolean) => void, reject: (error: Error) => void }>} */
    const waiting = new Map();
    /** @type {string[]} */
    const asked = [];
    /** @param {string} id */
    const exists = (id) =>
      new Promise((resolve, reject) => {
        asked.push(id);
        waiting.set(id, { resolve, reject });
      });
    return { exists, waiting, asked };
  }
  const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

  test("test_each_source_is_asked_about_once", async () => {
    const lookups = pendingLookups();
    const sources = new SourceTracker(lookups.exists);
    let changes = 0;
    sources.onChange(() => {
      changes += 1;
    });

    sources.check(["a", "b", "a"]);
    sources.check(["a"]);
    lookups.waiting.get("a")?.resolve(true);
    lookups.waiting.get("b")?.resolve(false);
    await settle();
    sources.check(["a", "b"]);

    assert.deepEqual(lookups.asked, ["a", "b"]);
    assert.equal(sources.isGone("a"), false);
    assert.equal(sources.isGone("b"), true);
    assert.equal(changes, 1);
  });

  test("test_a_listed_execution_is_not_asked_about", () => {
    const lookups = pendingLookups();
    const sources = new SourceTracker(lookups.exists);

    sources.markPresent("a");
    sources.check(["a"]);

    assert.deepEqual(lookups.asked, []);
  });

  test("test_a_deletion_wins_over_an_older_answer", async () => {
    const lookups = pendingLookups();
    const sources = new SourceTracker(lookups.exists);
    sources.check(["a"]);

    sources.markGone("a");
    lookups.waiting.get("a")?.resolve(true);
    await settle();

    assert.equal(sources.isGone("a"), true);
  });

  test("test_a_failed_lookup_is_asked_again_later", async (t) => {
    t.mock.method(console, "warn", () => {});
    const lookups = pendingLookups();
    const sources = new SourceTracker(lookups.exists);
    sources.check(["a"]);

    lookups.waiting.get("a")?.reject(new Error("server unreachable"));
    await settle();
    sources.check(["a"]);

    assert.deepEqual(lookups.asked, ["a", "a"]);
    assert.equal(sources.isGone("a"), false);
  });

  test("test_a_late_list_does_not_bring_a_deleted_source_back", () => {
    const sources = new SourceTracker(async () => true);
    sources.markPresent("a");

    sources.markGone("a");
    sources.markPresent("a");

    assert.equal(sources.isGone("a"), true);
  });

  test("test_on_change_stops_when_released", () => {
    const sources = new SourceTracker(async () => true);
    let changes = 0;
    const stop = sources.onChange(() => {
      changes += 1;
    });

    sources.markGone("a");
    stop();
    sources.markGone("b");

    assert.equal(changes, 1);
  });
});

describe("service", () => {
  const doc = /** @type {Document} */ (
    /** @type {unknown} */ ({
      cookie: "_xsrf=x1",
      getElementById: () => null,
    })
  );

  /**
   * Answer every request with `answer`; record what was asked.
   * @param {unknown} answer
   * @param {number} [status]
   */
  function serve(answer, status = 200) {
    /** @type {{ url: string, init: RequestInit | undefined }[]} */
    const calls = [];
    globalThis.fetch = /** @type {typeof fetch} */ (
      async (/** @type {string} */ url, /** @type {RequestInit} */ init) => {
        calls.push({ url, init });
        return new Response(JSON.stringify(answer), { status });
      }
    );
    return calls;
  }

  test("test_rerun_posts_the_mode_as_json_with_the_xsrf_header", async () => {
    const realFetch = globalThis.fetch;
    try {
      const calls = serve({ id: "new-1", derived_from: {} }, 201);
      const service = new ExecutionsService(doc, "/user/someone/");

      const execution = await service.rerun("ex-1", { mode: "resume" });

      assert.equal(execution.id, "new-1");
      assert.equal(calls.length, 1);
      assert.equal(
        calls[0].url,
        "/user/someone/dagstudio/api/executions/ex-1/rerun",
      );
      assert.equal(calls[0].init?.method, "POST");
      assert.deepEqual(JSON.parse(String(calls[0].init?.body)), {
        mode: "resume",
      });
      const headers = /** @type {Record<string, string>} */ (
        calls[0].init?.headers
      );
      assert.equal(headers["X-XSRFToken"], "x1");
      assert.equal(headers["Content-Type"], "application/json");
    } finally {
      globalThis.fetch = realFetch;
    }
  });

  test("test_exists_asks_a_list_filtered_by_the_id", async () => {
    const realFetch = globalThis.fetch;
    try {
      const calls = serve({
        executions: [{ id: `${SOURCE}-other` }, { id: SOURCE }],
        next_cursor: null,
      });
      const service = new ExecutionsService(doc, "/");

      assert.equal(await service.exists(SOURCE), true);
      assert.equal(await service.exists("abcd"), false);
      const query = new URL(calls[0].url, "http://127.0.0.1").searchParams;
      assert.equal(query.get("q"), SOURCE);
    } finally {
      globalThis.fetch = realFetch;
    }
  });
});
