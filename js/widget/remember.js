// @ts-check
/**
 * What the page remembers of the server executions its widgets follow, so
 * a refresh (or a widget made again under the same key) finds its run
 * again, and what to tell the user on that first load.
 *
 * One `localStorage` item holds every entry, keyed by notebook and widget.
 * An entry holds no credential: the execution id, the server's base URL
 * path, when it was written and the last status seen. Entries are bounded
 * (the oldest go first) and dropped once their run is over. Storage that
 * is missing, disabled, full or holding garbage only makes the page forget;
 * it never breaks the widget.
 *
 * Known limitation: two tabs writing at the same moment can lose one
 * entry (each writes the whole item); that view then shows no toast on its
 * next load.
 */
import { finishedRunMessage } from "./state.js";

/** @typedef {import("./state.js").Execution} Execution */
/** @typedef {import("./state.js").PhaseState} PhaseState */
/** @typedef {import("./state.js").Workflow} Workflow */
/** @typedef {import("./toast.js").Toast} Toast */

/**
 * A server execution a widget followed, as remembered.
 * @typedef {object} RememberedRun
 * @property {string} execution_id
 * @property {string} base_url the server's base URL path, e.g. "/"
 * @property {number} at when it was written, epoch milliseconds
 * @property {string} status the execution status last seen
 */

/**
 * The part of the Web Storage API used here.
 * @typedef {Pick<Storage, "getItem" | "setItem" | "removeItem">} StorageLike
 */

/**
 * @typedef {object} Memory
 * @property {(key: string) => RememberedRun | null} recall
 * @property {(key: string, entry: RememberedRun) => void} remember
 * @property {(key: string, executionId?: string) => void} forget drops the
 *   entry; with `executionId`, only an entry of that execution
 */

export const STORAGE_KEY = "dagstudio.followed/1";
/** Widgets remembered at most; a notebook rarely holds more than a few. */
export const MAX_ENTRIES = 50;
/** Statuses after which nothing more is to be seen: the entry goes. */
const OVER = new Set(["completed", "failed", "cancelled"]);

/**
 * Return the key of a widget's entry: its notebook and its `view_key`.
 * The notebook is the kernel's `notebook_key` when there is one, else the
 * page's path. Null when the widget has no `view_key` (made by an older
 * version): such a widget is not remembered.
 * @param {unknown} notebookKey
 * @param {unknown} viewKey
 * @param {string | null | undefined} pagePath `location.pathname`
 * @returns {string | null}
 */
export function rememberKey(notebookKey, viewKey, pagePath) {
  if (typeof viewKey !== "string" || viewKey === "") return null;
  const notebook =
    typeof notebookKey === "string" && notebookKey !== ""
      ? notebookKey
      : `page:${pagePath ?? ""}`;
  return `${notebook}\n${viewKey}`;
}

/**
 * Tell whether an execution in this status is no longer remembered:
 * finished, or "unknown" (the server does not have it or refuses it).
 * @param {string} status
 * @returns {boolean}
 */
export function isForgotten(status) {
  return OVER.has(status) || status === "unknown";
}

/**
 * Return the page's `localStorage`, or null where it cannot be used (some
 * browsers throw on the mere access when storage is disabled).
 * @returns {StorageLike | null}
 */
export function pageStorage() {
  try {
    return globalThis.localStorage ?? null;
  } catch {
    return null;
  }
}

/**
 * Open the remembered runs kept in `storage` (null: remember nothing).
 * @param {StorageLike | null} storage
 * @param {() => number} [now] epoch milliseconds
 * @returns {Memory}
 */
export function openMemory(storage, now = Date.now) {
  let warned = false;

  /** @returns {Record<string, RememberedRun>} */
  function read() {
    if (storage === null) return {};
    let text;
    try {
      text = storage.getItem(STORAGE_KEY);
    } catch {
      return {};
    }
    if (!text) return {};
    let parsed;
    try {
      parsed = JSON.parse(text);
    } catch {
      return {};
    }
    if (typeof parsed !== "object" || parsed === null) return {};
    /** @type {Record<string, RememberedRun>} */
    const entries = {};
    for (const [key, value] of Object.entries(parsed)) {
      const entry = checkEntry(value);
      if (entry !== null) entries[key] = entry;
    }
    return entries;
  }

  /** @param {Record<string, RememberedRun>} entries */
  function write(entries) {
    if (storage === null) return;
    let kept = newest(entries, MAX_ENTRIES);
    // A full storage gets a second try with half the entries.
    for (let round = 0; round < 2; round += 1) {
      try {
        if (Object.keys(kept).length === 0) storage.removeItem(STORAGE_KEY);
        else storage.setItem(STORAGE_KEY, JSON.stringify(kept));
        return;
      } catch (error) {
        kept = newest(kept, Math.floor(Object.keys(kept).length / 2));
        if (round === 1 && !warned) {
          warned = true;
          console.warn("[dagstudio] cannot remember followed runs:", error);
        }
      }
    }
  }

  return {
    recall(key) {
      return read()[key] ?? null;
    },
    remember(key, entry) {
      const entries = read();
      // Field by field: nothing else a caller holds is written.
      entries[key] = {
        execution_id: entry.execution_id,
        base_url: entry.base_url,
        at: now(),
        status: entry.status,
      };
      write(entries);
    },
    forget(key, executionId) {
      const entries = read();
      const entry = entries[key];
      if (!entry) return;
      if (executionId !== undefined && entry.execution_id !== executionId) {
        return;
      }
      delete entries[key];
      write(entries);
    },
  };
}

/**
 * Return the `count` most recently written entries.
 * @param {Record<string, RememberedRun>} entries
 * @param {number} count
 * @returns {Record<string, RememberedRun>}
 */
function newest(entries, count) {
  const sorted = Object.entries(entries).sort(([, a], [, b]) => b.at - a.at);
  return Object.fromEntries(sorted.slice(0, Math.max(0, count)));
}

/**
 * @param {unknown} value
 * @returns {RememberedRun | null}
 */
function checkEntry(value) {
  if (typeof value !== "object" || value === null) return null;
  const { execution_id, base_url, at, status } =
    /** @type {Record<string, unknown>} */ (value);
  if (typeof execution_id !== "string" || execution_id === "") return null;
  return {
    execution_id,
    base_url: typeof base_url === "string" ? base_url : "/",
    at: typeof at === "number" && Number.isFinite(at) ? at : 0,
    status: typeof status === "string" ? status : "running",
  };
}

/**
 * Return the toast of a view's first load of a server execution, or null.
 *
 * It speaks only when this browser followed the run before (`remembered`
 * is its entry, written by an earlier page or view):
 * - still under way on the server: "Reconnected to a running workflow";
 * - over on the server while the entry said it was under way (it ended
 *   while nobody watched): completed, failed at a phase, or cancelled.
 *
 * No toast when the run is new to this browser (it was just started here,
 * or is looked at from another browser), when the entry is of another
 * execution, or when the entry already said the run was over (entries are
 * dropped once a page sees the end, so a run seen to finish stays quiet on
 * every reopen). The caller asks only for a view that found the link at
 * load, and only while no other view of the page shows that run live, so
 * several views of one model speak once; the toast id
 * `execution:<id>:<what>`, shared with the run-end toast, keeps any that
 * still meet on screen to one.
 * @param {RememberedRun | null} remembered
 * @param {Execution} execution the server's, as folded into the traits
 * @param {Workflow | null | undefined} workflow
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @returns {Toast | null}
 */
export function loadToast(remembered, execution, workflow, phases) {
  const id = execution.id;
  if (remembered === null || !id || remembered.execution_id !== id) {
    return null;
  }
  const status = execution.status ?? "pending";
  if (!OVER.has(status)) {
    return {
      level: "info",
      text: "Reconnected to a running workflow",
      id: `execution:${id}:reconnected`,
    };
  }
  if (OVER.has(remembered.status)) return null;
  const toastId = `execution:${id}:${status}`;
  if (status === "completed") {
    return {
      level: "success",
      text: "Workflow previously completed",
      id: toastId,
    };
  }
  if (status === "cancelled") {
    return { level: "info", text: "Workflow was cancelled", id: toastId };
  }
  const message = finishedRunMessage(status, workflow, phases, execution);
  return message === null ? null : { ...message, id: toastId };
}
