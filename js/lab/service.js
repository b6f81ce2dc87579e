// @ts-check
/**
 * The DAG Studio REST endpoints the JupyterLab extension uses, on the
 * page's own server (its base URL included). Every call goes through the
 * widget's `requestApi`: same origin, Jupyter's token or cookie, the XSRF
 * header on writes, and errors as `ApiError` carrying the server's message.
 */
import { ApiError, requestApi } from "../widget/api.js";

/** @typedef {import("./format.js").ExecutionSummary} ExecutionSummary */

/**
 * The body of a re-run request (`POST executions/{id}/rerun`).
 * @typedef {object} IRerunRequest
 * @property {"phase" | "downstream" | "resume"} mode
 * @property {string | null} [phase_id] the phase picked, for phase and
 *   downstream
 */

/** How many summaries one list request asks for (the server's default). */
export const PAGE_SIZE = 50;

/**
 * The user-facing text of a failed call: the server's message without the
 * console prefix and request line.
 * @param {unknown} error
 * @returns {string}
 */
export function errorText(error) {
  const text = error instanceof Error ? error.message : String(error);
  // "[dagstudio] POST executions/x/cancel: 409 <message>" → "<message>"
  const match = /^\[dagstudio\] [A-Z]+ [^:]*: (?:\d{3} )?(.*)$/s.exec(text);
  return match ? match[1] : text.replace(/^\[dagstudio\] /, "");
}

/** The executions API of one Jupyter server. */
export class ExecutionsService {
  /**
   * @param {Document} doc the page, for its token and XSRF cookie
   * @param {string} baseUrl the page's base URL path, ending in "/"
   */
  constructor(doc, baseUrl) {
    this._doc = doc;
    this._base = baseUrl;
  }

  /**
   * The newest executions first, at least `wanted` of them when the server
   * has that many: pages are fetched until then.
   * @param {number} wanted
   * @param {AbortSignal} [signal]
   * @param {{ status?: string, q?: string }} [filters] only executions in
   *   this status, or whose name, id or owner holds this text
   * @returns {Promise<{ executions: ExecutionSummary[], more: boolean }>}
   */
  async list(wanted, signal, filters = {}) {
    /** @type {ExecutionSummary[]} */
    const executions = [];
    /** @type {string | null} */
    let cursor = null;
    do {
      /** @type {Record<string, string | number>} */
      const query = { limit: PAGE_SIZE };
      if (filters.status) query.status = filters.status;
      if (filters.q) query.q = filters.q;
      if (cursor !== null) query.cursor = cursor;
      const page = await this._call("GET", ["executions"], signal, query);
      executions.push(...(page?.executions ?? []));
      cursor = typeof page?.next_cursor === "string" ? page.next_cursor : null;
    } while (cursor !== null && executions.length < wanted);
    return { executions, more: cursor !== null };
  }

  /**
   * Whether the server extension answers on this server.
   * @returns {Promise<boolean>} false on a 404 only; other errors throw
   */
  async available() {
    try {
      await this._call("GET", ["executions"], undefined, { limit: 1 });
      return true;
    } catch (error) {
      if (error instanceof ApiError && error.status === 404) return false;
      throw error;
    }
  }

  /**
   * The execution with its workflow and phases.
   * @param {string} id
   * @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  get(id, signal) {
    return this._call("GET", ["executions", id], signal);
  }

  /**
   * @param {string} id
   * @returns {Promise<any>} the execution as the server now has it
   */
  cancel(id) {
    return this._call("POST", ["executions", id, "cancel"]);
  }

  /**
   * Run the failed and cancelled phases of an execution again.
   * @param {string} id
   * @returns {Promise<any>}
   */
  retry(id) {
    return this._call("POST", ["executions", id, "retry"]);
  }

  /**
   * Start a new execution that re-runs part of `id`, reusing its results.
   * @param {string} id the source execution
   * @param {IRerunRequest} request
   * @returns {Promise<any>} the new execution's document
   */
  rerun(id, request) {
    const parts = ["executions", id, "rerun"];
    return this._call("POST", parts, undefined, undefined, request);
  }

  /**
   * Whether the execution `id` is on the server and visible to the user.
   * A list filtered by the id is asked, to spare fetching its phases.
   * @param {string} id
   * @param {AbortSignal} [signal]
   * @returns {Promise<boolean>}
   */
  async exists(id, signal) {
    const page = await this._call("GET", ["executions"], signal, {
      q: id,
      limit: PAGE_SIZE,
    });
    const found = page?.executions ?? [];
    return found.some((/** @type {any} */ execution) => execution?.id === id);
  }

  /**
   * Forget a finished execution and its events.
   * @param {string} id
   * @returns {Promise<void>}
   */
  async remove(id) {
    await this._call("DELETE", ["executions", id]);
  }

  /**
   * @param {"GET" | "POST" | "DELETE"} method
   * @param {string[]} parts
   * @param {AbortSignal} [signal]
   * @param {Record<string, string | number>} [query]
   * @param {unknown} [body] sent as JSON
   */
  _call(method, parts, signal, query, body) {
    return requestApi(
      this._doc,
      this._base,
      method,
      parts,
      signal,
      query,
      body,
    );
  }
}
