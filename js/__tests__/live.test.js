// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  BACKOFF,
  apiPath,
  applyEvents,
  applySnapshot,
  backoffDelay,
  closeAction,
  liveSocketUrl,
  normalizeBaseUrl,
  parseFrame,
  resolveBaseUrl,
  retryNotices,
  stateFromExecution,
  stateFromTraits,
  xsrfToken,
} from "../widget/live-state.js";

const ID = "ex1";
const AT = "2026-01-01T00:00:00.000000Z";

/**
 * @param {number} seq
 * @param {string | null} phase
 * @param {string} status
 * @param {Record<string, unknown>} [extra]
 */
function event(seq, phase, status, extra = {}) {
  return {
    seq,
    at: `2026-01-01T00:00:${String(seq).padStart(2, "0")}.000000Z`,
    execution_id: ID,
    ...(phase === null ? {} : { phase_id: phase }),
    status,
    attempt: status === "pending" ? 0 : 1,
    ...extra,
  };
}

function fresh() {
  return stateFromTraits(ID, null, null);
}

describe("applyEvents", () => {
  test("test_apply_events_folds_a_run_in_order", () => {
    const events = [
      event(1, null, "running"),
      event(2, "a", "running"),
      event(3, "a", "completed"),
      event(4, null, "completed"),
    ];

    const { state, changed, gap } = applyEvents(fresh(), events);

    assert.equal(changed, true);
    assert.equal(gap, false);
    assert.equal(state.lastSeq, 4);
    assert.equal(state.execution.status, "completed");
    assert.equal(state.execution.last_seq, 4);
    assert.equal(state.execution.started_at, events[0].at);
    assert.equal(state.execution.finished_at, events[3].at);
    assert.deepEqual(state.phases.a, {
      status: "completed",
      attempt: 1,
      started_at: events[1].at,
      finished_at: events[2].at,
      error: null,
    });
  });

  test("test_apply_events_sorts_a_batch_that_arrives_out_of_order", () => {
    const events = [
      event(3, "a", "completed"),
      event(1, null, "running"),
      event(2, "a", "running"),
    ];

    const { state, gap } = applyEvents(fresh(), events);

    assert.equal(gap, false);
    assert.equal(state.lastSeq, 3);
    assert.equal(state.phases.a.status, "completed");
  });

  test("test_apply_events_ignores_duplicates_within_and_across_batches", () => {
    const first = applyEvents(fresh(), [
      event(1, null, "running"),
      event(2, "a", "running"),
      event(2, "a", "running"),
    ]);

    const second = applyEvents(first.state, [
      event(1, null, "running"),
      event(2, "a", "failed", { error: "stale copy" }),
    ]);

    assert.equal(first.state.lastSeq, 2);
    assert.equal(second.changed, false);
    assert.equal(second.gap, false);
    assert.equal(second.state.phases.a.status, "running");
    assert.equal(second.state.phases.a.error, null);
  });

  test("test_apply_events_reports_a_gap_and_keeps_what_follows_it", () => {
    const start = applyEvents(fresh(), [event(1, null, "running")]).state;

    const { state, changed, gap } = applyEvents(start, [
      event(2, "a", "running"),
      event(4, "b", "running"),
      event(5, "b", "completed"),
    ]);

    assert.equal(gap, true);
    assert.equal(changed, true);
    assert.equal(state.lastSeq, 2);
    assert.equal(state.phases.b, undefined);
    assert.deepEqual(
      state.pending.map((e) => e.seq),
      [4, 5],
    );
  });

  test("test_apply_events_fills_the_gap_when_the_missing_event_arrives", () => {
    const gapped = applyEvents(fresh(), [
      event(1, null, "running"),
      event(3, "a", "completed"),
    ]).state;

    const { state, gap } = applyEvents(gapped, [event(2, "a", "running")]);

    assert.equal(gap, false);
    assert.equal(state.lastSeq, 3);
    assert.equal(state.phases.a.status, "completed");
    assert.deepEqual(state.pending, []);
  });

  test("test_apply_events_ignores_other_executions_and_malformed_events", () => {
    const { state, changed } = applyEvents(fresh(), [
      { ...event(1, "a", "running"), execution_id: "other" },
      { seq: "1", status: "running" },
      { seq: 1 },
      null,
    ]);

    assert.equal(changed, false);
    assert.equal(state.lastSeq, 0);
  });

  test("test_apply_events_does_not_change_the_state_it_was_given", () => {
    const before = applyEvents(fresh(), [event(1, "a", "running")]).state;
    const copy = structuredClone(before);

    applyEvents(before, [event(2, "a", "completed")]);

    assert.deepEqual(before, copy);
  });

  test("test_apply_events_retry_keeps_attempt_and_error_until_running", () => {
    const { state } = applyEvents(fresh(), [
      event(1, "a", "running"),
      event(2, "a", "queued", { attempt: 1, error: "boom", reason: "retry" }),
      event(3, "a", "running", { attempt: 2 }),
    ]);

    assert.equal(state.phases.a.attempt, 2);
    assert.equal(state.phases.a.error, null);
    assert.equal(state.phases.a.finished_at, null);
  });

  test("test_apply_events_failed_run_keeps_the_errors", () => {
    const { state } = applyEvents(fresh(), [
      event(1, null, "running"),
      event(2, "a", "failed", { error: "exit 1" }),
      event(3, null, "failed", { error: "phase 'a' failed" }),
    ]);

    assert.equal(state.phases.a.error, "exit 1");
    assert.equal(state.execution.error, "phase 'a' failed");
    assert.equal(state.execution.status, "failed");
  });
});

describe("snapshots", () => {
  const doc = {
    id: ID,
    workflow: { id: "wf", phases: [{ id: "a", kind: "noop", after: [] }] },
    status: "running",
    started_at: AT,
    finished_at: null,
    error: null,
    last_seq: 3,
    phases: [
      {
        id: "a",
        status: "running",
        attempt: 1,
        started_at: AT,
        finished_at: null,
        error: null,
      },
    ],
  };

  test("test_state_from_execution_maps_phases_by_id", () => {
    const state = stateFromExecution(doc);

    assert.equal(state.lastSeq, 3);
    assert.deepEqual(Object.keys(state.phases), ["a"]);
    assert.equal(state.phases.a.status, "running");
    assert.equal("id" in state.phases.a, false);
    assert.deepEqual(state.execution, {
      id: ID,
      status: "running",
      started_at: AT,
      finished_at: null,
      error: null,
      last_seq: 3,
    });
  });

  test("test_apply_snapshot_after_a_gap_drains_the_pending_events", () => {
    const gapped = applyEvents(fresh(), [
      event(1, null, "running"),
      event(4, "a", "completed"),
      event(5, null, "completed"),
    ]);
    assert.equal(gapped.gap, true);

    const { state, changed, gap } = applySnapshot(gapped.state, doc);

    assert.equal(changed, true);
    assert.equal(gap, false);
    assert.equal(state.lastSeq, 5);
    assert.equal(state.phases.a.status, "completed");
    assert.equal(state.execution.status, "completed");
  });

  test("test_apply_snapshot_older_than_the_state_is_ignored", () => {
    const ahead = applySnapshot(fresh(), { ...doc, last_seq: 9 }).state;

    const { state, changed } = applySnapshot(ahead, doc);

    assert.equal(changed, false);
    assert.equal(state.lastSeq, 9);
  });

  test("test_apply_snapshot_of_another_execution_is_ignored", () => {
    const { changed, state } = applySnapshot(fresh(), { ...doc, id: "x" });

    assert.equal(changed, false);
    assert.equal(state.lastSeq, 0);
  });

  test("test_state_from_traits_resumes_from_the_attached_state", () => {
    const state = stateFromTraits(
      ID,
      { id: ID, status: "running", last_seq: 7 },
      { a: { status: "running" } },
    );

    assert.equal(state.lastSeq, 7);
    assert.equal(state.phases.a.status, "running");
  });

  test("test_state_from_traits_of_another_execution_starts_empty", () => {
    const state = stateFromTraits(
      ID,
      { id: "older", status: "completed", last_seq: 7 },
      { a: { status: "completed" } },
    );

    assert.equal(state.lastSeq, 0);
    assert.deepEqual(state.phases, {});
  });
});

describe("backoffDelay", () => {
  test("test_backoff_delay_grows_with_each_attempt", () => {
    const delays = [0, 1, 2, 3, 4].map((n) => backoffDelay(n, () => 0));

    assert.deepEqual(delays, [500, 1000, 2000, 4000, 8000]);
  });

  test("test_backoff_delay_is_capped", () => {
    assert.equal(
      backoffDelay(50, () => 0),
      BACKOFF.maxMs,
    );
    assert.equal(
      backoffDelay(5000, () => 0),
      BACKOFF.maxMs,
    );
  });

  test("test_backoff_delay_jitter_is_bounded", () => {
    for (const attempt of [0, 3, 10, 40]) {
      const ceiling = Math.min(BACKOFF.maxMs, BACKOFF.baseMs * 2 ** attempt);
      for (const share of [0, 0.25, 0.5, 0.999, 1, -3, 7, Number.NaN]) {
        const delay = backoffDelay(attempt, () => share);

        assert.ok(delay <= ceiling, `${delay} > ${ceiling}`);
        assert.ok(
          delay >= ceiling * (1 - BACKOFF.jitter),
          `${delay} too short`,
        );
      }
    }
  });

  test("test_backoff_delay_jitter_spreads_reconnects", () => {
    const delays = new Set(
      Array.from({ length: 20 }, (_, i) => backoffDelay(6, () => i / 20)),
    );

    assert.ok(delays.size > 10);
  });

  test("test_backoff_delay_treats_bad_attempts_as_the_first", () => {
    assert.equal(
      backoffDelay(-4, () => 0),
      BACKOFF.baseMs,
    );
    assert.equal(
      backoffDelay(Number.NaN, () => 0),
      BACKOFF.baseMs,
    );
  });
});

describe("live channel helpers", () => {
  test("test_close_action_by_code", () => {
    assert.equal(closeAction(4001), "renew");
    assert.equal(closeAction(4003), "refused");
    assert.equal(closeAction(4008), "reconnect");
    assert.equal(closeAction(1006), "reconnect");
  });

  test("test_parse_frame_accepts_typed_objects_only", () => {
    assert.deepEqual(parseFrame('{"type":"ping"}'), { type: "ping" });
    assert.equal(parseFrame("[1]"), null);
    assert.equal(parseFrame('{"no":"type"}'), null);
    assert.equal(parseFrame("{oops"), null);
    assert.equal(parseFrame(new ArrayBuffer(2)), null);
  });

  test("test_resolve_base_url_prefers_the_page_config", () => {
    const config = JSON.stringify({ baseUrl: "/user/ada/" });

    assert.equal(resolveBaseUrl(config, "/"), "/user/ada/");
  });

  test("test_resolve_base_url_falls_back_to_the_trait_then_root", () => {
    assert.equal(resolveBaseUrl(null, "/user/bob"), "/user/bob/");
    assert.equal(resolveBaseUrl("{not json", "/x/"), "/x/");
    assert.equal(resolveBaseUrl(JSON.stringify({}), undefined), "/");
    assert.equal(resolveBaseUrl(null, "http://127.0.0.1:8888/lab/"), "/lab/");
  });

  test("test_normalize_base_url_rejects_empty_values", () => {
    assert.equal(normalizeBaseUrl(""), null);
    assert.equal(normalizeBaseUrl(null), null);
    assert.equal(normalizeBaseUrl("/"), "/");
  });

  test("test_api_path_encodes_segments", () => {
    assert.equal(
      apiPath("/user/a/", "executions", "a/b", "cancel"),
      "/user/a/dagstudio/api/executions/a%2Fb/cancel",
    );
  });

  test("test_live_socket_url_follows_the_page_scheme", () => {
    assert.equal(
      liveSocketUrl({ protocol: "https:", host: "hub.example:443" }, "/u/"),
      "wss://hub.example:443/u/dagstudio/api/live",
    );
    assert.equal(
      liveSocketUrl({ protocol: "http:", host: "127.0.0.1:8888" }, "/"),
      "ws://127.0.0.1:8888/dagstudio/api/live",
    );
  });

  test("test_xsrf_token_reads_the_cookie", () => {
    assert.equal(xsrfToken("a=1; _xsrf=2|ab=|cd; b=3"), "2|ab=|cd");
    assert.equal(xsrfToken("a=1"), null);
  });
});

test("retry notices name the phase and attempt of newly applied retries only", () => {
  const events = [
    {
      seq: 4,
      execution_id: "e",
      phase_id: "fetch",
      status: "running",
      attempt: 1,
    },
    {
      seq: 5,
      execution_id: "e",
      phase_id: "fetch",
      status: "queued",
      attempt: 1,
      error: "ConnectionError: reset",
      reason: "retry",
      retry_in_s: 0.5,
    },
    {
      seq: 6,
      execution_id: "e",
      phase_id: "x",
      status: "queued",
      reason: "retry",
      attempt: 2,
    },
  ];

  const notices = retryNotices(events, 4, 5);

  assert.deepEqual(notices, [
    {
      level: "warning",
      text: "Phase 'fetch' failed on attempt 1 (ConnectionError: reset); retrying in 0.5 s",
      id: "e:5",
    },
  ]);
});
