// @ts-check
/**
 * The legend under the graph: one entry per phase status the run shows,
 * drawn with the node classes themselves, so it always matches the nodes.
 */
import { html, svg } from "./dom.js";
import { PHASE_STATUSES, statusIcon } from "./state.js";

/** @typedef {import("./state.js").Summary} Summary */

/**
 * @typedef {object} Legend
 * @property {HTMLElement} element
 * @property {(summary: Summary) => void} update show the statuses present
 */

/** @type {Readonly<Record<string, string>>} what each status means */
export const STATUS_MEANINGS = Object.freeze({
  pending: "not started yet",
  queued: "waiting for a free slot",
  running: "running now",
  completed: "ran in this run and succeeded",
  failed: "ran and failed",
  skipped: "not run, because a phase before it failed or was not selected",
  cancelled: "stopped before it ended",
  cached: "not run: unchanged since an earlier run, whose result it shows",
  interrupted: "cut short when the kernel restarted",
});

/**
 * Return the statuses the legend lists for these counts: those present, in
 * the usual order; none while every phase is pending.
 * @param {Summary} summary
 * @returns {string[]}
 */
export function legendStatuses(summary) {
  const present = PHASE_STATUSES.filter(
    (status) => (summary.counts[status] ?? 0) > 0,
  );
  return present.length === 1 && present[0] === "pending" ? [] : present;
}

/**
 * Create the legend, empty and hidden until `update`.
 * @param {Document} doc
 * @returns {Legend}
 */
export function createLegend(doc) {
  const element = html(doc, "ul", "dagstudio-legend", {
    "aria-label": "Phase statuses",
  });
  element.hidden = true;
  let shown = "";

  /** @param {string} status */
  function entry(status) {
    const item = html(doc, "li", "dagstudio-legend-item", {
      "data-status": status,
      title: `${status}: ${STATUS_MEANINGS[status] ?? status}`,
    });
    const swatch = svg(doc, "svg", "dagstudio-legend-swatch", {
      width: 22,
      height: 16,
      viewBox: "0 0 22 16",
      "aria-hidden": "true",
    });
    const group = svg(doc, "g", `dagstudio-status-${status}`);
    const box = svg(doc, "rect", "dagstudio-node-box", {
      x: 1,
      y: 1,
      width: 20,
      height: 14,
      rx: 3,
    });
    const icon = svg(doc, "text", "dagstudio-node-icon", { x: 11, y: 8 });
    icon.textContent = statusIcon(status);
    group.append(box, icon);
    swatch.append(group);
    item.append(swatch, doc.createTextNode(status));
    return item;
  }

  return {
    element,
    update(summary) {
      const statuses = legendStatuses(summary);
      const key = statuses.join(" ");
      if (key === shown) return;
      shown = key;
      element.replaceChildren(...statuses.map(entry));
      element.hidden = statuses.length === 0;
    },
  };
}
