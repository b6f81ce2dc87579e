// @ts-check
/**
 * The fixed parts of the executions sidebar (header, filters, list, "Show
 * older") and the message an empty list shows. The panel wires them up.
 */
import { element } from "./execution-row.js";
import { FILTER_STATUSES, FIRST_RUN_EXAMPLE } from "./format.js";

/**
 * @typedef {object} PanelParts
 * @property {HTMLElement} header the title and the refresh button
 * @property {HTMLButtonElement} refresh
 * @property {HTMLElement} filters the text and status filters
 * @property {HTMLInputElement} text
 * @property {HTMLSelectElement} status
 * @property {HTMLElement} message errors and empty-list texts
 * @property {HTMLElement} list the rows, a listbox
 * @property {HTMLButtonElement} more fetches older executions
 */

/**
 * Build the panel's parts, without listeners.
 * @param {Document} doc
 * @returns {PanelParts}
 */
export function panelParts(doc) {
  const header = element(doc, "div", "dagstudio-executions-header");
  const refresh = /** @type {HTMLButtonElement} */ (
    element(doc, "button", "dagstudio-executions-refresh", "↻")
  );
  refresh.type = "button";
  refresh.title = "Refresh the list";
  refresh.setAttribute("aria-label", "Refresh the list");
  header.append(
    element(doc, "h2", "dagstudio-executions-title", "DAG Studio executions"),
    refresh,
  );
  const filters = element(doc, "div", "dagstudio-executions-filters");
  const text = /** @type {HTMLInputElement} */ (
    element(doc, "input", "dagstudio-executions-filter")
  );
  text.type = "search";
  text.placeholder = "Name, id or owner";
  // The server matches at most this much text.
  text.maxLength = 200;
  text.setAttribute("aria-label", "Filter executions by text");
  const status = /** @type {HTMLSelectElement} */ (
    element(doc, "select", "dagstudio-executions-status-filter")
  );
  status.setAttribute("aria-label", "Filter executions by status");
  for (const value of ["", ...FILTER_STATUSES]) {
    const option = /** @type {HTMLOptionElement} */ (
      element(doc, "option", "", value === "" ? "All statuses" : value)
    );
    option.value = value;
    status.append(option);
  }
  filters.append(text, status);
  const message = element(doc, "div", "dagstudio-executions-message");
  const list = element(doc, "ul", "dagstudio-executions-list");
  list.setAttribute("role", "listbox");
  list.setAttribute("aria-label", "Executions");
  const more = /** @type {HTMLButtonElement} */ (
    element(doc, "button", "dagstudio-executions-more", "Show older")
  );
  more.type = "button";
  more.hidden = true;
  return { header, refresh, filters, text, status, message, list, more };
}

/**
 * What the panel says above an empty list: that the filter matches
 * nothing, or how to start a first run. Nothing when rows show.
 * @param {Document} doc
 * @param {number} fetched executions fetched
 * @param {number} shown executions passing the filters
 * @param {boolean} filtered whether a filter is set
 * @returns {HTMLElement[]}
 */
export function emptyListMessage(doc, fetched, shown, filtered) {
  if (shown === 0 && (fetched > 0 || filtered)) {
    return [
      element(
        doc,
        "p",
        "dagstudio-executions-empty",
        "No execution matches the filter.",
      ),
    ];
  }
  if (fetched === 0 && !filtered) {
    return [
      element(
        doc,
        "p",
        "dagstudio-executions-empty",
        "No executions yet. Run a workflow on this Jupyter server from " +
          "a notebook and it shows up here:",
      ),
      element(doc, "pre", "dagstudio-executions-example", FIRST_RUN_EXAMPLE),
    ];
  }
  return [];
}
