// @ts-check
/**
 * One row of the executions sidebar: name, status, facts, and the buttons
 * of the actions the execution's status allows. The buttons run the
 * extension's commands, so a click, the palette and the context menu do
 * the same thing.
 */
import { CommandIDs } from "./command-ids.js";
import { sourceLink } from "./derived.js";
import { actionsFor, resumeAllowed, toRow } from "./format.js";

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
      "Run the failed and cancelled phases again, in this execution",
      allowed.retry,
    ],
    [
      CommandIDs.resumeExecution,
      "Resume",
      "Run again from the failure as a new execution, reusing the " +
        "results that completed",
      resumeAllowed(execution.status),
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
 * The "↳ from abcd1234 · ran 'b'" line of a derived execution: a button
 * opening the source, or plain text once the source is deleted.
 * @param {Document} doc
 * @param {ExecutionSummary} execution
 * @param {(id: string) => boolean} gone whether a source is known deleted
 * @returns {HTMLElement | null} null when it derives from no execution
 */
export function sourceLine(doc, execution, gone) {
  const id = execution.derived_from?.execution_id;
  const link = sourceLink(execution.derived_from, !!id && gone(id));
  if (link === null) return null;
  const line = element(doc, "div", "dagstudio-execution-source");
  line.dataset.sourceId = link.sourceId;
  line.title = link.title;
  if (link.gone) {
    line.dataset.gone = "true";
    line.textContent = link.text;
    return line;
  }
  const button = /** @type {HTMLButtonElement} */ (
    element(doc, "button", "dagstudio-execution-source-link", link.text)
  );
  button.type = "button";
  button.dataset.command = CommandIDs.openExecution;
  // The command acts on the source, not on the row's execution.
  button.dataset.executionId = link.sourceId;
  button.setAttribute("aria-label", link.title);
  // Out of the Tab order like the row's buttons: from the keyboard, the
  // row's context menu has "Open Source Execution".
  button.tabIndex = -1;
  line.append(button);
  return line;
}

/**
 * Build the row of one execution.
 * @param {Document} doc
 * @param {ExecutionSummary} execution
 * @param {number} now milliseconds since the epoch, to time running ones
 * @param {boolean} selected
 * @param {(command: string, id: string) => boolean} enabled whether an
 *   action can run now (not while the same one is on its way)
 * @param {(id: string) => boolean} [gone] whether a source execution is
 *   known to be deleted
 * @returns {HTMLLIElement}
 */
export function executionRow(
  doc,
  execution,
  now,
  selected,
  enabled,
  gone = () => false,
) {
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
    row.cached,
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
  const source = sourceLine(doc, execution, gone);
  if (source !== null) item.append(source);
  if (row.error !== "" && row.status === "failed") {
    const error = element(doc, "div", "dagstudio-execution-error", row.error);
    error.title = row.error;
    item.append(error);
  }
  item.append(actions);
  return item;
}
