// @ts-check
/**
 * Phase groups (a dbt package and resource type, a kedro namespace, a DOT
 * cluster: whatever the importer put in a phase's `group`), and collapsing
 * them into one node each. Pure: no DOM.
 */
import { phaseAttempt, phaseStatus } from "./state.js";

/** @typedef {import("./state.js").Phase} Phase */
/** @typedef {import("./state.js").PhaseState} PhaseState */
/** @typedef {import("./state.js").Workflow} Workflow */

/**
 * @typedef {object} CollapsedWorkflow
 * @property {Workflow} workflow a new document: each collapsed group's
 *   members replaced by one phase of kind "group"
 * @property {Map<string, string[]>} members group phase id → ids of the
 *   phases it stands for, in workflow order
 */

/**
 * @typedef {object} GroupState
 * @property {string} status
 * @property {number} attempt the highest attempt among the members
 * @property {string | null} error the first failed member's error, named
 * @property {Record<string, number>} counts members per status
 */

/** Prefix of a group phase's id. */
export const GROUP_ID_PREFIX = "group:";

/**
 * The order in which one member's status decides a collapsed group's:
 * anything still moving shows first, then what went wrong, then what has
 * yet to run.
 */
const STATUS_PRECEDENCE = Object.freeze([
  "running",
  "failed",
  "queued",
  "pending",
  "cancelled",
]);

/** Statuses that count as done for a group. */
const DONE_STATUSES = new Set(["completed", "cached", "skipped"]);

/**
 * @param {Workflow | null | undefined} workflow
 * @returns {Phase[]} the phases that have a usable id
 */
function wellFormedPhases(workflow) {
  const phases = Array.isArray(workflow?.phases) ? workflow.phases : [];
  return phases.filter(
    (phase) => phase && typeof phase.id === "string" && phase.id !== "",
  );
}

/**
 * Map each group name to its member phase ids, in workflow order. Only
 * groups of two or more phases count: one phase alone gains nothing from
 * collapsing.
 * @param {Workflow | null | undefined} workflow
 * @returns {Map<string, string[]>}
 */
export function workflowGroups(workflow) {
  /** @type {Map<string, string[]>} */
  const groups = new Map();
  const seen = new Set();
  for (const phase of wellFormedPhases(workflow)) {
    // The layout keeps the first of duplicate ids; so do the groups.
    if (seen.has(phase.id)) continue;
    seen.add(phase.id);
    if (typeof phase.group !== "string" || phase.group === "") continue;
    const members = groups.get(phase.group);
    if (members) members.push(phase.id);
    else groups.set(phase.group, [phase.id]);
  }
  for (const [name, members] of groups) {
    if (members.length < 2) groups.delete(name);
  }
  return groups;
}

/**
 * Replace the members of each collapsed group with one phase standing for
 * them all. Its id is `group:` + the group's name, with `#2`, `#3`… added
 * if a phase already has that id; its `after` is every phase outside the
 * group that a member comes after. Dependencies on members point at the
 * group phase instead; dependencies between members of one group vanish,
 * as do the self and duplicate dependencies this would create. Names that
 * are not groups of two or more phases are ignored. The input is left as
 * it is.
 *
 * Collapsing can create a cycle (a group whose members come before and
 * after one outside phase); the layout draws it with a warning.
 * @param {Workflow | null | undefined} workflow
 * @param {ReadonlySet<string>} collapsed group names
 * @returns {CollapsedWorkflow}
 */
export function collapseGroups(workflow, collapsed) {
  const phases = Array.isArray(workflow?.phases) ? workflow.phases : [];
  const groups = workflowGroups(workflow);
  const taken = new Set(wellFormedPhases(workflow).map((p) => p.id));
  /** @type {Map<string, string>} member id → group phase id */
  const groupOf = new Map();
  /** @type {Map<string, string[]>} */
  const members = new Map();
  /** @type {Map<string, string>} group phase id → group name */
  const names = new Map();
  for (const [name, ids] of groups) {
    if (!collapsed.has(name)) continue;
    const id = freeId(`${GROUP_ID_PREFIX}${name}`, taken);
    taken.add(id);
    members.set(id, ids);
    names.set(id, name);
    for (const member of ids) groupOf.set(member, id);
  }
  /** @type {Map<string, Phase>} the first phase of each id */
  const byId = new Map();
  for (const phase of wellFormedPhases(workflow)) {
    if (!byId.has(phase.id)) byId.set(phase.id, phase);
  }
  /** @param {string} id */
  const target = (id) => groupOf.get(id) ?? id;
  /**
   * A group phase's dependencies: its members', redirected, without
   * itself or repeats.
   * @param {string} group
   * @returns {string[]}
   */
  const groupAfter = (group) => {
    /** @type {Set<string>} */
    const out = new Set();
    for (const id of /** @type {string[]} */ (members.get(group))) {
      const after = byId.get(id)?.after;
      for (const dependency of Array.isArray(after) ? after : []) {
        if (typeof dependency !== "string") continue;
        const to = target(dependency);
        if (to !== group) out.add(to);
      }
    }
    return [...out];
  };
  /**
   * Another phase's dependencies with members redirected to their group,
   * once per group; anything else is kept as it was, so the layout still
   * warns about what is wrong in it.
   * @param {unknown[]} after
   * @returns {unknown[]}
   */
  const redirect = (after) => {
    const groupsSeen = new Set();
    /** @type {unknown[]} */
    const out = [];
    for (const dependency of after) {
      const to = typeof dependency === "string" ? target(dependency) : null;
      if (to === null || to === dependency) {
        out.push(dependency);
      } else if (!groupsSeen.has(to)) {
        groupsSeen.add(to);
        out.push(to);
      }
    }
    return out;
  };

  /** @type {Phase[]} */
  const result = [];
  const placed = new Set();
  for (const phase of phases) {
    const group =
      phase && typeof phase.id === "string" ? groupOf.get(phase.id) : null;
    if (!group) {
      const after = Array.isArray(phase?.after) ? phase.after : null;
      result.push(
        after && groupOf.size > 0
          ? { ...phase, after: /** @type {string[]} */ (redirect(after)) }
          : phase,
      );
    } else if (!placed.has(group)) {
      // The group phase takes the place of its first member.
      placed.add(group);
      result.push({
        id: group,
        kind: "group",
        label: /** @type {string} */ (names.get(group)),
        after: groupAfter(group),
      });
    }
  }
  return { workflow: { ...workflow, phases: result }, members };
}

/**
 * @param {string} wanted
 * @param {Set<string>} taken
 * @returns {string} `wanted`, or `wanted#2`, `wanted#3`… if it is taken
 */
function freeId(wanted, taken) {
  if (!taken.has(wanted)) return wanted;
  let suffix = 2;
  while (taken.has(`${wanted}#${suffix}`)) suffix += 1;
  return `${wanted}#${suffix}`;
}

/**
 * The state a collapsed group shows, from its members' states: running if
 * any member runs, else failed if any failed, else queued, else pending
 * (a member with no state counts as pending), else cancelled. Otherwise
 * every member is done (completed, cached or skipped): the group is
 * "cached" or "skipped" when all its members are, else "completed". A
 * group without members is pending.
 * @param {readonly string[]} memberIds
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @returns {GroupState}
 */
export function groupState(memberIds, phases) {
  /** @type {Record<string, number>} */
  const counts = {};
  let attempt = 0;
  /** @type {string | null} */
  let error = null;
  for (const id of memberIds) {
    const status = phaseStatus(phases, id);
    counts[status] = (counts[status] ?? 0) + 1;
    attempt = Math.max(attempt, phaseAttempt(phases, id));
    const message = phases?.[id]?.error;
    if (error === null && status === "failed" && message) {
      error = `${id}: ${message}`;
    }
  }
  let status = STATUS_PRECEDENCE.find((s) => counts[s] > 0);
  if (memberIds.length === 0) {
    status = "pending";
  } else if (status === undefined) {
    const done = Object.keys(counts).filter((s) => DONE_STATUSES.has(s));
    status =
      done.length === 1 && done[0] !== "completed" ? done[0] : "completed";
  }
  return { status, attempt, error, counts };
}
