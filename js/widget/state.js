// @ts-check
/**
 * Pure helpers over the widget's synced state: phase and execution status,
 * summary counts, elapsed time. No DOM, so node tests can import them.
 */

/**
 * @typedef {object} Phase
 * @property {string} id
 * @property {string} kind
 * @property {string} [label]
 * @property {string[]} [after]
 * @property {Record<string, unknown>} [params]
 * @property {number} [retries]
 * @property {number} [timeout_s]
 * @property {string} [group]
 */

/**
 * @typedef {object} Workflow
 * @property {string} [format]
 * @property {string} [id]
 * @property {string} [name]
 * @property {Phase[]} [phases]
 */

/**
 * @typedef {object} PhaseState
 * @property {string} [status]
 * @property {number} [attempt]
 * @property {string | null} [error]
 * @property {string | null} [started_at]
 * @property {string | null} [finished_at]
 * @property {string | null} [from_execution] the earlier execution whose
 *   result the phase shows, when it did not run here (cached, or reused in
 *   a derived run)
 */

/**
 * @typedef {object} Execution
 * @property {string} [id]
 * @property {string} [status]
 * @property {string | null} [started_at]
 * @property {string | null} [finished_at]
 * @property {string | null} [error]
 * @property {number} [last_seq]
 * @property {{ execution_id: string, mode: string,
 *   phase_id?: string | null } | null} [derived_from] the execution this
 *   one re-runs part of
 */

/**
 * @typedef {object} WidgetTraits
 * @property {Workflow} workflow
 * @property {Execution} execution
 * @property {Record<string, PhaseState>} phases
 * @property {number} height
 * @property {ServerLink} [server] set for a server run: the browser follows
 *   that execution on the server itself
 * @property {string} [view_key] names the widget within its notebook
 * @property {string} [notebook_key] names the notebook whose kernel made it
 */

/**
 * @typedef {object} ServerLink
 * @property {string} [execution_id]
 * @property {string} [base_url] the server's base URL path, e.g. "/"
 */

/**
 * @typedef {object} Summary
 * @property {number} total
 * @property {Record<string, number>} counts per phase status
 */

export const PHASE_STATUSES = Object.freeze([
  "pending",
  "queued",
  "running",
  "completed",
  "failed",
  "skipped",
  "cancelled",
  "cached",
  // Shown only: a phase that was running or queued when the kernel running
  // it restarted. No event carries it.
  "interrupted",
]);

export const EXECUTION_STATUSES = Object.freeze([
  "pending",
  "running",
  "completed",
  "failed",
  "cancelled",
  "interrupted",
  // Shown only by the page: the server no longer knows the execution it
  // followed (deleted, or another server). No event carries it.
  "missing",
]);

/** Execution statuses during which the elapsed time keeps ticking. */
const LIVE_EXECUTION_STATUSES = new Set(["running", "interrupted"]);

/** Execution statuses after which nothing changes any more. */
const FINAL_EXECUTION_STATUSES = new Set(["completed", "failed", "cancelled"]);

/** @type {Readonly<Record<string, string>>} */
const STATUS_ICONS = Object.freeze({
  pending: "○",
  queued: "◷",
  running: "◐",
  completed: "✓",
  failed: "✕",
  skipped: "↷",
  cancelled: "⊘",
  cached: "↺",
  interrupted: "⚠",
  missing: "?",
  none: "○",
});

/**
 * Return the icon character shown next to a status.
 * @param {string} status
 * @returns {string}
 */
export function statusIcon(status) {
  return STATUS_ICONS[status] ?? "?";
}

/**
 * Return the word shown for a status (the status itself, or "not run").
 * @param {string} status
 * @returns {string}
 */
export function statusText(status) {
  if (status === "missing") return "not found";
  return status === "none" ? "not run" : status;
}

/**
 * Return a phase's status, treating a missing or unknown entry as pending.
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {string} phaseId
 * @returns {string}
 */
export function phaseStatus(phases, phaseId) {
  const status = phases?.[phaseId]?.status;
  return status && PHASE_STATUSES.includes(status) ? status : "pending";
}

/**
 * Return a phase's attempt count; 0 when it never started.
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {string} phaseId
 * @returns {number}
 */
export function phaseAttempt(phases, phaseId) {
  const attempt = Number(phases?.[phaseId]?.attempt ?? 0);
  return Number.isFinite(attempt) && attempt > 0 ? Math.floor(attempt) : 0;
}

/**
 * Return the execution status, or "none" when nothing has run.
 * @param {Execution | null | undefined} execution
 * @returns {string}
 */
export function executionStatus(execution) {
  const status = execution?.status;
  return status && EXECUTION_STATUSES.includes(status) ? status : "none";
}

/**
 * Tell whether the elapsed time of an execution should keep ticking.
 * @param {Execution | null | undefined} execution
 * @returns {boolean}
 */
export function isExecutionLive(execution) {
  return (
    LIVE_EXECUTION_STATUSES.has(executionStatus(execution)) &&
    !execution?.finished_at
  );
}

/**
 * Tell whether an execution status is final.
 * @param {string} status
 * @returns {boolean}
 */
export function isExecutionFinal(status) {
  return FINAL_EXECUTION_STATUSES.has(status);
}

/** Phase statuses of work under way, which a lost kernel cuts short. */
const UNFINISHED_PHASE_STATUSES = new Set(["queued", "running"]);

/**
 * Return the state to show for a kernel run whose kernel restarted: the
 * execution "interrupted" with its end time, and every running or queued
 * phase "interrupted"; pending and finished phases keep theirs. Null when
 * the run was not under way (nothing to change).
 * @param {Execution | null | undefined} execution
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {string} at ISO time of the restart
 * @returns {{ execution: Execution, phases: Record<string, PhaseState> } | null}
 */
export function interruptedRun(execution, phases, at) {
  return stoppedRun(
    execution,
    phases,
    at,
    "interrupted",
    "The kernel restarted; this run was interrupted",
  );
}

/**
 * Return the state to show for a server run the server no longer knows
 * (deleted while the page was away): the execution "missing", and running
 * or queued phases "interrupted", so nothing looks as if it still runs.
 * Null when the run was not under way.
 * @param {Execution | null | undefined} execution
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {string} at ISO time it was found missing
 * @returns {{ execution: Execution, phases: Record<string, PhaseState> } | null}
 */
export function missingRun(execution, phases, at) {
  return stoppedRun(
    execution,
    phases,
    at,
    "missing",
    "This run is no longer on the server",
  );
}

/**
 * @param {Execution | null | undefined} execution
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {string} at
 * @param {string} status the execution's new status
 * @param {string} error why
 * @returns {{ execution: Execution, phases: Record<string, PhaseState> } | null}
 */
function stoppedRun(execution, phases, at, status, error) {
  const before = executionStatus(execution);
  if (before !== "running" && before !== "pending") return null;
  /** @type {Record<string, PhaseState>} */
  const marked = {};
  for (const [id, phase] of Object.entries(phases ?? {})) {
    const unfinished = UNFINISHED_PHASE_STATUSES.has(phase?.status ?? "");
    marked[id] = unfinished
      ? { ...phase, status: "interrupted", finished_at: at }
      : phase;
  }
  return {
    execution: { ...execution, status, finished_at: at, error },
    phases: marked,
  };
}

/**
 * Return the ids of a workflow's phases, skipping malformed entries.
 * @param {Workflow | null | undefined} workflow
 * @returns {string[]}
 */
export function phaseIds(workflow) {
  const phases = Array.isArray(workflow?.phases) ? workflow.phases : [];
  const ids = new Set();
  for (const phase of phases) {
    if (phase && typeof phase.id === "string") ids.add(phase.id);
  }
  return [...ids];
}

/**
 * Count the workflow's phases per status; missing states count as pending.
 * @param {Workflow | null | undefined} workflow
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @returns {Summary}
 */
export function summarize(workflow, phases) {
  /** @type {Record<string, number>} */
  const counts = Object.fromEntries(PHASE_STATUSES.map((s) => [s, 0]));
  const ids = phaseIds(workflow);
  for (const id of ids) counts[phaseStatus(phases, id)] += 1;
  return { total: ids.length, counts };
}

/**
 * Render summary counts as one line of text, for example
 * "3/10 completed · 1 running · 0 failed · 2 skipped".
 * Completed, running and failed always show; the others when non-zero.
 * @param {Summary} summary
 * @returns {string}
 */
export function formatSummary(summary) {
  const { total, counts } = summary;
  if (total === 0) return "No phases";
  const parts = [
    `${counts.completed}/${total} completed`,
    `${counts.running} running`,
    `${counts.failed} failed`,
  ];
  for (const status of [
    "cached",
    "queued",
    "skipped",
    "cancelled",
    "interrupted",
  ]) {
    if (counts[status] > 0) parts.push(`${counts[status]} ${status}`);
  }
  return parts.join(" · ");
}

/**
 * Parse an ISO 8601 time to epoch milliseconds; null when absent or bad.
 * @param {string | null | undefined} value
 * @returns {number | null}
 */
export function parseTime(value) {
  if (typeof value !== "string" || value === "") return null;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? null : ms;
}

/**
 * Return the milliseconds between a start and an end, or until `now` while
 * there is no end yet and `live` is true. Null when it cannot be known.
 * @param {string | null | undefined} startedAt
 * @param {string | null | undefined} finishedAt
 * @param {boolean} live
 * @param {number} now epoch milliseconds
 * @returns {number | null}
 */
export function elapsedBetween(startedAt, finishedAt, live, now) {
  const start = parseTime(startedAt);
  if (start === null) return null;
  const end = parseTime(finishedAt) ?? (live ? now : null);
  if (end === null) return null;
  // Browser and kernel clocks can disagree by a little; never go negative.
  return Math.max(0, end - start);
}

/**
 * Return an execution's elapsed milliseconds at `now`, or null.
 * @param {Execution | null | undefined} execution
 * @param {number} now epoch milliseconds
 * @returns {number | null}
 */
export function executionElapsed(execution, now) {
  return elapsedBetween(
    execution?.started_at,
    execution?.finished_at,
    isExecutionLive(execution),
    now,
  );
}

/**
 * Format a duration as "0s", "42s", "3m 05s" or "2h 03m 05s".
 * @param {number} ms
 * @returns {string}
 */
export function formatElapsed(ms) {
  const totalSeconds = Math.max(0, Math.floor(ms / 1000));
  const hours = Math.floor(totalSeconds / 3600);
  const minutes = Math.floor((totalSeconds % 3600) / 60);
  const seconds = totalSeconds % 60;
  const pad = (/** @type {number} */ n) => String(n).padStart(2, "0");
  if (hours > 0) return `${hours}h ${pad(minutes)}m ${pad(seconds)}s`;
  if (minutes > 0) return `${minutes}m ${pad(seconds)}s`;
  return `${seconds}s`;
}

/**
 * Format an ISO time for people, in the browser's locale and time zone.
 * @param {string | null | undefined} value
 * @returns {string}
 */
export function formatTimestamp(value) {
  const ms = parseTime(value);
  return ms === null ? "—" : new Date(ms).toLocaleString();
}

/**
 * Return the first failed phase in workflow order with its error, or null.
 * @param {Workflow | null | undefined} workflow
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @returns {{ id: string, label: string, error: string } | null}
 */
export function firstFailedPhase(workflow, phases) {
  const list = Array.isArray(workflow?.phases) ? workflow.phases : [];
  for (const phase of list) {
    if (!phase || typeof phase.id !== "string") continue;
    if (phaseStatus(phases, phase.id) !== "failed") continue;
    const label = typeof phase.label === "string" ? phase.label : phase.id;
    return { id: phase.id, label, error: phases?.[phase.id]?.error ?? "" };
  }
  return null;
}

/**
 * Return the text of the toast for a run that ended, or null for none.
 * @param {string} status the final execution status
 * @param {Workflow | null | undefined} workflow
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {Execution | null | undefined} execution
 * @returns {{ level: "success" | "error" | "info", text: string } | null}
 */
export function finishedRunMessage(status, workflow, phases, execution) {
  if (status === "completed") {
    return { level: "success", text: "Workflow completed" };
  }
  if (status === "cancelled") {
    return { level: "info", text: "Workflow cancelled" };
  }
  if (status !== "failed") return null;
  const failed = firstFailedPhase(workflow, phases);
  if (failed === null) {
    const error = execution?.error;
    return {
      level: "error",
      text: error ? `Workflow failed: ${error}` : "Workflow failed",
    };
  }
  const error = failed.error || execution?.error || "";
  const where = `Workflow failed at phase ${failed.label}`;
  return { level: "error", text: error ? `${where}: ${error}` : where };
}
