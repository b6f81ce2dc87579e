// @ts-check
/**
 * The widget's own link to the DAG Studio server, for server runs: REST
 * calls (same origin, Jupyter's cookie auth and XSRF header) and the live
 * WebSocket. Updates reach the view without the kernel, so they keep
 * coming while the kernel is busy, restarting or gone.
 *
 * A page holds one live socket per base URL, shared by every widget on it.
 * anywidget loads this module once per widget model (from a blob URL), so
 * the shared connections are kept on `globalThis` under a registered
 * symbol, not in a module variable.
 */
import { ApiError, pageConfigText, requestApi } from "./api.js";
import { sharedConnection } from "./live-connection.js";
import {
  applyEvents,
  applySnapshot,
  backoffDelay,
  resolveBaseUrl,
  retryNotices,
  stateFromTraits,
} from "./live-state.js";
import { showToast } from "./toast.js";

/** @typedef {import("./live-state.js").LiveState} LiveState */
/** @typedef {import("./live-state.js").ExecutionDoc} ExecutionDoc */
/** @typedef {import("./live-state.js").ApplyResult} ApplyResult */
/** @typedef {import("./state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("@anywidget/types").AnyModel<WidgetTraits>} Model */
/** @typedef {import("./live-connection.js").ConnectionState} ConnectionState */
/** @typedef {import("./live-connection.js").Subscriber} Subscriber */

/**
 * @typedef {object} ServerLink
 * @property {string} executionId
 * @property {string | null} baseUrl
 */

/**
 * @typedef {object} ServerFollower
 * @property {() => void} sync start, switch or stop following as the
 *   `server` trait says
 * @property {() => boolean} active whether a server execution is followed
 * @property {() => Promise<void>} cancel ask the server to cancel it
 */

/** Refusals (4003) of an execution the REST API still shows, before giving up. */
const MAX_REFUSALS = 3;
/** After a refetch that still leaves a gap, wait this long before the next. */
const REFETCH_PAUSE_MS = 300;
/** Refetches in a row for one gap; the next gap starts over. */
const MAX_ROUNDS = 10;

/**
 * Read the `server` trait; null when no server execution is to be followed.
 * @param {unknown} value
 * @returns {ServerLink | null}
 */
function readLink(value) {
  if (typeof value !== "object" || value === null) return null;
  const { execution_id: id, base_url: base } =
    /** @type {Record<string, unknown>} */ (value);
  if (typeof id !== "string" || id === "") return null;
  return { executionId: id, baseUrl: typeof base === "string" ? base : null };
}

/**
 * @typedef {object} Following
 * @property {string} id
 * @property {string} base
 * @property {string | null} traitBase
 * @property {AbortController} controller
 * @property {LiveState} state
 * @property {(() => void) | null} release
 * @property {number} refusals
 * @property {Promise<boolean> | null} fetching
 * @property {boolean} again
 * @property {boolean} failed
 * @property {number} fetchFailures
 */

/**
 * Follow the server execution named by the view's `server` trait: fetch
 * it, subscribe to its events on the page's shared live channel, and fold
 * them into the model's `execution` and `phases` (set in the browser only,
 * so every view of the model and a saved notebook show them; nothing is
 * sent to the kernel).
 * @param {object} options
 * @param {Model} options.model
 * @param {Document} options.doc
 * @param {AbortSignal} options.signal aborting it stops following
 * @param {(state: ConnectionState | null, detail: string) => void}
 *   options.onConnection null when no server execution is followed
 * @returns {ServerFollower}
 */
export function createServerFollower({ model, doc, signal, onConnection }) {
  /** @type {Following | null} */
  let current = null;

  function sync() {
    if (signal.aborted) return;
    const link = readLink(model.get("server"));
    if (
      link !== null &&
      current !== null &&
      link.executionId === current.id &&
      link.baseUrl === current.traitBase
    ) {
      return;
    }
    stop();
    if (link !== null) start(link);
  }

  /** @param {ServerLink} link */
  function start(link) {
    const base = resolveBaseUrl(pageConfigText(doc), link.baseUrl);
    /** @type {Following} */
    const follow = {
      id: link.executionId,
      base,
      traitBase: link.baseUrl,
      controller: new AbortController(),
      state: stateFromTraits(
        link.executionId,
        model.get("execution"),
        model.get("phases"),
      ),
      release: null,
      refusals: 0,
      fetching: null,
      again: false,
      failed: false,
      fetchFailures: 0,
    };
    current = follow;
    onConnection("connecting", "");
    void refetch(follow).then((found) => {
      if (found && !follow.failed && current === follow) subscribe(follow);
    });
  }

  function stop() {
    const follow = current;
    current = null;
    if (follow === null) return;
    follow.controller.abort();
    follow.release?.();
    follow.release = null;
    onConnection(null, "");
  }

  /** @param {Following} follow */
  function subscribe(follow) {
    const connection = sharedConnection(doc, follow.base);
    /** @type {Subscriber} */
    const subscriber = {
      executionId: follow.id,
      since: () => follow.state.lastSeq,
      onFrame: (frame) => onFrame(follow, frame),
      onState: (state, detail) => {
        if (current === follow && !follow.failed) onConnection(state, detail);
      },
      onRefused: () => {
        follow.refusals += 1;
        if (follow.refusals > MAX_REFUSALS) {
          fail(follow, "the live channel refuses this execution");
          return;
        }
        void refetch(follow).then((found) => {
          if (found && !follow.failed) connection.resume(subscriber);
        });
      },
    };
    follow.release = connection.subscribe(subscriber);
  }

  /**
   * @param {Following} follow
   * @param {Record<string, any>} frame
   */
  function onFrame(follow, frame) {
    if (current !== follow) return;
    follow.refusals = 0;
    /** @type {ApplyResult} */
    let result;
    if (frame.type === "events") {
      const events = Array.isArray(frame.events) ? frame.events : [];
      const before = follow.state.lastSeq;
      result = applyEvents(follow.state, events);
      for (const notice of retryNotices(events, before, result.state.lastSeq)) {
        showToast(doc, notice);
      }
    } else {
      result = applySnapshot(follow.state, frame.execution);
    }
    follow.state = result.state;
    if (result.changed) publish(follow);
    if (result.gap) void refetch(follow);
  }

  /**
   * Bring the state up to the server's, one request at a time. Resolves
   * false when the execution is gone or not visible (the view then shows
   * the error state), true otherwise.
   * @param {Following} follow
   * @returns {Promise<boolean>}
   */
  function refetch(follow) {
    if (follow.fetching !== null) {
      follow.again = true;
      return follow.fetching;
    }
    follow.fetching = (async () => {
      let found = true;
      let rounds = 0;
      do {
        follow.again = false;
        rounds += 1;
        found = await fetchOnce(follow);
        if (found && follow.state.pending.length > 0 && rounds < MAX_ROUNDS) {
          // The answer was older than events already seen; look again.
          const { signal: stopped } = follow.controller;
          follow.again = await pause(REFETCH_PAUSE_MS, stopped);
        }
      } while (
        found &&
        follow.again &&
        rounds < MAX_ROUNDS &&
        !follow.controller.signal.aborted
      );
      follow.fetching = null;
      return found;
    })();
    return follow.fetching;
  }

  /**
   * @param {Following} follow
   * @returns {Promise<boolean>}
   */
  async function fetchOnce(follow) {
    /** @type {ExecutionDoc} */
    let execution;
    try {
      execution = await requestApi(
        doc,
        follow.base,
        "GET",
        ["executions", follow.id],
        follow.controller.signal,
      );
    } catch (error) {
      if (follow.controller.signal.aborted) return false;
      const status = error instanceof ApiError ? error.status : 0;
      if (status === 404 || status === 403) {
        fail(follow, `execution ${follow.id} is not found on this server`);
        return false;
      }
      // The live channel may still bring the state; try again later.
      console.warn("[dagstudio] could not fetch the execution:", String(error));
      const delay = backoffDelay(follow.fetchFailures);
      follow.fetchFailures += 1;
      setTimeout(() => {
        if (current === follow && !follow.failed) void refetch(follow);
      }, delay);
      return true;
    }
    follow.fetchFailures = 0;
    if (current !== follow) return false;
    if (execution?.workflow && typeof execution.workflow === "object") {
      model.set("workflow", execution.workflow);
    }
    const result = applySnapshot(follow.state, execution);
    follow.state = result.state;
    if (result.changed) publish(follow);
    return true;
  }

  /** @param {Following} follow */
  function publish(follow) {
    // Phases first: the run-end toast reads them when `execution` changes.
    model.set("phases", follow.state.phases);
    model.set("execution", follow.state.execution);
  }

  /**
   * @param {Following} follow
   * @param {string} message
   */
  function fail(follow, message) {
    if (follow.failed) return;
    follow.failed = true;
    follow.release?.();
    follow.release = null;
    console.error(`[dagstudio] ${message}`);
    if (current === follow) onConnection("error", message);
  }

  async function cancel() {
    const follow = current;
    if (follow === null) return;
    const execution = await requestApi(doc, follow.base, "POST", [
      "executions",
      follow.id,
      "cancel",
    ]);
    if (current !== follow || !execution) return;
    const result = applySnapshot(follow.state, execution);
    follow.state = result.state;
    if (result.changed) publish(follow);
  }

  signal.addEventListener("abort", stop, { once: true });

  return { sync, cancel, active: () => current !== null };
}

/**
 * Wait `ms`; resolves true, or false when `signal` aborts first.
 * @param {number} ms
 * @param {AbortSignal} signal
 * @returns {Promise<boolean>}
 */
function pause(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) {
      resolve(false);
      return;
    }
    const timer = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}
