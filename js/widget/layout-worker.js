// @ts-check
/**
 * Web Worker entry: lays out workflows off the page's main thread.
 *
 *   in:  { id, workflow, options }
 *   out: { id, layout } or { id, error }
 *
 * js/build.mjs bundles this file on its own and inlines the text into the
 * widget bundle, where layout-client.js starts it from a blob URL.
 */
import { layoutWorkflow } from "./layout.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutOptions} LayoutOptions */
/** @typedef {import("./state.js").Workflow} Workflow */

/**
 * @typedef {object} LayoutRequest
 * @property {number} id
 * @property {Workflow} workflow
 * @property {LayoutOptions} [options]
 */

/**
 * @typedef {{ id: number, layout: Layout } | { id: number, error: string }}
 *   LayoutReply
 */

/**
 * Answer one request. Never throws: a failure becomes `{ id, error }`.
 * @param {LayoutRequest} request
 * @returns {LayoutReply}
 */
export function answerLayoutRequest(request) {
  const id = request?.id;
  try {
    return { id, layout: layoutWorkflow(request.workflow, request.options) };
  } catch (error) {
    return { id, error: String(error) };
  }
}

/**
 * The parts of a dedicated worker's global scope used here (tsconfig has
 * the DOM library, not the worker one).
 * @typedef {object} WorkerScope
 * @property {(message: LayoutReply) => void} postMessage
 * @property {(type: "message",
 *   listener: (event: MessageEvent<LayoutRequest>) => void) => void}
 *   addEventListener
 */

// Listen only inside a worker, so that importing this module elsewhere (node
// tests, the page) does nothing.
if (
  typeof self !== "undefined" &&
  typeof (/** @type {any} */ (globalThis).WorkerGlobalScope) === "function" &&
  self instanceof /** @type {any} */ (globalThis).WorkerGlobalScope
) {
  const scope = /** @type {WorkerScope} */ (/** @type {unknown} */ (self));
  scope.addEventListener("message", (event) => {
    scope.postMessage(answerLayoutRequest(event.data));
  });
}
