// @ts-check
/// <reference path="../build-globals.d.ts" />
/**
 * Lays out workflows in a Web Worker, so that a graph of thousands of
 * phases does not freeze the page while it is placed.
 *
 * anywidget loads the widget's ES module from a blob URL, so a worker file
 * next to it could not be fetched: the build inlines the worker's code as
 * text and the client starts it from a blob URL of its own. Where that is
 * not possible (no Worker, as under node; a Content-Security-Policy that
 * refuses blob workers; a worker that fails) the layout runs on the main
 * thread instead, still behind the same promise.
 */
import { layoutWorkflow } from "./layout.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutOptions} LayoutOptions */
/** @typedef {import("./state.js").Workflow} Workflow */
/** @typedef {import("./layout-worker.js").LayoutReply} LayoutReply */

/**
 * @typedef {object} LayoutClient
 * @property {(workflow: Workflow, options?: LayoutOptions) => Promise<Layout>}
 *   layout lay out one workflow; several calls may be in flight at once
 * @property {() => void} dispose stop the worker; pending layouts reject
 *   with an AbortError
 */

/**
 * The parts of a Worker the client uses.
 * @typedef {object} WorkerLike
 * @property {(message: unknown) => void} postMessage
 * @property {() => void} terminate
 * @property {(type: string, listener: (event: any) => void) => void}
 *   addEventListener
 */

/**
 * @typedef {object} LayoutClientOptions
 * @property {string | null} [workerSource] the worker's code; by default
 *   the code inlined at build time, or null when there is none
 * @property {(source: string) => WorkerLike} [createWorker] how to start
 *   the worker; by default a module-less Worker from a blob URL
 */

/**
 * @typedef {object} Request
 * @property {Workflow} workflow
 * @property {LayoutOptions | undefined} options
 * @property {(layout: Layout) => void} resolve
 * @property {(error: unknown) => void} reject
 */

/** @returns {string | null} the worker's code, when the build inlined it */
function inlinedWorkerSource() {
  return typeof __DAGSTUDIO_LAYOUT_WORKER__ === "string"
    ? __DAGSTUDIO_LAYOUT_WORKER__
    : null;
}

/**
 * Start a worker from code held as text.
 * @param {string} source
 * @returns {WorkerLike}
 */
function startBlobWorker(source) {
  if (
    typeof Worker === "undefined" ||
    typeof Blob === "undefined" ||
    typeof URL === "undefined" ||
    typeof URL.createObjectURL !== "function"
  ) {
    throw new Error("Web Workers are not available here");
  }
  const url = URL.createObjectURL(
    new Blob([source], { type: "text/javascript" }),
  );
  let worker;
  try {
    worker = new Worker(url);
  } catch (error) {
    URL.revokeObjectURL(url);
    throw error;
  }
  return {
    postMessage: (message) => worker.postMessage(message),
    addEventListener: (type, listener) =>
      worker.addEventListener(type, listener),
    terminate: () => {
      worker.terminate();
      URL.revokeObjectURL(url);
    },
  };
}

/** @returns {Error} what pending layouts reject with on dispose */
function abortError() {
  const message = "[dagstudio] layout cancelled: the client was disposed";
  if (typeof DOMException === "function") {
    return new DOMException(message, "AbortError");
  }
  const error = new Error(message);
  error.name = "AbortError";
  return error;
}

/**
 * Create a layout client with (at most) one worker, started on first use.
 * @param {LayoutClientOptions} [options]
 * @returns {LayoutClient}
 */
export function createLayoutClient(options = {}) {
  const source =
    options.workerSource !== undefined
      ? options.workerSource
      : inlinedWorkerSource();
  const createWorker = options.createWorker ?? startBlobWorker;
  /** @type {Map<number, Request>} sent to the worker, not yet answered */
  const pending = new Map();
  /** @type {Map<ReturnType<typeof setTimeout>, Request>} */
  const onMainThread = new Map();
  /** @type {WorkerLike | null} */
  let worker = null;
  let broken = false;
  let warned = false;
  let disposed = false;
  let nextId = 1;

  /** @param {string} reason */
  function warnOnce(reason) {
    if (warned) return;
    warned = true;
    console.warn(`[dagstudio] laying out on the main thread: ${reason}`);
  }

  /**
   * Lay out on the main thread, on a later task so that callers see the
   * same asynchronous behaviour as with the worker.
   * @param {Request} request
   */
  function runHere(request) {
    const timer = setTimeout(() => {
      onMainThread.delete(timer);
      try {
        request.resolve(layoutWorkflow(request.workflow, request.options));
      } catch (error) {
        request.reject(error);
      }
    }, 0);
    onMainThread.set(timer, request);
  }

  /**
   * Give up on the worker: what it still owes is laid out here.
   * @param {string} reason
   */
  function abandonWorker(reason) {
    broken = true;
    worker?.terminate();
    worker = null;
    warnOnce(reason);
    const owed = [...pending.values()];
    pending.clear();
    for (const request of owed) runHere(request);
  }

  /** @param {{ data: LayoutReply }} event */
  function receive(event) {
    const reply = event.data;
    const request = pending.get(reply?.id);
    if (!request) return;
    pending.delete(reply.id);
    if ("layout" in reply) request.resolve(reply.layout);
    else request.reject(new Error(`[dagstudio] layout failed: ${reply.error}`));
  }

  /** @returns {WorkerLike | null} the worker, started if need be */
  function ensureWorker() {
    if (worker || broken) return worker;
    if (source === null) {
      broken = true;
      warnOnce("this build has no layout worker");
      return null;
    }
    try {
      worker = createWorker(source);
    } catch (error) {
      broken = true;
      warnOnce(`the layout worker could not start (${error})`);
      return null;
    }
    worker.addEventListener("message", receive);
    // A worker refused by a Content-Security-Policy, or one that fails to
    // load, reports here, not by throwing in the constructor.
    worker.addEventListener("error", (event) => {
      event?.preventDefault?.();
      abandonWorker(`the layout worker failed (${event?.message ?? "error"})`);
    });
    worker.addEventListener("messageerror", () => {
      abandonWorker("a layout could not be passed back from the worker");
    });
    return worker;
  }

  return {
    layout(workflow, layoutOptions) {
      if (disposed) return Promise.reject(abortError());
      return new Promise((resolve, reject) => {
        /** @type {Request} */
        const request = { workflow, options: layoutOptions, resolve, reject };
        const target = ensureWorker();
        if (!target) {
          runHere(request);
          return;
        }
        const id = nextId;
        nextId += 1;
        pending.set(id, request);
        try {
          target.postMessage({ id, workflow, options: layoutOptions });
        } catch (error) {
          // A document the worker cannot receive (one holding functions,
          // say): this one layout runs here, the worker stays.
          pending.delete(id);
          warnOnce(`a workflow could not be sent to the worker (${error})`);
          runHere(request);
        }
      });
    },
    dispose() {
      if (disposed) return;
      disposed = true;
      worker?.terminate();
      worker = null;
      const cancelled = [...pending.values(), ...onMainThread.values()];
      for (const timer of onMainThread.keys()) clearTimeout(timer);
      pending.clear();
      onMainThread.clear();
      for (const request of cancelled) request.reject(abortError());
    },
  };
}
