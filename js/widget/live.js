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
import {
  applyEvents,
  applySnapshot,
  apiPath,
  backoffDelay,
  closeAction,
  liveSocketUrl,
  parseFrame,
  resolveBaseUrl,
  stateFromTraits,
  xsrfToken,
} from "./live-state.js";

/** @typedef {import("./live-state.js").LiveState} LiveState */
/** @typedef {import("./live-state.js").ExecutionDoc} ExecutionDoc */
/** @typedef {import("./live-state.js").ApplyResult} ApplyResult */
/** @typedef {import("./state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("@anywidget/types").AnyModel<WidgetTraits>} Model */

/**
 * What a view shows of its link to the server.
 * @typedef {"connecting" | "live" | "reconnecting" | "offline" | "error"}
 *   ConnectionState
 */

/**
 * One view's interest in one execution, as the shared connection sees it.
 * @typedef {object} Subscriber
 * @property {string} executionId
 * @property {() => number} since the seq of the last event it applied
 * @property {(frame: Record<string, any>) => void} onFrame an `events` or
 *   `snapshot` frame of its execution
 * @property {(state: ConnectionState, detail: string) => void} onState
 * @property {() => void} onRefused the server closed the socket with 4003;
 *   the subscriber is held (not subscribed again) until it checks its
 *   execution and calls `resume`, or releases itself
 */

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

const REGISTRY_KEY = Symbol.for("dagstudio.live-connections/1");
const SUBPROTOCOL = "dagstudio.v1";
/** A connection left without subscribers closes after this long. */
const LINGER_MS = 1500;
/** No frame (the server pings every 20 s) for this long: the socket is dead. */
const SILENCE_MS = 90000;
/** Refusals (4003) of an execution the REST API still shows, before giving up. */
const MAX_REFUSALS = 3;
/** After a refetch that still leaves a gap, wait this long before the next. */
const REFETCH_PAUSE_MS = 300;
/** Refetches in a row for one gap; the next gap starts over. */
const MAX_ROUNDS = 10;

/** An API answer that is not a success; `status` 0 when unreachable. */
export class ApiError extends Error {
  /**
   * @param {number} status
   * @param {string} message
   */
  constructor(status, message) {
    super(message);
    this.name = "ApiError";
    this.status = status;
  }
}

/**
 * Return the text of the page's Jupyter config, or null outside Jupyter.
 * @param {Document} doc
 * @returns {string | null}
 */
function pageConfigText(doc) {
  return doc.getElementById("jupyter-config-data")?.textContent ?? null;
}

/**
 * Return the server token the page itself uses, as JupyterLab's own
 * requests do; null when the page relies on its login cookie alone.
 * @param {Document} doc
 * @returns {string | null}
 */
function pageToken(doc) {
  const text = pageConfigText(doc);
  if (!text) return null;
  try {
    const token = JSON.parse(text)?.token;
    return typeof token === "string" && token !== "" ? token : null;
  } catch {
    return null;
  }
}

/**
 * Call the DAG Studio API on the page's own server and return the JSON
 * answer. Writes carry the `X-XSRFToken` header Jupyter checks.
 * @param {Document} doc
 * @param {string} base
 * @param {"GET" | "POST"} method
 * @param {string[]} parts path segments under `dagstudio/api/`
 * @param {AbortSignal} [signal]
 * @returns {Promise<any>}
 */
export async function requestApi(doc, base, method, parts, signal) {
  /** @type {Record<string, string>} */
  const headers = { Accept: "application/json" };
  const xsrf = xsrfToken(doc.cookie ?? "");
  if (method !== "GET" && xsrf) headers["X-XSRFToken"] = xsrf;
  const token = pageToken(doc);
  if (token) headers.Authorization = `token ${token}`;
  const where = `${method} ${parts.join("/")}`;
  let response;
  try {
    response = await fetch(apiPath(base, ...parts), {
      method,
      headers,
      credentials: "same-origin",
      cache: "no-store",
      signal,
    });
  } catch (error) {
    if (signal?.aborted) throw error;
    throw new ApiError(0, `[dagstudio] ${where}: server unreachable`);
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = null;
  }
  if (!response.ok) {
    const reason = body?.message || response.statusText || "request failed";
    throw new ApiError(
      response.status,
      `[dagstudio] ${where}: ${response.status} ${reason}`,
    );
  }
  return body;
}

/** The page's shared connections, by base URL. */
function registry() {
  const host = /** @type {Record<symbol, Map<string, LiveConnection>>} */ (
    /** @type {unknown} */ (globalThis)
  );
  host[REGISTRY_KEY] ??= new Map();
  return host[REGISTRY_KEY];
}

/**
 * Return the page's live connection to the server at `base`, creating it.
 * @param {Document} doc
 * @param {string} base
 * @returns {LiveConnection}
 */
export function sharedConnection(doc, base) {
  const connections = registry();
  let connection = connections.get(base);
  if (!connection) {
    connection = new LiveConnection(doc, base, () => {
      if (connections.get(base) === connection) connections.delete(base);
    });
    connections.set(base, connection);
  }
  return connection;
}

/**
 * One WebSocket to the live channel of one server, many subscriptions.
 * It connects while any subscriber is active, reconnects after a drop
 * with backoff and a new token, and closes when the last one leaves.
 */
class LiveConnection {
  /**
   * @param {Document} doc
   * @param {string} base
   * @param {() => void} onDisposed
   */
  constructor(doc, base, onDisposed) {
    this.doc = doc;
    this.base = base;
    this._onDisposed = onDisposed;
    /** @type {Map<string, Set<Subscriber>>} */
    this._subscribers = new Map();
    /** @type {Set<Subscriber>} held after a 4003 until checked */
    this._held = new Set();
    /** @type {Set<string>} ids subscribed on the current socket */
    this._sent = new Set();
    /** @type {WebSocket | null} */
    this._socket = null;
    /** @type {"idle" | "token" | "socket" | "waiting"} */
    this._phase = "idle";
    this._ready = false;
    this._everReady = false;
    this._attempt = 0;
    this._generation = 0;
    /** @type {ConnectionState} */
    this._state = "connecting";
    this._detail = "";
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._retryTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._lingerTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._silenceTimer = undefined;
    /** @type {AbortController | null} */
    this._tokenRequest = null;
    this._lifetime = new AbortController();
    const view = doc.defaultView;
    const options = { signal: this._lifetime.signal };
    view?.addEventListener("online", () => this._onOnline(), options);
    view?.addEventListener("offline", () => this._onOffline(), options);
  }

  /**
   * Add a subscriber; returns the function that releases it.
   * @param {Subscriber} subscriber
   * @returns {() => void}
   */
  subscribe(subscriber) {
    clearTimeout(this._lingerTimer);
    this._lingerTimer = undefined;
    const id = subscriber.executionId;
    const set = this._subscribers.get(id) ?? new Set();
    set.add(subscriber);
    this._subscribers.set(id, set);
    subscriber.onState(this._state, this._detail);
    if (this._ready) this._sendSubscribe(id);
    else if (this._phase === "idle") void this._connect();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this._release(subscriber);
    };
  }

  /**
   * Subscribe a held subscriber again, once it found its execution visible.
   * @param {Subscriber} subscriber
   */
  resume(subscriber) {
    if (!this._held.delete(subscriber)) return;
    subscriber.onState(this._state, this._detail);
    if (this._ready) this._sendSubscribe(subscriber.executionId);
    else if (this._phase === "idle") void this._connect();
  }

  /** @param {Subscriber} subscriber */
  _release(subscriber) {
    this._held.delete(subscriber);
    const id = subscriber.executionId;
    const set = this._subscribers.get(id);
    set?.delete(subscriber);
    if (set && set.size === 0) {
      this._subscribers.delete(id);
      if (this._ready && this._sent.has(id)) {
        this._send({ type: "unsubscribe", execution_id: id });
      }
      this._sent.delete(id);
    }
    if (this._subscribers.size === 0 && this._lingerTimer === undefined) {
      this._lingerTimer = setTimeout(() => this._dispose(), LINGER_MS);
    }
  }

  /** @returns {Subscriber[]} subscribers not held */
  _active() {
    const active = [];
    for (const set of this._subscribers.values()) {
      for (const subscriber of set) {
        if (!this._held.has(subscriber)) active.push(subscriber);
      }
    }
    return active;
  }

  /**
   * @param {ConnectionState} state
   * @param {string} [detail]
   */
  _setState(state, detail = "") {
    this._state = state;
    this._detail = detail;
    for (const subscriber of this._active()) {
      subscriber.onState(state, detail);
    }
  }

  async _connect() {
    if (this._active().length === 0) {
      this._phase = "idle";
      return;
    }
    const generation = ++this._generation;
    this._phase = "token";
    if (this._state !== "offline") {
      this._setState(this._everReady ? "reconnecting" : "connecting");
    }
    const request = new AbortController();
    this._tokenRequest = request;
    let token;
    try {
      const answer = await requestApi(
        this.doc,
        this.base,
        "POST",
        ["token"],
        request.signal,
      );
      token = answer?.token;
      if (typeof token !== "string" || token === "") {
        throw new ApiError(500, "[dagstudio] the token answer has no token");
      }
    } catch (error) {
      if (generation !== this._generation) return;
      const status = error instanceof ApiError ? error.status : 0;
      const offline =
        status === 0 || this.doc.defaultView?.navigator.onLine === false;
      console.warn("[dagstudio] no live-channel token:", String(error));
      this._setState(
        offline ? "offline" : "reconnecting",
        error instanceof Error ? error.message : String(error),
      );
      this._scheduleReconnect();
      return;
    } finally {
      if (this._tokenRequest === request) this._tokenRequest = null;
    }
    if (generation !== this._generation) return;
    this._open(token);
  }

  /** @param {string} token */
  _open(token) {
    const location = this.doc.defaultView?.location ?? globalThis.location;
    let socket;
    try {
      socket = new WebSocket(liveSocketUrl(location, this.base), [
        SUBPROTOCOL,
        `bearer.${token}`,
      ]);
    } catch (error) {
      console.error("[dagstudio] cannot open the live channel", error);
      this._setState("reconnecting", String(error));
      this._scheduleReconnect();
      return;
    }
    this._socket = socket;
    this._phase = "socket";
    socket.addEventListener("open", () => {
      // A server that did not take the token from the subprotocol header
      // gets it in the first message instead.
      if (socket.protocol !== SUBPROTOCOL) {
        socket.send(JSON.stringify({ type: "auth", token }));
      }
      this._watch(socket);
    });
    socket.addEventListener("message", (event) =>
      this._onMessage(socket, event.data),
    );
    socket.addEventListener("close", (event) =>
      this._onClose(socket, event.code, event.reason),
    );
  }

  /**
   * Restart the silence watchdog of a socket.
   * @param {WebSocket} socket
   */
  _watch(socket) {
    clearTimeout(this._silenceTimer);
    this._silenceTimer = setTimeout(() => {
      if (socket !== this._socket) return;
      console.warn("[dagstudio] the live channel went silent; reconnecting");
      socket.close(4000, "silent");
      // The close handshake of a dead connection can take minutes.
      this._onClose(socket, 4000, "silent");
    }, SILENCE_MS);
  }

  /**
   * @param {WebSocket} socket
   * @param {unknown} data
   */
  _onMessage(socket, data) {
    if (socket !== this._socket) return;
    this._watch(socket);
    const frame = parseFrame(data);
    if (frame === null) {
      console.warn("[dagstudio] ignored a malformed live frame");
      return;
    }
    if (frame.type === "ready") {
      this._ready = true;
      this._everReady = true;
      this._attempt = 0;
      this._sent.clear();
      for (const id of this._subscribers.keys()) this._sendSubscribe(id);
      this._setState("live");
    } else if (frame.type === "events") {
      this._route(frame.execution_id, frame);
    } else if (frame.type === "snapshot") {
      const execution = /** @type {Record<string, unknown>} */ (
        frame.execution ?? {}
      );
      this._route(execution.id, frame);
    } else if (frame.type === "error") {
      console.warn(
        `[dagstudio] live channel error: ${frame.error}: ${frame.message}`,
      );
    } else if (frame.type !== "ping") {
      console.debug("[dagstudio] ignored a live frame of type", frame.type);
    }
  }

  /**
   * @param {unknown} id
   * @param {Record<string, any>} frame
   */
  _route(id, frame) {
    if (typeof id !== "string") return;
    for (const subscriber of this._subscribers.get(id) ?? []) {
      if (this._held.has(subscriber)) continue;
      try {
        subscriber.onFrame(frame);
      } catch (error) {
        console.error("[dagstudio] a live update failed to apply", error);
      }
    }
  }

  /**
   * Subscribe on the current socket, from the oldest seq any active
   * subscriber of that execution has applied.
   * @param {string} id
   */
  _sendSubscribe(id) {
    if (this._sent.has(id)) return;
    const active = [...(this._subscribers.get(id) ?? [])].filter(
      (subscriber) => !this._held.has(subscriber),
    );
    if (active.length === 0) return;
    const since = Math.min(...active.map((subscriber) => subscriber.since()));
    if (this._send({ type: "subscribe", execution_id: id, since })) {
      this._sent.add(id);
    }
  }

  /**
   * @param {Record<string, unknown>} message
   * @returns {boolean} whether it was sent
   */
  _send(message) {
    const socket = this._socket;
    if (!socket || socket.readyState !== WebSocket.OPEN) return false;
    socket.send(JSON.stringify(message));
    return true;
  }

  /**
   * @param {WebSocket} socket
   * @param {number} code
   * @param {string} reason
   */
  _onClose(socket, code, reason) {
    if (socket !== this._socket) return;
    clearTimeout(this._silenceTimer);
    this._socket = null;
    this._ready = false;
    this._sent.clear();
    this._phase = "idle";
    if (this._subscribers.size === 0) return;
    const action = closeAction(code);
    const why = reason ? `${code} ${reason}` : String(code);
    this._setState(
      this._state === "offline" ? "offline" : "reconnecting",
      `closed: ${why}`,
    );
    if (action === "refused") {
      console.warn(`[dagstudio] live channel refused an execution (${why})`);
      for (const subscriber of this._active()) {
        this._held.add(subscriber);
        subscriber.onRefused();
      }
    } else {
      console.warn(`[dagstudio] live channel closed (${why}); reconnecting`);
    }
    // A refused or expired token gets a new one at once, the first time.
    this._scheduleReconnect(action === "renew" && this._attempt === 0);
  }

  /** @param {boolean} [now] */
  _scheduleReconnect(now = false) {
    clearTimeout(this._retryTimer);
    if (this._active().length === 0) {
      this._phase = "idle";
      return;
    }
    const delay = now ? 0 : backoffDelay(this._attempt);
    this._attempt += 1;
    this._phase = "waiting";
    this._retryTimer = setTimeout(() => {
      this._retryTimer = undefined;
      void this._connect();
    }, delay);
  }

  _onOffline() {
    // A server on this machine stays reachable: only an idle link says so.
    if (!this._ready) this._setState("offline");
  }

  _onOnline() {
    if (this._phase !== "waiting") return;
    clearTimeout(this._retryTimer);
    this._retryTimer = undefined;
    this._attempt = 0;
    void this._connect();
  }

  _dispose() {
    this._lingerTimer = undefined;
    if (this._subscribers.size > 0) return;
    this._generation += 1;
    clearTimeout(this._retryTimer);
    clearTimeout(this._silenceTimer);
    this._tokenRequest?.abort();
    this._lifetime.abort();
    const socket = this._socket;
    this._socket = null;
    this._ready = false;
    this._phase = "idle";
    socket?.close(1000, "no subscribers");
    this._onDisposed();
  }
}

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
      result = applyEvents(
        follow.state,
        Array.isArray(frame.events) ? frame.events : [],
      );
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
