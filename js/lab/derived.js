// @ts-check
/**
 * Pure helpers for re-runs: the "↳ from abcd1234 · ran 'b'" link of an
 * execution derived from another, and the list of phases whose result
 * came from an earlier execution (cached, or reused by a re-run). Free of
 * JupyterLab imports so node's test runner can load them.
 */
import { rerunWhat, shortId } from "../widget/rerun.js";
import { statusIcon, statusText } from "../widget/state.js";

/** @typedef {import("./format.js").DerivedFrom} DerivedFrom */
/** @typedef {import("../widget/state.js").PhaseState} PhaseState */
/** @typedef {import("../widget/state.js").Workflow} Workflow */

/** The phases the tab lists by name; the rest are counted. */
export const REUSED_LIST_MAX = 50;

export { shortId };

/**
 * `derived_from` when it names a source execution, else null: documents
 * from servers before re-runs have no such key.
 * @param {unknown} value
 * @returns {DerivedFrom | null}
 */
export function derivedFrom(value) {
  if (typeof value !== "object" || value === null) return null;
  const link = /** @type {Record<string, unknown>} */ (value);
  if (typeof link.execution_id !== "string" || link.execution_id === "") {
    return null;
  }
  return {
    execution_id: link.execution_id,
    mode: typeof link.mode === "string" ? link.mode : "",
    phase_id: typeof link.phase_id === "string" ? link.phase_id : null,
  };
}

/**
 * What the re-run did: "ran 'b'", "ran 'b' and downstream", "resumed from
 * failure"; "re-ran" for a mode this version does not know.
 * @param {DerivedFrom} link
 * @returns {string}
 */
export function rerunText(link) {
  return rerunWhat(link.mode, link.phase_id ?? "?");
}

/**
 * @typedef {object} SourceLink
 * @property {string} sourceId the full id of the source execution
 * @property {string} text what the link shows
 * @property {string} title the full id and what the re-run did
 * @property {boolean} gone whether the source is known to be deleted
 */

/**
 * The link from a derived execution to its source, or null when the
 * execution derives from none.
 * @param {unknown} value the execution's `derived_from`
 * @param {boolean} gone whether the source is known to be deleted
 * @returns {SourceLink | null}
 */
export function sourceLink(value, gone) {
  const link = derivedFrom(value);
  if (link === null) return null;
  const id = link.execution_id;
  const what = rerunText(link);
  const deleted = gone ? " (deleted)" : "";
  return {
    sourceId: id,
    text: `↳ from ${shortId(id)}${deleted} · ${what}`,
    title: gone
      ? `Derived from execution ${id}, which was deleted: ${what}`
      : `Derived from execution ${id}: ${what}. Open it.`,
    gone,
  };
}

/**
 * @typedef {object} ReusedPhase
 * @property {string} id
 * @property {string} label the phase's label, or its id
 * @property {string} status
 * @property {string} icon
 * @property {string} statusText "cached" stays distinct from "completed"
 * @property {string | null} from the execution whose result it shows
 * @property {string} fromText "result from abcd1234", or ""
 */

/**
 * The phases whose result comes from an earlier execution: cached ones,
 * and those a re-run kept from its source. In workflow order.
 * @param {Workflow | null | undefined} workflow
 * @param {Record<string, PhaseState & { from_execution?: string | null }> | null | undefined} phases
 * @returns {ReusedPhase[]}
 */
export function reusedPhases(workflow, phases) {
  /** @type {ReusedPhase[]} */
  const reused = [];
  const order = Array.isArray(workflow?.phases) ? workflow.phases : [];
  for (const phase of order) {
    if (!phase || typeof phase.id !== "string") continue;
    const state = phases?.[phase.id];
    const status = typeof state?.status === "string" ? state.status : "";
    const from =
      typeof state?.from_execution === "string" && state.from_execution !== ""
        ? state.from_execution
        : null;
    if (status !== "cached" && from === null) continue;
    const label =
      typeof phase.label === "string" && phase.label.trim() !== ""
        ? phase.label
        : phase.id;
    reused.push({
      id: phase.id,
      label,
      status,
      icon: statusIcon(status),
      statusText: statusText(status),
      from,
      fromText: from === null ? "" : `result from ${shortId(from)}`,
    });
  }
  return reused;
}

/**
 * One line over the reused phases: "2 cached · 3 reused", "" when none.
 * @param {ReusedPhase[]} reused
 * @returns {string}
 */
export function reusedSummary(reused) {
  const cached = reused.filter((phase) => phase.status === "cached").length;
  const kept = reused.length - cached;
  const parts = [];
  if (cached > 0) parts.push(`${cached} cached`);
  if (kept > 0) parts.push(`${kept} reused`);
  if (parts.length === 0) return "";
  const noun = reused.length === 1 ? "phase" : "phases";
  return `${reused.length} ${noun} not run here: ${parts.join(", ")}`;
}
