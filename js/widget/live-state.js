// @ts-check
/**
 * Pure helpers of the live channel: folding server events into the widget's
 * `execution` and `phases` traits (in seq order, duplicates ignored, gaps
 * reported), the reconnect schedule, frame parsing and URL building. No DOM
 * and no network, so node tests can import them.
 *
 * The folding rule is the one of `dagstudio_jupyter/_state.py`
 * (`ExecutionState.apply`), so a view that follows the server shows what a
 * replay of the store gives.
 */

/** @typedef {import("./state.js").Execution} Execution */
/** @typedef {import("./state.js").PhaseState} PhaseState */
/** @typedef {import("./state.js").Workflow} Workflow */

/**
 * One state change as the server sends it.
 * @typedef {object} LiveEvent
 * @property {number} seq
 * @property {string} [at]
 * @property {string} [execution_id]
 * @property {string | null} [phase_id] absent for execution-level events
 * @property {string} status
 * @property {number} [attempt]
 * @property {string | null} [error]
 * @property {string} [reason] e.g. "retry" on a phase waiting to run again
 * @property {number} [retry_in_s] the delay before that retry
 * @property {string | null} [from_execution] on a cached or reused phase:
 *   the execution whose result it shows
 * @property {string | null} [started_at] on a reused phase: when it ran
 * @property {string | null} [finished_at] on a reused phase: when it ended
 */

/**
 * An execution document as `GET executions/{id}` answers it.
 * @typedef {object} ExecutionDoc
 * @property {string} id
 * @property {Workflow} [workflow]
 * @property {string} [status]
 * @property {string | null} [started_at]
 * @property {string | null} [finished_at]
 * @property {string | null} [error]
 * @property {number} [last_seq]
 * @property {Execution["derived_from"]} [derived_from]
 * @property {Array<PhaseState & { id: string }>} [phases]
 */

/**
 * What a view knows of a followed execution.
 * @typedef {object} LiveState
 * @property {string} executionId
 * @property {number} lastSeq the seq of the last event applied
 * @property {Execution} execution the widget's `execution` trait
 * @property {Record<string, PhaseState>} phases the widget's `phases` trait
 * @property {LiveEvent[]} pending events past a gap, in seq order, kept
 *   until the missing ones arrive or a refetch covers them
 */

/**
 * @typedef {object} ApplyResult
 * @property {LiveState} state the new state (the old one is not changed)
 * @property {boolean} changed whether `execution` or `phases` changed
 * @property {boolean} gap whether events are missing: refetch the execution
 */

/**
 * @typedef {object} BackoffOptions
 * @property {number} baseMs delay before the first retry, before jitter
 * @property {number} factor growth per attempt
 * @property {number} maxMs no delay is longer
 * @property {number} jitter fraction (0–1) the delay may be shortened by
 */

const PHASE_TERMINAL = new Set([
  "completed",
  "failed",
  "skipped",
  "cancelled",
  "cached",
]);
const EXECUTION_TERMINAL = new Set(["completed", "failed", "cancelled"]);
/** Events held past a gap; beyond this the refetch alone catches up. */
export const MAX_PENDING = 10000;

/** @type {Readonly<BackoffOptions>} */
export const BACKOFF = Object.freeze({
  baseMs: 500,
  factor: 2,
  maxMs: 30000,
  jitter: 0.5,
});

/**
 * Return an empty state for an execution, or the state the traits hold
 * when they already describe that execution (a saved notebook, a view
 * rendered after `attach`).
 * @param {string} executionId
 * @param {Execution | null | undefined} execution
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @returns {LiveState}
 */
export function stateFromTraits(executionId, execution, phases) {
  if (execution?.id !== executionId) {
    return {
      executionId,
      lastSeq: 0,
      execution: { id: executionId, status: "pending", last_seq: 0 },
      phases: {},
      pending: [],
    };
  }
  const lastSeq = wholeNumber(execution.last_seq);
  return {
    executionId,
    lastSeq,
    execution: { ...execution, last_seq: lastSeq },
    phases: { ...(phases ?? {}) },
    pending: [],
  };
}

/**
 * Return the state an execution document describes.
 * @param {ExecutionDoc} doc
 * @returns {LiveState}
 */
export function stateFromExecution(doc) {
  const lastSeq = wholeNumber(doc.last_seq);
  /** @type {Record<string, PhaseState>} */
  const phases = {};
  for (const phase of Array.isArray(doc.phases) ? doc.phases : []) {
    if (!phase || typeof phase.id !== "string") continue;
    const { id, ...rest } = phase;
    phases[id] = rest;
  }
  return {
    executionId: doc.id,
    lastSeq,
    execution: {
      id: doc.id,
      status: doc.status ?? "pending",
      started_at: doc.started_at ?? null,
      finished_at: doc.finished_at ?? null,
      error: doc.error ?? null,
      last_seq: lastSeq,
      // Only servers that know re-runs send it.
      ...(doc.derived_from === undefined
        ? {}
        : { derived_from: doc.derived_from }),
    },
    phases,
    pending: [],
  };
}

/**
 * Fold a batch of events in, in seq order. Events already applied (seq at
 * or below `lastSeq`) are ignored; events past a missing seq are kept in
 * `pending` and `gap` is set, so the caller refetches the execution.
 * Events of another execution are ignored.
 * @param {LiveState} state
 * @param {readonly unknown[]} events
 * @returns {ApplyResult}
 */
export function applyEvents(state, events) {
  const bySeq = new Map();
  for (const event of [...state.pending, ...events]) {
    if (!isEvent(event)) continue;
    const owner = event.execution_id;
    if (owner !== undefined && owner !== state.executionId) continue;
    if (event.seq > state.lastSeq && !bySeq.has(event.seq)) {
      bySeq.set(event.seq, event);
    }
  }
  const ordered = [...bySeq.values()].sort((a, b) => a.seq - b.seq);
  let { execution, phases, lastSeq } = state;
  let changed = false;
  let index = 0;
  for (; index < ordered.length; index += 1) {
    const event = ordered[index];
    if (event.seq !== lastSeq + 1) break;
    lastSeq = event.seq;
    changed = true;
    if (typeof event.phase_id === "string") {
      phases = { ...phases, [event.phase_id]: foldPhase(phases, event) };
    } else {
      execution = foldExecution(execution, event);
    }
  }
  const pending = ordered.slice(index, index + MAX_PENDING);
  if (changed) execution = { ...execution, last_seq: lastSeq };
  return {
    state: { ...state, execution, phases, lastSeq, pending },
    changed,
    gap: pending.length > 0,
  };
}

/**
 * Take an execution document (a REST answer or a `snapshot` frame) when it
 * is at least as new as what the state holds, then apply the pending
 * events that follow it. A document of another execution, or an older
 * one, changes nothing.
 * @param {LiveState} state
 * @param {ExecutionDoc} doc
 * @returns {ApplyResult}
 */
export function applySnapshot(state, doc) {
  if (!doc || doc.id !== state.executionId) {
    return { state, changed: false, gap: state.pending.length > 0 };
  }
  const fresh = stateFromExecution(doc);
  if (fresh.lastSeq < state.lastSeq) {
    return { state, changed: false, gap: state.pending.length > 0 };
  }
  const result = applyEvents(fresh, state.pending);
  return { ...result, changed: true };
}

/**
 * @param {Record<string, PhaseState>} phases
 * @param {LiveEvent} event
 * @returns {PhaseState}
 */
function foldPhase(phases, event) {
  const id = /** @type {string} */ (event.phase_id);
  const before = phases[id] ?? {
    status: "pending",
    attempt: 0,
    started_at: null,
    finished_at: null,
    error: null,
  };
  const phase = { ...before, status: event.status };
  if (typeof event.attempt === "number") phase.attempt = event.attempt;
  // Every phase event says where the result comes from: a run here (none),
  // or an earlier execution.
  if (event.from_execution || before.from_execution !== undefined) {
    phase.from_execution = event.from_execution ?? null;
  }
  if (event.status === "running") {
    phase.started_at = event.at ?? null;
    phase.finished_at = null;
    phase.error = null;
  } else if (PHASE_TERMINAL.has(event.status)) {
    // A reused result keeps the times of the run that made it.
    if (event.started_at !== undefined) phase.started_at = event.started_at;
    phase.finished_at = event.finished_at || event.at || null;
    phase.error = event.error ?? null;
  } else if (event.status === "pending" || event.status === "queued") {
    phase.finished_at = null;
    phase.error = event.error ?? null;
  }
  return phase;
}

/**
 * @param {Execution} before
 * @param {LiveEvent} event
 * @returns {Execution}
 */
function foldExecution(before, event) {
  const execution = { ...before, status: event.status };
  if (event.status === "running") {
    execution.started_at = before.started_at || event.at || null;
    execution.finished_at = null;
    execution.error = null;
  } else if (EXECUTION_TERMINAL.has(event.status)) {
    execution.finished_at = event.at ?? null;
    execution.error = event.error ?? null;
  }
  return execution;
}

/**
 * @param {unknown} value
 * @returns {value is LiveEvent}
 */
function isEvent(value) {
  if (typeof value !== "object" || value === null) return false;
  const { seq, status } = /** @type {Record<string, unknown>} */ (value);
  return (
    typeof seq === "number" &&
    Number.isInteger(seq) &&
    seq > 0 &&
    typeof status === "string"
  );
}

/**
 * @param {unknown} value
 * @returns {number}
 */
function wholeNumber(value) {
  const number = Number(value ?? 0);
  return Number.isFinite(number) && number > 0 ? Math.floor(number) : 0;
}

/**
 * Return the delay before reconnect attempt `attempt` (0 for the first):
 * exponential growth, capped at `maxMs`, shortened by a random fraction of
 * at most `jitter` so that many pages do not reconnect in step.
 * @param {number} attempt
 * @param {() => number} [random] returns a number in [0, 1)
 * @param {Readonly<BackoffOptions>} [options]
 * @returns {number} milliseconds
 */
export function backoffDelay(attempt, random = Math.random, options = BACKOFF) {
  const n = Math.max(0, Math.floor(Number.isFinite(attempt) ? attempt : 0));
  const ceiling = Math.min(options.maxMs, options.baseMs * options.factor ** n);
  const share = Math.min(1, Math.max(0, Number(random()) || 0));
  const jitter = Math.min(1, Math.max(0, options.jitter));
  return Math.round(ceiling * (1 - jitter * share));
}

/**
 * What to do when the live socket closes with `code`.
 * - `renew`: the token was refused or expired; reconnect with a new one.
 * - `refused`: an execution is unknown or not visible; each follower
 *   checks its own execution before subscribing again.
 * - `reconnect`: anything else (network drop, too slow, server restart).
 * @param {number} code
 * @returns {"renew" | "refused" | "reconnect"}
 */
export function closeAction(code) {
  if (code === 4001) return "renew";
  if (code === 4003) return "refused";
  return "reconnect";
}

/**
 * Parse a server frame; null when it is not a JSON object with a `type`.
 * @param {unknown} data
 * @returns {{ type: string, [key: string]: unknown } | null}
 */
export function parseFrame(data) {
  if (typeof data !== "string") return null;
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    return null;
  }
  if (typeof frame !== "object" || frame === null || Array.isArray(frame)) {
    return null;
  }
  return typeof frame.type === "string" ? frame : null;
}

/**
 * Return a base URL path that starts and ends with "/", from a path or a
 * full URL; null when there is none.
 * @param {unknown} value
 * @returns {string | null}
 */
export function normalizeBaseUrl(value) {
  if (typeof value !== "string" || value.trim() === "") return null;
  let path;
  try {
    path = new URL(value.trim(), "http://localhost/").pathname;
  } catch {
    return null;
  }
  return path.endsWith("/") ? path : `${path}/`;
}

/**
 * Return the server's base URL path: the page's Jupyter config
 * (`#jupyter-config-data`, key `baseUrl`) when present, else the one the
 * kernel put in the `server` trait, else "/".
 * @param {string | null | undefined} configText the config element's text
 * @param {unknown} traitBase
 * @returns {string}
 */
export function resolveBaseUrl(configText, traitBase) {
  if (configText) {
    try {
      const config = JSON.parse(configText);
      const base = normalizeBaseUrl(config?.baseUrl);
      if (base !== null) return base;
    } catch {
      // A page without valid config data falls back to the trait.
    }
  }
  return normalizeBaseUrl(traitBase) ?? "/";
}

/**
 * Return the path of an API route under a base URL; path segments are
 * encoded.
 * @param {string} base
 * @param {...string} parts
 * @returns {string}
 */
export function apiPath(base, ...parts) {
  const tail = parts.map((part) => encodeURIComponent(part)).join("/");
  return `${base}dagstudio/api/${tail}`;
}

/**
 * Return the live channel's WebSocket URL for a page location.
 * @param {{ protocol: string, host: string }} location
 * @param {string} base
 * @returns {string}
 */
export function liveSocketUrl(location, base) {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${apiPath(base, "live")}`;
}

/**
 * Return the value of the `_xsrf` cookie, or null.
 * @param {string} cookies `document.cookie`
 * @returns {string | null}
 */
export function xsrfToken(cookies) {
  for (const part of cookies.split(";")) {
    const [name, ...rest] = part.trim().split("=");
    if (name === "_xsrf") return rest.join("=");
  }
  return null;
}

/**
 * The warning a person should see for each retry among newly applied events:
 * a phase failed an attempt and will run again (the kernel says the same in
 * kernel runs).
 * @param {LiveEvent[]} events
 * @param {number} appliedBefore the last seq applied before these events
 * @param {number} appliedNow the last seq applied after them
 * @returns {{ level: "warning", text: string, id: string }[]}
 */
export function retryNotices(events, appliedBefore, appliedNow) {
  return events
    .filter(
      (event) =>
        event.reason === "retry" &&
        event.seq > appliedBefore &&
        event.seq <= appliedNow,
    )
    .map((event) => ({
      level: "warning",
      text:
        `Phase '${event.phase_id}' failed on attempt ${event.attempt}` +
        ` (${event.error ?? "no reason given"}); retrying` +
        (typeof event.retry_in_s === "number"
          ? ` in ${event.retry_in_s} s`
          : ""),
      id: `${event.execution_id}:${event.seq}`,
    }));
}
