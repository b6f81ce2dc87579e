// @ts-check
/**
 * Workflow document → positioned nodes and edges, left to right (the
 * drawing itself is layered.js). Pure: no DOM, so node tests, the layout
 * worker and the JupyterLab sidebar can use it as it is.
 */
import { layeredLayout } from "./layered.js";

/** @typedef {import("./state.js").Phase} Phase */
/** @typedef {import("./state.js").Workflow} Workflow */

/**
 * @typedef {object} LayoutNode
 * @property {string} id
 * @property {string} label the full label (the phase's label, else its id)
 * @property {string} text the label as drawn, maybe cut with an ellipsis
 * @property {boolean} truncated
 * @property {string} kind
 * @property {Phase} phase the phase as the workflow document gives it
 * @property {number} x left edge
 * @property {number} y top edge
 * @property {number} width
 * @property {number} height
 * @property {number} rank column, from 0 at the left
 * @property {number} order index among the phases of its column, from 0 at
 *   the top
 */

/**
 * @typedef {object} LayoutEdge
 * @property {string} from
 * @property {string} to
 * @property {{ x: number, y: number }[]} points from the source box to the
 *   target box, as the layout routed it
 */

/**
 * @typedef {object} Layout
 * @property {LayoutNode[]} nodes in workflow order
 * @property {LayoutEdge[]} edges
 * @property {number} width of the whole drawing, margins included
 * @property {number} height
 * @property {string[]} warnings what was skipped in a malformed document
 * @property {string} [error] why the workflow could not be laid out at all
 */

/**
 * @typedef {object} LayoutOptions
 * @property {number} [maxLabelUnits] label width before the ellipsis
 */

export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 52;
/** Roughly how many average Latin characters fit in a node's label line. */
export const LABEL_MAX_UNITS = 22;
export const WORKFLOW_FORMAT = "dagstudio.workflow/1";

const SPACING = Object.freeze({
  nodeWidth: NODE_WIDTH,
  nodeHeight: NODE_HEIGHT,
  rankSep: 36,
  nodeSep: 24,
  edgeSep: 12,
  margin: 16,
});

/** How many of the edges drawn backwards a cycle warning names. */
const CYCLE_EDGES_NAMED = 3;

/** Code point ranges drawn about twice as wide as a Latin letter. */
const WIDE_RANGES = [
  "\\u1100-\\u115f", // Hangul Jamo
  "\\u2e80-\\u303e", // CJK radicals, punctuation
  "\\u3041-\\u33ff", // Kana, CJK compatibility
  "\\u3400-\\u4dbf", // CJK extension A
  "\\u4e00-\\u9fff", // CJK unified ideographs
  "\\ua000-\\ua4cf", // Yi
  "\\uac00-\\ud7a3", // Hangul syllables
  "\\uf900-\\ufaff", // CJK compatibility ideographs
  "\\ufe30-\\ufe4f", // CJK compatibility forms
  "\\uff00-\\uff60", // fullwidth forms
  "\\uffe0-\\uffe6", // fullwidth signs
  "\\u{1f300}-\\u{1faff}", // pictographs and emoji
  "\\u{20000}-\\u{3fffd}", // CJK extensions B and later
];
const WIDE_CHARACTER = new RegExp(`[${WIDE_RANGES.join("")}]`, "u");
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** @type {Intl.Segmenter | null | undefined} made once: making one is slow */
let segmenter;

/**
 * Split text into what a reader sees as single characters.
 * @param {string} text
 * @returns {string[]}
 */
function graphemes(text) {
  if (segmenter === undefined) {
    segmenter =
      typeof Intl !== "undefined" && "Segmenter" in Intl
        ? new Intl.Segmenter(undefined, { granularity: "grapheme" })
        : null;
  }
  if (segmenter === null) return Array.from(text);
  return Array.from(segmenter.segment(text), (s) => s.segment);
}

/**
 * Return how many label units a character takes: 2 for wide scripts and
 * pictographs, 1 otherwise.
 * @param {string} grapheme
 * @returns {number}
 */
function graphemeUnits(grapheme) {
  return WIDE_CHARACTER.test(grapheme) ? 2 : 1;
}

/**
 * Cut a label to at most `maxUnits` units, ending with "…" when cut. Never
 * splits a character made of several code points (emoji, accents).
 * @param {string} text
 * @param {number} [maxUnits]
 * @returns {string}
 */
export function truncateLabel(text, maxUnits = LABEL_MAX_UNITS) {
  const clean = text.replace(/\s+/g, " ").trim();
  // Printable ASCII is one unit a character, one character a grapheme:
  // no need to segment it (which costs microseconds a label).
  if (PRINTABLE_ASCII.test(clean)) {
    if (clean.length <= maxUnits) return clean;
    return `${clean.slice(0, Math.max(0, maxUnits - 1)).trimEnd()}…`;
  }
  const parts = graphemes(clean);
  let units = 0;
  for (const part of parts) units += graphemeUnits(part);
  if (units <= maxUnits) return parts.join("");
  let kept = "";
  units = 0;
  for (const part of parts) {
    const next = graphemeUnits(part);
    if (units + next > maxUnits - 1) break;
    kept += part;
    units += next;
  }
  return `${kept.trimEnd()}…`;
}

/**
 * Keep the well-formed phases, first of each id, noting what was dropped.
 * @param {Workflow | null | undefined} workflow
 * @param {string[]} warnings
 * @returns {Phase[]}
 */
function uniquePhases(workflow, warnings) {
  const list = Array.isArray(workflow?.phases) ? workflow.phases : [];
  const seen = new Set();
  /** @type {Phase[]} */
  const phases = [];
  list.forEach((phase, index) => {
    if (!phase || typeof phase.id !== "string" || phase.id === "") {
      warnings.push(`phase #${index} has no id`);
    } else if (seen.has(phase.id)) {
      warnings.push(`duplicate phase id ${JSON.stringify(phase.id)}`);
    } else {
      seen.add(phase.id);
      phases.push(phase);
    }
  });
  return phases;
}

/**
 * List the dependency edges between known phases, noting the dropped ones.
 * @param {Phase[]} phases
 * @param {string[]} warnings
 * @returns {{ from: string, to: string }[]}
 */
function dependencyEdges(phases, warnings) {
  const ids = new Set(phases.map((p) => p.id));
  const edges = [];
  const seen = new Set();
  for (const phase of phases) {
    const after = Array.isArray(phase.after) ? phase.after : [];
    for (const from of after) {
      const key = JSON.stringify([from, phase.id]);
      if (seen.has(key)) continue;
      seen.add(key);
      if (!ids.has(from)) {
        warnings.push(
          `phase ${JSON.stringify(phase.id)} is after unknown ` +
            `phase ${JSON.stringify(from)}`,
        );
      } else if (from === phase.id) {
        warnings.push(`phase ${JSON.stringify(from)} is after itself`);
      } else {
        edges.push({ from, to: phase.id });
      }
    }
  }
  return edges;
}

/**
 * Lay out a workflow from left to right in layers.
 * @param {Workflow | null | undefined} workflow
 * @param {LayoutOptions} [options]
 * @returns {Layout}
 */
export function layoutWorkflow(workflow, options = {}) {
  /** @type {string[]} */
  const warnings = [];
  const format = workflow?.format;
  if (format !== undefined && format !== WORKFLOW_FORMAT) {
    warnings.push(`unknown workflow format ${JSON.stringify(format)}`);
  }
  const phases = uniquePhases(workflow, warnings);
  const dependencies = dependencyEdges(phases, warnings);
  if (phases.length === 0) {
    return { nodes: [], edges: [], width: 0, height: 0, warnings };
  }
  const index = new Map(phases.map((p, i) => [p.id, i]));
  const placed = layeredLayout(
    phases.length,
    dependencies.map(({ from, to }) => [
      /** @type {number} */ (index.get(from)),
      /** @type {number} */ (index.get(to)),
    ]),
    SPACING,
  );
  if (placed.reversed.length > 0) {
    warnings.push(cycleWarning(placed.reversed.map((e) => dependencies[e])));
  }

  const maxUnits = options.maxLabelUnits ?? LABEL_MAX_UNITS;
  const nodes = phases.map((phase, i) => {
    const label =
      typeof phase.label === "string" && phase.label !== ""
        ? phase.label
        : phase.id;
    const text = truncateLabel(label, maxUnits);
    return {
      id: phase.id,
      label,
      text,
      truncated: text !== label.replace(/\s+/g, " ").trim(),
      kind: typeof phase.kind === "string" ? phase.kind : "",
      phase,
      x: placed.x[i],
      y: placed.y[i],
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
      rank: placed.rank[i],
      order: placed.order[i],
    };
  });
  const edges = dependencies.map(({ from, to }, e) => ({
    from,
    to,
    points: placed.points[e],
  }));
  return {
    nodes,
    edges,
    width: placed.width,
    height: placed.height,
    warnings,
  };
}

/**
 * Say that the phases form a cycle and which dependencies are drawn
 * backwards (right to left) to lay it out.
 * @param {{ from: string, to: string }[]} backwards
 * @returns {string}
 */
function cycleWarning(backwards) {
  const named = backwards
    .slice(0, CYCLE_EDGES_NAMED)
    .map(({ from, to }) => `${JSON.stringify(from)} → ${JSON.stringify(to)}`)
    .join(", ");
  const more =
    backwards.length > CYCLE_EDGES_NAMED
      ? ` and ${backwards.length - CYCLE_EDGES_NAMED} more`
      : "";
  const count = backwards.length === 1 ? "dependency" : "dependencies";
  return (
    `phases form a cycle; ${backwards.length} ${count} drawn right to ` +
    `left: ${named}${more}`
  );
}
