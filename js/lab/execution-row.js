// @ts-check
/**
 * One row of the executions sidebar: name, status, facts, and the buttons
 * of the actions the execution's status allows. The buttons run the
 * extension's commands, so a click, the palette and the context menu do
 * the same thing.
 */
import { CommandIDs } from "./command-ids.js";
import { actionsFor, toRow } from "./format.js";

/** @typedef {import("./format.js").ExecutionSummary} ExecutionSummary */

/**
 * Build an element with a class and text.
 * @param {Document} doc
 * @param {string} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElement}
 */
export function element(doc, tag, className, text) {
  const node = doc.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/**
 * The row's action buttons: [command, label, tooltip, shown].
 * @param {ExecutionSummary} execution
 * @returns {[string, string, string, boolean][]}
 */
function buttonsFor(execution) {
  const allowed = actionsFor(execution.status);
  return [
    [CommandIDs.openExecution, "Open", "Open the graph in a tab", true],
    [CommandIDs.cancelExecution, "Cancel", "Cancel the run", allowed.cancel],
    [
      CommandIDs.retryExecution,
      "Retry",
      "Run the failed and cancelled phases again",
      allowed.retry,
    ],
    [
      CommandIDs.deleteExecution,
      "Delete",
      "Delete this execution and its events",
      allowed.remove,
    ],
  ];
}

/**
 * Build the row of one execution.
 * @param {Document} doc
 * @param {ExecutionSummary} execution
 * @param {number} now milliseconds since the epoch, to time running ones
 * @param {boolean} selected
 * @param {(command: string, id: string) => boolean} enabled whether an
 *   action can run now (not while the same one is on its way)
 * @returns {HTMLLIElement}
 */
export function executionRow(doc, execution, now, selected, enabled) {
  const row = toRow(execution, now);
  const item = /** @type {HTMLLIElement} */ (
    element(doc, "li", "dagstudio-execution")
  );
  item.dataset.id = row.id;
  item.dataset.status = row.status;
  item.setAttribute("role", "option");
  item.setAttribute("aria-selected", String(selected));
  item.tabIndex = selected ? 0 : -1;
  item.title = `${row.name} (${row.id})`;
  const head = element(doc, "div", "dagstudio-execution-head");
  const status = element(doc, "span", "dagstudio-execution-status");
  status.append(
    element(doc, "span", "dagstudio-execution-icon", row.icon),
    element(doc, "span", "dagstudio-execution-status-text", row.statusText),
  );
  head.append(
    element(doc, "span", "dagstudio-execution-name", row.name),
    status,
  );
  const facts = [
    row.progress && `${row.progress} phases done`,
    row.trouble,
    row.owner,
    `started ${row.started}`,
    row.duration,
  ].filter(Boolean);
  const actions = element(doc, "div", "dagstudio-execution-actions");
  for (const [command, label, tooltip, shown] of buttonsFor(execution)) {
    if (!shown) continue;
    const button = /** @type {HTMLButtonElement} */ (
      element(doc, "button", "dagstudio-execution-action", label)
    );
    button.type = "button";
    button.dataset.command = command;
    button.title = tooltip;
    // Row buttons stay out of the Tab order: the list is one stop, and
    // the keys and the context menu reach the same actions.
    button.tabIndex = -1;
    button.disabled = !enabled(command, row.id);
    actions.append(button);
  }
  item.append(
    head,
    element(doc, "div", "dagstudio-execution-facts", facts.join(" · ")),
  );
  if (row.error !== "" && row.status === "failed") {
    const error = element(doc, "div", "dagstudio-execution-error", row.error);
    error.title = row.error;
    item.append(error);
  }
  item.append(actions);
  return item;
}
