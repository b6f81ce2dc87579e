// @ts-check
/** The details panel of one phase, shown under the graph. */
import { button, html, setText } from "./dom.js";
import { shortId } from "./rerun.js";
import {
  elapsedBetween,
  formatElapsed,
  formatTimestamp,
  phaseAttempt,
  phaseStatus,
  statusIcon,
} from "./state.js";

/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {import("./state.js").PhaseState} PhaseState */

/**
 * @typedef {object} DetailsPanel
 * @property {HTMLElement} element
 * @property {(node: LayoutNode, phases: Record<string, PhaseState>,
 *   focus: boolean) => void} show open the panel on a phase; `focus` moves
 *   keyboard focus into it
 * @property {(phases: Record<string, PhaseState>) => void} update refresh
 *   the open panel from new phase states
 * @property {() => void} hide
 * @property {() => string | null} phaseId the phase shown, null if closed
 */

/**
 * @typedef {object} DetailsOptions
 * @property {AbortSignal} signal aborting it removes every listener
 * @property {(id: string) => void} [onClose] the user closed the panel
 *   that showed phase `id`
 * @property {(id: string, invoker: HTMLButtonElement) => void} [onMenu]
 *   the panel's run button was pressed for phase `id`; without it the
 *   panel has no such button
 */

/**
 * Return the rows of the panel as label/value pairs.
 * @param {LayoutNode} node
 * @param {Record<string, PhaseState>} phases
 * @param {number} now epoch milliseconds
 * @returns {[string, string][]}
 */
export function detailRows(node, phases, now) {
  const state = phases?.[node.id] ?? {};
  const status = phaseStatus(phases, node.id);
  const attempt = phaseAttempt(phases, node.id);
  const duration = elapsedBetween(
    state.started_at,
    state.finished_at,
    status === "running",
    now,
  );
  const after = Array.isArray(node.phase.after) ? node.phase.after : [];
  /** @type {[string, string][]} */
  const rows = [
    ["Phase id", node.id],
    ["Label", node.label],
    ["Kind", node.kind || "—"],
    ["Status", `${statusIcon(status)} ${status}`],
    ["Attempt", attempt > 0 ? String(attempt) : "—"],
    ["Started", formatTimestamp(state.started_at)],
    ["Finished", formatTimestamp(state.finished_at)],
    ["Duration", duration === null ? "—" : formatElapsed(duration)],
    ["After", after.length > 0 ? after.join(", ") : "—"],
  ];
  const from = state.from_execution;
  if (typeof from === "string" && from !== "") {
    // Read together: "Result from execution abcd1234".
    rows.splice(4, 0, ["Result", `from execution ${shortId(from)}`]);
  }
  if (typeof node.phase.group === "string" && node.phase.group !== "") {
    rows.push(["Group", node.phase.group]);
  }
  return rows;
}

/**
 * Create the details panel, hidden until `show` is called.
 * @param {Document} doc
 * @param {DetailsOptions} options
 * @returns {DetailsPanel}
 */
export function createDetailsPanel(doc, options) {
  const { signal } = options;
  const element = html(doc, "section", "dagstudio-details", {
    "aria-label": "Phase details",
  });
  element.hidden = true;
  const header = html(doc, "div", "dagstudio-details-header");
  const title = html(doc, "h3", "dagstudio-details-title", { tabindex: "-1" });
  const close = button(doc, "dagstudio-details-close", "×", "Close details");
  const run = button(doc, "dagstudio-details-run", "Run ▾", "Run this phase…");
  run.setAttribute("aria-haspopup", "menu");
  run.setAttribute("aria-expanded", "false");
  run.hidden = options.onMenu === undefined;
  header.append(title, run, close);
  const list = html(doc, "dl", "dagstudio-details-list");
  const errorBlock = html(doc, "div", "dagstudio-details-error");
  const errorLabel = html(doc, "div", "dagstudio-details-error-label");
  errorLabel.textContent = "Error";
  const errorText = html(doc, "pre", "dagstudio-details-error-text");
  errorBlock.append(errorLabel, errorText);
  element.append(header, list, errorBlock);

  /** @type {LayoutNode | null} */
  let current = null;

  /** @param {Record<string, PhaseState>} phases */
  function update(phases) {
    if (current === null) return;
    const rows = detailRows(current, phases, Date.now());
    const cells = rows.flatMap(([name, value]) => {
      const dt = html(doc, "dt");
      dt.textContent = name;
      const dd = html(doc, "dd");
      dd.textContent = value;
      return [dt, dd];
    });
    const status = phaseStatus(phases, current.id);
    element.setAttribute("data-status", status);
    setText(title, current.label);
    list.replaceChildren(...cells);
    const error = phases?.[current.id]?.error ?? "";
    errorBlock.hidden = !error;
    setText(errorText, error);
  }

  function hide() {
    const id = current?.id ?? null;
    current = null;
    element.hidden = true;
    element.removeAttribute("data-phase-id");
    return id;
  }

  function closeByUser() {
    const id = hide();
    if (id !== null) options.onClose?.(id);
  }

  close.addEventListener("click", closeByUser, { signal });
  run.addEventListener(
    "click",
    () => {
      if (current !== null) options.onMenu?.(current.id, run);
    },
    { signal },
  );
  element.addEventListener(
    "keydown",
    (event) => {
      if (event.key !== "Escape") return;
      event.preventDefault();
      closeByUser();
    },
    { signal },
  );

  return {
    element,
    show(node, phases, focus) {
      current = node;
      element.hidden = false;
      element.setAttribute("data-phase-id", node.id);
      update(phases);
      if (focus) title.focus({ preventScroll: false });
    },
    update,
    hide() {
      hide();
    },
    phaseId: () => current?.id ?? null,
  };
}
