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
 *
 * After a refresh the view finds its run again: the `server` trait (or,
 * without one, the page's memory of this widget, see remember.js) names
 * it; the first answer of the server replaces whatever the saved or
 * kernel-side traits held, and one toast says what happened meanwhile.
 *
 * Kernel runs are pushed by the kernel; `watchKernelRestart`
 * (kernel-restart.js) shows such a run as interrupted when its kernel
 * restarts.
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
import {
  isForgotten,
  loadToast,
  openMemory,
  pageStorage,
  rememberKey,
} from "./remember.js";
import { executionStatus, missingRun } from "./state.js";
import { showToast } from "./toast.js";

/** @typedef {import("./live-state.js").LiveState} LiveState */
/** @typedef {import("./live-state.js").ExecutionDoc} ExecutionDoc */
/** @typedef {import("./live-state.js").ApplyResult} ApplyResult */
/** @typedef {import("./state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("@anywidget/types").AnyModel<WidgetTraits>} Model */
/** @typedef {import("./live-connection.js").ConnectionState} ConnectionState */
/** @typedef {import("./live-connection.js").Subscriber} Subscriber */
/** @typedef {import("./remember.js").RememberedRun} RememberedRun */

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
 * @property {() => boolean} restoring whether the traits still show what
 *   the view found at load (saved or kernel-side state) and the server's
 *   first answer is awaited; a change it brings is no live change
 * @property {() => Promise<void>} cancel ask the server to cancel it
 * @property {() => FollowedRun | null} followed the execution followed, and
 *   where its server is
 */

/**
 * @typedef {object} FollowedRun
 * @property {string} executionId
 * @property {string} base the base URL path its requests use
 * @property {string} traitBase the base URL to name it by in the `server`
 *   trait
 */

/** Refusals (4003) of an execution the REST API still shows, before giving up. */
const MAX_REFUSALS = 3;
/** After a refetch that still leaves a gap, wait this long before the next. */
const REFETCH_PAUSE_MS = 300;
/** Refetches in a row for one gap; the next gap starts over. */
const MAX_ROUNDS = 10;
/** The followers of this page that have the server's answer, by execution. */
const WATCHERS_KEY = Symbol.for("dagstudio.watched-executions/1");

/**
 * Read the `server` trait; null when no server execution is to be followed.
 * @param {unknown} value
 * @returns {ServerLink | null}
 */
export function readLink(value) {
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
 * @property {boolean} restoring the link was there when the view loaded
 *   (or came from the page's memory): its first answer is a re-sync
 * @property {boolean} fromMemory no `server` trait; the page's memory
 *   named this execution
 * @property {RememberedRun | null} remembered this widget's entry as the
 *   view found it at load
 * @property {boolean} synced the server's first answer is applied
 * @property {boolean} framed a live frame was applied before it
 * @property {string | null} noted the status last written to the memory
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
  let loaded = false;
  /** @type {RememberedRun | null} */
  let rememberedAtLoad = null;
  const memory = openMemory(pageStorage());
  const memoryKey = rememberKey(
    model.get("notebook_key"),
    model.get("view_key"),
    doc.defaultView?.location?.pathname,
  );

  function sync() {
    if (signal.aborted) return;
    let link = readLink(model.get("server"));
    let fromMemory = false;
    const atLoad = !loaded;
    if (atLoad) {
      loaded = true;
      rememberedAtLoad = memoryKey === null ? null : memory.recall(memoryKey);
      if (link === null && adoptable(rememberedAtLoad)) {
        const entry = /** @type {RememberedRun} */ (rememberedAtLoad);
        link = { executionId: entry.execution_id, baseUrl: entry.base_url };
        fromMemory = true;
      }
    }
    if (
      link !== null &&
      current !== null &&
      link.executionId === current.id &&
      link.baseUrl === current.traitBase
    ) {
      return;
    }
    const dropped = current;
    stop();
    // The kernel pointed the widget elsewhere (a kernel run, say): the page
    // no longer has a run of this widget to find again.
    if (link === null && dropped !== null) forget(dropped.id);
    if (link !== null) start(link, atLoad, fromMemory);
  }

  /**
   * Whether the remembered entry may stand in for a missing `server` trait:
   * only while the traits show no other execution.
   * @param {RememberedRun | null} entry
   */
  function adoptable(entry) {
    if (entry === null || isForgotten(entry.status)) return false;
    const shown = model.get("execution")?.id;
    return !shown || shown === entry.execution_id;
  }

  /** @param {string} executionId */
  function forget(executionId) {
    if (memoryKey !== null) memory.forget(memoryKey, executionId);
  }

  /**
   * @param {ServerLink} link
   * @param {boolean} restoring
   * @param {boolean} fromMemory
   */
  function start(link, restoring, fromMemory) {
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
      restoring,
      fromMemory,
      remembered:
        rememberedAtLoad?.execution_id === link.executionId
          ? rememberedAtLoad
          : null,
      synced: false,
      framed: false,
      noted: null,
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
    const others = watchers(follow.id);
    others.delete(follow);
    if (others.size === 0) pageWatchers().delete(follow.id);
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
    if (frame.type === "deleted") {
      forget(follow.id);
      fail(follow, `execution ${follow.id} was deleted from the server`);
      showMissing(follow);
      return;
    }
    follow.refusals = 0;
    follow.framed = true;
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
        forget(follow.id);
        fail(follow, `execution ${follow.id} is not found on this server`);
        showMissing(follow);
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
    if (!follow.synced) {
      firstAnswer(follow, execution);
      return true;
    }
    const result = applySnapshot(follow.state, execution);
    follow.state = result.state;
    if (result.changed) publish(follow);
    return true;
  }

  /**
   * Take the server's first answer. Unless another view of the page
   * already follows this run live, it wins over the state the traits held
   * (saved in the notebook, or the kernel's copy, which never sees what
   * the page learns), whatever their seq says. A view that had the link
   * at load says in a toast what it found (see `loadToast`).
   *
   * Known limitation: a view first drawn after its widget was attached
   * (`wf.submit(widget=view)` before `view` is displayed) counts as a
   * load too, so a run that ends before that view's first answer gets no
   * "Workflow completed" toast.
   * @param {Following} follow
   * @param {ExecutionDoc} execution
   */
  function firstAnswer(follow, execution) {
    // Another view already shows this run live: this page never lost it.
    const watchedHere = watchers(follow.id).size > 0;
    // Live frames come first only when an earlier fetch failed; they are
    // the server's word too, and a snapshot older than them is dropped.
    const base = follow.framed
      ? follow.state
      : { ...stateFromTraits(follow.id, null, null), pending: [] };
    const result = applySnapshot(base, execution);
    follow.state = result.state;
    publish(follow, !watchedHere);
    follow.synced = true;
    watchers(follow.id).add(follow);
    if (follow.restoring && !watchedHere) {
      const toast = loadToast(
        follow.remembered,
        follow.state.execution,
        model.get("workflow"),
        follow.state.phases,
      );
      if (toast !== null) showToast(doc, toast);
    }
    note(follow);
  }

  /**
   * Show the follower's state in the traits (every view of the model).
   * A trait state of the same execution with a higher seq (another view's
   * follower got further) is kept, unless `force`.
   * @param {Following} follow
   * @param {boolean} [force]
   */
  function publish(follow, force = false) {
    const shown = model.get("execution");
    if (!force && shown?.id === follow.id) {
      const seq = Number(shown.last_seq ?? 0);
      if (seq > follow.state.lastSeq) return;
    }
    // Phases first: the run-end toast reads them when `execution` changes.
    model.set("phases", follow.state.phases);
    model.set("execution", follow.state.execution);
    if (follow.synced) note(follow);
  }

  /**
   * Keep the page's memory of this widget in step with the run's status:
   * written when it changes, dropped once the run is over.
   * @param {Following} follow
   */
  function note(follow) {
    if (memoryKey === null) return;
    const status = executionStatus(follow.state.execution);
    if (status === follow.noted) return;
    follow.noted = status;
    if (isForgotten(status)) {
      forget(follow.id);
      return;
    }
    memory.remember(memoryKey, {
      execution_id: follow.id,
      base_url: follow.traitBase ?? follow.base,
      at: Date.now(),
      status,
    });
  }

  /**
   * The traits changed from elsewhere: the kernel (a stale copy, or a new
   * kernel run) or another view. A stale state of the followed execution
   * is replaced by the follower's; a followed run that only the page's
   * memory named stops when the kernel shows another execution.
   *
   * Another execution while `server` still names the followed one is
   * stale too: the kernel's echo of a `server` change this page saved
   * (run-control.js) carries the traits as they were before the switch.
   */
  function onTraits() {
    const follow = current;
    if (follow === null || !follow.synced) return;
    const shown = model.get("execution");
    const named = readLink(model.get("server"));
    const stale = named?.executionId === follow.id;
    if (shown?.id && shown.id !== follow.id && !stale) {
      if (follow.fromMemory && named === null) {
        stop();
        forget(follow.id);
      }
      return;
    }
    if (
      shown?.id !== follow.id ||
      Number(shown?.last_seq ?? 0) < follow.state.lastSeq
    ) {
      queueMicrotask(() => {
        if (current === follow) publish(follow);
      });
    }
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

  /**
   * The server does not know the run: stop showing it as running (its
   * clock, its Cancel button) and say so once.
   * @param {Following} follow
   */
  function showMissing(follow) {
    if (current !== follow) return;
    const stopped = missingRun(
      model.get("execution"),
      model.get("phases"),
      new Date().toISOString(),
    );
    if (stopped === null) return;
    model.set("phases", stopped.phases);
    model.set("execution", stopped.execution);
    showToast(doc, {
      level: "warning",
      text: "This workflow run is no longer on the server; it may have been deleted",
      id: `missing:${follow.id}`,
    });
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

  model.on("change:execution", onTraits);
  signal.addEventListener(
    "abort",
    () => {
      model.off("change:execution", onTraits);
      stop();
    },
    { once: true },
  );

  return {
    sync,
    cancel,
    active: () => current !== null,
    followed: () =>
      current === null
        ? null
        : {
            executionId: current.id,
            base: current.base,
            traitBase: current.traitBase ?? current.base,
          },
    restoring: () => current !== null && current.restoring && !current.synced,
  };
}

/**
 * The followers of this page, across widget models, that have the
 * server's answer, by execution id. Kept on `globalThis` because each
 * widget model loads its own copy of this module.
 * @returns {Map<string, Set<object>>}
 */
function pageWatchers() {
  const host = /** @type {Record<symbol, Map<string, Set<object>>>} */ (
    /** @type {unknown} */ (globalThis)
  );
  host[WATCHERS_KEY] ??= new Map();
  return host[WATCHERS_KEY];
}

/**
 * @param {string} executionId
 * @returns {Set<object>}
 */
function watchers(executionId) {
  const all = pageWatchers();
  let set = all.get(executionId);
  if (!set) {
    set = new Set();
    all.set(executionId, set);
  }
  return set;
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
