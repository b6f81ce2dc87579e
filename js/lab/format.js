// @ts-check
/**
 * Pure helpers of the executions sidebar: what a row of the list says.
 * Kept free of JupyterLab imports so node's test runner can load them.
 * Icons and time formats are the notebook widget's, so both read alike.
 */
import {
  formatElapsed,
  formatTimestamp,
  statusIcon,
  statusText,
} from "../widget/state.js";

/**
 * An execution as `GET executions` lists it.
 * @typedef {object} ExecutionSummary
 * @property {string} id
 * @property {string} name
 * @property {string} status
 * @property {string} owner
 * @property {string | null} [created_at]
 * @property {string | null} [started_at]
 * @property {string | null} [finished_at]
 * @property {string | null} [error]
 * @property {Record<string, number>} [progress] phase counts by status,
 *   and `total`
 * @property {DerivedFrom | null} [derived_from] the execution this one
 *   re-runs part of, if any
 */

/**
 * Which execution a re-run derives from, and how it was started.
 * @typedef {object} DerivedFrom
 * @property {string} execution_id
 * @property {string} mode "phase", "downstream" or "resume"
 * @property {string | null} [phase_id] the phase picked, for phase and
 *   downstream
 */

/**
 * What one row of the list shows.
 * @typedef {object} ExecutionRow
 * @property {string} id
 * @property {string} name
 * @property {string} status
 * @property {string} statusText the word shown for the status
 * @property {string} icon a single character standing for the status
 * @property {string} progress "done / total" phases, or "" without phases
 * @property {string} cached how many phases were cached, or ""
 * @property {string} trouble failed, cancelled or skipped phase counts, or ""
 * @property {string} error why the execution failed, or ""
 * @property {string} owner
 * @property {string} started local time, or "—" before the start
 * @property {string} duration
 */

/** Phase statuses that count as done in the progress figure. */
const DONE = ["completed", "cached"];

/** The example the empty list shows, to start a first workflow. */
export const FIRST_RUN_EXAMPLE = [
  "from dagstudio_jupyter import Workflow",
  'wf = Workflow("hello")',
  'wf.add("greet", kind="shell", command="echo hi")',
  "wf.submit()  # runs on this server",
].join("\n");

/**
 * Return "done / total" phases (completed or cached), or "" when the entry
 * has no counts.
 * @param {Record<string, number> | undefined} progress
 * @returns {string}
 */
export function progressText(progress) {
  if (!progress || !progress.total) return "";
  const done = DONE.reduce((sum, key) => sum + (progress[key] ?? 0), 0);
  return `${done} / ${progress.total}`;
}

/**
 * Return how many phases took an earlier run's result ("2 cached"), or "".
 * @param {Record<string, number> | undefined} progress
 * @returns {string}
 */
export function cachedText(progress) {
  const cached = progress?.cached ?? 0;
  return cached > 0 ? `${cached} cached` : "";
}

/**
 * Return what went wrong among the phases ("1 failed, 2 skipped"), or "".
 * @param {Record<string, number> | undefined} progress
 * @returns {string}
 */
export function troubleText(progress) {
  if (!progress) return "";
  return ["failed", "cancelled", "skipped", "interrupted"]
    .filter((key) => (progress[key] ?? 0) > 0)
    .map((key) => `${progress[key]} ${key}`)
    .join(", ");
}

/**
 * @param {string | null | undefined} text
 * @returns {number | null} milliseconds since the epoch
 */
function parseTime(text) {
  if (!text) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : ms;
}

/** Names longer than this are cut where a title shows them. */
const TITLE_MAX = 60;

/**
 * The name to show for an execution: its name when it has visible text,
 * else its id.
 * @param {unknown} name
 * @param {string} id
 * @returns {string}
 */
export function displayName(name, id) {
  return typeof name === "string" && name.trim() !== "" ? name.trim() : id;
}

/**
 * A name cut to fit a tab title, with an ellipsis when cut.
 * @param {string} name
 * @returns {string}
 */
export function shortTitle(name) {
  const chars = [...name];
  return chars.length > TITLE_MAX
    ? `${chars.slice(0, TITLE_MAX - 1).join("")}…`
    : name;
}

/**
 * Turn a list entry into what its row shows; `now` times running ones.
 * @param {ExecutionSummary} execution
 * @param {number} now milliseconds since the epoch
 * @returns {ExecutionRow}
 */
export function toRow(execution, now) {
  const started = parseTime(execution.started_at);
  const finished = parseTime(execution.finished_at);
  let duration = "";
  if (started !== null) duration = formatElapsed((finished ?? now) - started);
  return {
    id: execution.id,
    name: displayName(execution.name, execution.id),
    status: execution.status,
    statusText: statusText(execution.status),
    icon: statusIcon(execution.status),
    progress: progressText(execution.progress),
    cached: cachedText(execution.progress),
    trouble: troubleText(execution.progress),
    error: typeof execution.error === "string" ? execution.error : "",
    owner: execution.owner ?? "",
    started: formatTimestamp(execution.started_at),
    duration,
  };
}

/** The statuses the panel's filter offers, besides "all". */
export const FILTER_STATUSES = Object.freeze([
  "running",
  "pending",
  "completed",
  "failed",
  "cancelled",
  "interrupted",
]);

/**
 * Whether an execution passes the panel's filters: `status` ("" for all)
 * must equal its status, and `text` (case-insensitive) must appear in its
 * name, id or owner.
 * @param {ExecutionSummary} execution
 * @param {string} text
 * @param {string} status
 * @returns {boolean}
 */
export function matchesFilter(execution, text, status) {
  if (status !== "" && execution.status !== status) return false;
  const wanted = text.trim().toLowerCase();
  if (wanted === "") return true;
  return [execution.name, execution.id, execution.owner].some(
    (value) =>
      typeof value === "string" && value.toLowerCase().includes(wanted),
  );
}

/**
 * @typedef {object} ExecutionActions
 * @property {boolean} cancel it runs or waits to run
 * @property {boolean} retry it failed or was cancelled: its failed part can
 *   run again
 * @property {boolean} remove it has finished, so the server may forget it
 */

/**
 * What the server accepts for an execution in `status`: cancel while it
 * runs, retry after a failure or cancel, delete once finished.
 * @param {string} status
 * @returns {ExecutionActions}
 */
export function actionsFor(status) {
  return {
    cancel: status === "running" || status === "pending",
    retry: status === "failed" || status === "cancelled",
    remove: ["completed", "failed", "cancelled"].includes(status),
  };
}

/**
 * Whether a new execution can resume from the failure of one in `status`
 * (`POST executions/{id}/rerun` with mode "resume"): after a failure or a
 * cancel, as for a retry, which instead runs the same execution again.
 * @param {string} status
 * @returns {boolean}
 */
export function resumeAllowed(status) {
  return status === "failed" || status === "cancelled";
}
