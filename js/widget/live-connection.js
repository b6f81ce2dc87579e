// @ts-check
/**
 * The live WebSocket of a page: one per base URL, shared by every widget on
 * it and reference-counted by their subscriptions. anywidget loads modules
 * once per widget model (from a blob URL), so the shared connections are
 * kept on `globalThis` under a registered symbol, not in a module variable.
 */
import { ApiError, requestApi } from "./api.js";
import {
  backoffDelay,
  closeAction,
  liveSocketUrl,
  parseFrame,
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

const REGISTRY_KEY = Symbol.for("dagstudio.live-connections/1");
const SUBPROTOCOL = "dagstudio.v1";
/** The subscription id of the overview feed: every execution, execution events only. */
export const OVERVIEW = "*";
/** A connection left without subscribers closes after this long. */
const LINGER_MS = 1500;
/** No frame (the server pings every 20 s) for this long: the socket is dead. */
const SILENCE_MS = 90000;

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
    } else if (frame.type === "deleted") {
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
    this._deliver(this._subscribers.get(id), frame);
    // The overview feed ("*", the executions sidebar) gets the execution
    // level events of every execution. The server sends them once per
    // socket: in the overview frames, or inside the full stream of an
    // execution some widget on the page follows.
    const overview = this._subscribers.get(OVERVIEW);
    if (id === OVERVIEW || !overview) return;
    if (frame.type === "deleted") {
      // Sent once per socket, whichever subscription carried it.
      this._deliver(overview, frame);
      return;
    }
    if (frame.type !== "events") return;
    const events = (Array.isArray(frame.events) ? frame.events : []).filter(
      (/** @type {Record<string, unknown>} */ event) =>
        event?.phase_id === null || event?.phase_id === undefined,
    );
    if (events.length > 0) this._deliver(overview, { ...frame, events });
  }

  /**
   * @param {Set<Subscriber> | undefined} subscribers
   * @param {Record<string, any>} frame
   */
  _deliver(subscribers, frame) {
    for (const subscriber of subscribers ?? []) {
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
