// @ts-check
/**
 * What the page knows of the executions others derive from: whether each
 * is still on the server. The panel and the tabs share one tracker, so a
 * source seen deleted anywhere reads "(deleted)" everywhere, and each
 * source is looked up at most once.
 */

/**
 * @typedef {"present" | "gone" | "checking"} SourceState
 */

/** Which source executions are known to be on the server, or deleted. */
export class SourceTracker {
  /**
   * @param {(id: string) => Promise<boolean>} exists asks the server
   *   whether an execution is there (false for deleted or not visible)
   */
  constructor(exists) {
    this._exists = exists;
    /** @type {Map<string, SourceState>} */
    this._states = new Map();
    /** @type {Set<() => void>} */
    this._listeners = new Set();
  }

  /**
   * Whether the execution `id` is known to be deleted.
   * @param {string} id
   * @returns {boolean}
   */
  isGone(id) {
    return this._states.get(id) === "gone";
  }

  /**
   * Call `callback` whenever a source turns out deleted.
   * @param {() => void} callback
   * @returns {() => void} stops the calls
   */
  onChange(callback) {
    this._listeners.add(callback);
    return () => this._listeners.delete(callback);
  }

  /**
   * The execution `id` is on the server (a list just showed it). A list
   * asked for before a deletion may answer after it, so "gone" stays:
   * ids are never reused.
   * @param {string} id
   */
  markPresent(id) {
    if (!this._states.has(id)) this._states.set(id, "present");
  }

  /**
   * The execution `id` was deleted (the live channel said so).
   * @param {string} id
   */
  markGone(id) {
    if (this._states.get(id) === "gone") return;
    this._states.set(id, "gone");
    for (const callback of [...this._listeners]) callback();
  }

  /**
   * Ask the server about each source not yet known, once.
   * @param {Iterable<string>} ids
   */
  check(ids) {
    for (const id of ids) {
      if (this._states.has(id)) continue;
      this._states.set(id, "checking");
      this._exists(id).then(
        (present) => {
          // A deletion reported meanwhile wins over an older answer.
          if (this._states.get(id) !== "checking") return;
          if (present) this._states.set(id, "present");
          else this.markGone(id);
        },
        (error) => {
          // Unknown again, so a later list asks once more.
          if (this._states.get(id) === "checking") this._states.delete(id);
          console.warn(
            `[dagstudio] cannot check source execution ${id}:`,
            String(error),
          );
        },
      );
    }
  }
}
