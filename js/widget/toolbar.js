// @ts-check
/**
 * The widget's toolbar: title, execution status, the link to the run a
 * derived run came from, the live connection, counts and elapsed time,
 * zoom and Cancel.
 */
import { button, html, setAttr, setText } from "./dom.js";

/** @typedef {import("./live.js").ConnectionState} ConnectionState */

/** @type {Readonly<Record<ConnectionState, string>>} */
const CONNECTION_TEXT = Object.freeze({
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline",
  error: "Not available",
});
/** @type {Readonly<Record<ConnectionState, string>>} */
const CONNECTION_TITLE = Object.freeze({
  connecting: "Connecting to the server's live updates",
  live: "Following the run on the server, independently of the kernel",
  reconnecting: "Lost the server's live updates; reconnecting",
  offline: "The server cannot be reached; retrying",
  error: "This run cannot be followed from the server",
});

/**
 * Build the toolbar: title, execution status, summary, zoom and cancel.
 * @param {Document} doc
 */
export function createToolbar(doc) {
  const toolbar = html(doc, "div", "dagstudio-toolbar");
  const title = html(doc, "span", "dagstudio-title");
  const status = html(doc, "span", "dagstudio-execution-status");
  const connection = html(doc, "span", "dagstudio-connection", {
    "data-state": "connecting",
    role: "status",
  });
  connection.hidden = true;
  const summary = html(doc, "span", "dagstudio-summary");
  const counts = html(doc, "span", "dagstudio-counts");
  const elapsed = html(doc, "span", "dagstudio-elapsed", {
    title: "Elapsed time",
  });
  summary.append(counts, elapsed);
  const actions = html(doc, "span", "dagstudio-actions");
  const zoomOut = button(doc, "dagstudio-zoom-out", "−", "Zoom out");
  const zoomIn = button(doc, "dagstudio-zoom-in", "+", "Zoom in");
  const fit = button(doc, "dagstudio-fit", "Fit", "Fit graph to view");
  const cancel = button(doc, "dagstudio-cancel", "Cancel", "Cancel the run");
  cancel.hidden = true;
  actions.append(zoomOut, zoomIn, fit, cancel);
  toolbar.append(title, status, connection, summary, actions);
  return {
    toolbar,
    title,
    status,
    connection,
    counts,
    elapsed,
    zoomOut,
    zoomIn,
    fit,
    cancel,
    actions,
  };
}

/**
 * Show the state of the live connection in the toolbar.
 * @param {HTMLElement} label the toolbar's `connection`
 * @param {ConnectionState | null} state null when not following a server
 * @param {string} detail
 */
export function showConnection(label, state, detail) {
  label.hidden = state === null;
  if (state === null) return;
  setAttr(label, "data-state", state);
  setText(label, CONNECTION_TEXT[state]);
  const title = CONNECTION_TITLE[state];
  label.title = detail ? `${title} (${detail})` : title;
}
