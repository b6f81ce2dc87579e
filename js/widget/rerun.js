// @ts-check
/**
 * Run control from the graph, without the DOM: which items a node's menu
 * offers and when they are enabled, the texts of a derived run, and the
 * request each item makes (a custom message to the kernel, or the REST
 * call of a server run). Node tests import it as it is.
 */
import { executionStatus } from "./state.js";

/** @typedef {import("./state.js").Execution} Execution */
/** @typedef {import("./state.js").PhaseState} PhaseState */
/** @typedef {import("./state.js").Workflow} Workflow */
/** @typedef {"phase" | "downstream" | "resume"} RerunMode */

/**
 * @typedef {object} DerivedFrom
 * @property {string} executionId the execution this one re-runs part of
 * @property {RerunMode} mode
 * @property {string | null} phaseId
 */

/**
 * One entry of a node's menu.
 * @typedef {object} MenuItem
 * @property {RerunMode} id
 * @property {string} label
 * @property {boolean} enabled
 * @property {string} title what it does, or why it cannot be chosen
 */

/**
 * @typedef {object} MenuContext
 * @property {Execution | null | undefined} execution the followed run
 * @property {Record<string, PhaseState> | null | undefined} phases
 * @property {Workflow | null | undefined} workflow
 * @property {string} phaseId the node the menu is about
 * @property {string} [label] its label, for the texts (default: its id)
 * @property {boolean} [isGroup] the node stands for a collapsed group
 * @property {boolean} [busy] a re-run was asked for and is not started yet
 */

/** @type {readonly RerunMode[]} */
export const RERUN_MODES = Object.freeze(["phase", "downstream", "resume"]);
/** How many characters of an execution id people are shown. */
export const SHORT_ID_LENGTH = 8;
/** Upstream phases whose result a re-run can take from the followed run. */
const DONE = new Set(["completed", "cached"]);
/** Runs that ended in a way a resume can pick up. */
const RESUMABLE = new Set(["failed", "cancelled"]);
/** @type {Readonly<Record<string, string>>} why nothing can be re-run */
const BLOCKED = Object.freeze({
  none: "Nothing has run yet: run the workflow first",
  pending: "The run is still going: wait for it to end, or cancel it",
  running: "The run is still going: wait for it to end, or cancel it",
  interrupted: "The kernel running this restarted: run the workflow again",
  missing: "This run is no longer on the server",
});

/**
 * Return the first characters of an execution id, as shown to people.
 * @param {string} id
 * @returns {string}
 */
export function shortId(id) {
  return String(id).slice(0, SHORT_ID_LENGTH);
}

/**
 * Read an execution's `derived_from`; null when absent or malformed.
 * @param {unknown} value
 * @returns {DerivedFrom | null}
 */
export function readDerivedFrom(value) {
  if (typeof value !== "object" || value === null) return null;
  const raw = /** @type {Record<string, unknown>} */ (value);
  const id = raw.execution_id;
  const mode = RERUN_MODES.find((m) => m === raw.mode);
  if (typeof id !== "string" || id === "" || mode === undefined) return null;
  const phase = raw.phase_id;
  return {
    executionId: id,
    mode,
    phaseId: typeof phase === "string" && phase !== "" ? phase : null,
  };
}

/**
 * Return the words of a derived run's header link, for example
 * "Derived from abcd1234 · ran 'b' and downstream".
 * @param {DerivedFrom} derived
 * @param {(phaseId: string) => string} [labelOf] a phase's label
 * @returns {string}
 */
export function derivedText(derived, labelOf = (id) => id) {
  const name = derived.phaseId === null ? "" : labelOf(derived.phaseId);
  const what = rerunWhat(derived.mode, name);
  return `Derived from ${shortId(derived.executionId)} · ${what}`;
}

/**
 * Say what a derived run did: "ran 'b'", "ran 'b' and downstream",
 * "resumed from failure"; "re-ran" for a mode this version does not know.
 * @param {string} mode
 * @param {string} phaseName
 * @returns {string}
 */
export function rerunWhat(mode, phaseName) {
  if (mode === "phase") return `ran '${phaseName}'`;
  if (mode === "downstream") return `ran '${phaseName}' and downstream`;
  if (mode === "resume") return "resumed from failure";
  return "re-ran";
}

/**
 * Return the note of a phase whose result comes from another execution.
 * @param {string} executionId
 * @returns {string}
 */
export function fromExecutionText(executionId) {
  return `result from execution ${shortId(executionId)}`;
}

/**
 * Return the phases whose results a re-run of `phaseId` (alone, or with
 * everything downstream) needs from the followed run but that did not
 * complete there, in workflow order.
 * @param {Workflow | null | undefined} workflow
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {string} phaseId
 * @param {RerunMode} mode
 * @returns {string[]}
 */
export function missingUpstream(workflow, phases, phaseId, mode) {
  const list = Array.isArray(workflow?.phases) ? workflow.phases : [];
  /** @type {Map<string, string[]>} */
  const parents = new Map();
  /** @type {Map<string, string[]>} */
  const children = new Map();
  for (const phase of list) {
    if (!phase || typeof phase.id !== "string") continue;
    const after = Array.isArray(phase.after) ? phase.after : [];
    parents.set(phase.id, after);
    for (const up of after) {
      const below = children.get(up) ?? [];
      below.push(phase.id);
      children.set(up, below);
    }
  }
  const selected = new Set([phaseId]);
  if (mode === "downstream") {
    const stack = [phaseId];
    while (stack.length > 0) {
      const id = /** @type {string} */ (stack.pop());
      for (const child of children.get(id) ?? []) {
        if (selected.has(child)) continue;
        selected.add(child);
        stack.push(child);
      }
    }
  }
  const needed = new Set();
  for (const id of selected) {
    for (const up of parents.get(id) ?? []) {
      if (!selected.has(up)) needed.add(up);
    }
  }
  return [...parents.keys()].filter(
    (id) => needed.has(id) && !DONE.has(phases?.[id]?.status ?? ""),
  );
}

/**
 * Return the items of a node's menu: "Run this phase", "Run this and
 * downstream" and, after a failed or cancelled run, "Resume from failure".
 * None can be chosen while the run goes on; each says why in its title.
 * @param {MenuContext} context
 * @returns {MenuItem[]}
 */
export function rerunItems(context) {
  const { execution, phases, workflow, phaseId } = context;
  const name = context.label || phaseId;
  const status = executionStatus(execution);
  const hasRun = typeof execution?.id === "string" && execution.id !== "";
  /** @type {string | null} */
  let blocked = hasRun ? (BLOCKED[status] ?? null) : BLOCKED.none;
  if (blocked === null && context.busy) blocked = "Starting a run…";
  /**
   * @param {RerunMode} id
   * @param {string} label
   * @param {string} does
   * @param {string | null} reason
   * @returns {MenuItem}
   */
  const item = (id, label, does, reason) => ({
    id,
    label,
    enabled: reason === null,
    title: reason ?? does,
  });
  /** @param {RerunMode} mode */
  const phaseReason = (mode) => {
    if (blocked !== null) return blocked;
    if (context.isGroup) {
      return "A group of phases: expand it to run one of its phases";
    }
    const missing = missingUpstream(workflow, phases, phaseId, mode);
    if (missing.length === 0) return null;
    const names = missing.map((id) => `'${id}'`).join(", ");
    return `Needs the result of ${names}, which did not complete in this run`;
  };
  const items = [
    item(
      "phase",
      "Run this phase",
      `Run '${name}' again, with its inputs from this run`,
      phaseReason("phase"),
    ),
    item(
      "downstream",
      "Run this and downstream",
      `Run '${name}' and every phase after it again`,
      phaseReason("downstream"),
    ),
  ];
  if (RESUMABLE.has(status)) {
    items.push(
      item(
        "resume",
        "Resume from failure",
        "Run what failed, was cancelled or was skipped; keep what completed",
        blocked,
      ),
    );
  }
  return items;
}

/**
 * Return the custom message that asks the kernel for a re-run.
 * @param {RerunMode} mode
 * @param {string | null} phaseId ignored for a resume
 * @returns {{ type: "rerun", mode: RerunMode, phase_id: string | null }}
 */
export function rerunMessage(mode, phaseId) {
  return {
    type: "rerun",
    mode,
    phase_id: mode === "resume" ? null : phaseId,
  };
}

/**
 * Return the REST call that asks the server for a re-run of an execution.
 * @param {string} executionId the followed execution
 * @param {RerunMode} mode
 * @param {string | null} phaseId ignored for a resume
 * @returns {{ method: "POST", parts: string[],
 *   body: { mode: RerunMode, phase_id: string | null } }}
 */
export function rerunRequest(executionId, mode, phaseId) {
  return {
    method: "POST",
    parts: ["executions", executionId, "rerun"],
    body: { mode, phase_id: mode === "resume" ? null : phaseId },
  };
}
