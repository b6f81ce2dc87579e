// @ts-check
/**
 * The left-sidebar panel listing the executions the user may see. It
 * fetches the list again when the page's one live socket reports an
 * execution-level event (a run submitted, started, finished), so new runs
 * and status changes show at once.
 *
 * Known limitation: the overview feed carries no phase events, so the
 * "done / total" counts of running executions are refreshed by polling
 * (every 2 s while one runs; every 30 s otherwise, as a safety net).
 */
import { Widget } from "@lumino/widgets";
import { pageConfigText, requestApi } from "../widget/api.js";
import { OVERVIEW, sharedConnection } from "../widget/live-connection.js";
import { resolveBaseUrl } from "../widget/live-state.js";
import {
  FILTER_STATUSES,
  FIRST_RUN_EXAMPLE,
  matchesFilter,
  toRow,
} from "./format.js";

/** @typedef {import("./format.js").ExecutionSummary} ExecutionSummary */

/**
 * @typedef {object} IExecutionsPanelOptions
 * @property {string} baseUrl the page's base URL path, ending in "/"
 */

/** How often the list is fetched again while an execution runs... */
const POLL_RUNNING_MS = 2000;
/** ...and otherwise, should a live event have been missed. */
const POLL_IDLE_MS = 30000;
/** Live events closer together than this cost one fetch. */
const LIVE_DEBOUNCE_MS = 150;

/**
 * Build an element with a class and text.
 * @param {Document} doc
 * @param {string} tag
 * @param {string} className
 * @param {string} [text]
 * @returns {HTMLElement}
 */
function element(doc, tag, className, text) {
  const node = doc.createElement(tag);
  node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The executions sidebar: a Lumino widget refreshing itself while shown. */
export class ExecutionsPanel extends Widget {
  /** @param {IExecutionsPanelOptions} options */
  constructor(options) {
    super();
    this.id = "dagstudio-executions";
    this.addClass("dagstudio-executions");
    this.title.caption = "DAG Studio executions";
    this._base = options.baseUrl;
    const doc = this.node.ownerDocument;
    this.node.append(
      element(
        doc,
        "h2",
        "dagstudio-executions-header",
        "DAG Studio executions",
      ),
    );
    const filters = element(doc, "div", "dagstudio-executions-filters");
    this._text = /** @type {HTMLInputElement} */ (
      element(doc, "input", "dagstudio-executions-filter")
    );
    this._text.type = "search";
    this._text.placeholder = "Filter by name, id or owner";
    this._text.setAttribute("aria-label", "Filter executions by text");
    this._status = /** @type {HTMLSelectElement} */ (
      element(doc, "select", "dagstudio-executions-status-filter")
    );
    this._status.setAttribute("aria-label", "Filter executions by status");
    for (const value of ["", ...FILTER_STATUSES]) {
      const option = /** @type {HTMLOptionElement} */ (
        element(doc, "option", "", value === "" ? "All statuses" : value)
      );
      option.value = value;
      this._status.append(option);
    }
    filters.append(this._text, this._status);
    this._message = element(doc, "div", "dagstudio-executions-message");
    this._list = element(doc, "ul", "dagstudio-executions-list");
    this._list.setAttribute("aria-label", "Executions");
    this.node.append(filters, this._message, this._list);
    /** @type {ExecutionSummary[]} the last list fetched */
    this._all = [];
    const again = () => this._render(this._all);
    this._text.addEventListener("input", again);
    this._status.addEventListener("change", again);
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
    /** @type {AbortController | null} */
    this._request = null;
    this._generation = 0;
    this._running = false;
    /** @type {(() => void) | null} */
    this._release = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._liveTimer = undefined;
  }

  /** Fetch the list now and render it; errors show in the panel. */
  async refresh() {
    this._request?.abort();
    const request = new AbortController();
    this._request = request;
    try {
      const answer = await requestApi(
        this.node.ownerDocument,
        this._base,
        "GET",
        ["executions"],
        request.signal,
      );
      if (request.signal.aborted) return;
      this._render(answer?.executions ?? []);
    } catch (error) {
      if (request.signal.aborted) return;
      console.warn("[dagstudio] cannot list executions:", String(error));
      this._message.textContent = `Cannot list executions: ${
        error instanceof Error ? error.message : String(error)
      }`;
      this._message.dataset.kind = "error";
    } finally {
      if (this._request === request) this._request = null;
    }
  }

  /** @param {import("@lumino/messaging").Message} msg */
  onAfterShow(msg) {
    super.onAfterShow(msg);
    this._poll();
    this._listen();
  }

  /** @param {import("@lumino/messaging").Message} msg */
  onBeforeHide(msg) {
    super.onBeforeHide(msg);
    this._stop();
  }

  dispose() {
    this._stop();
    super.dispose();
  }

  /** Refresh now and every POLL_MS while shown. */
  _poll() {
    this._stop();
    // A tick still awaiting its answer when the panel is hidden and shown
    // again must not start a second chain.
    const generation = this._generation;
    const tick = async () => {
      await this.refresh();
      if (generation === this._generation && this.isVisible) {
        const delay = this._running ? POLL_RUNNING_MS : POLL_IDLE_MS;
        this._timer = setTimeout(tick, delay);
      }
    };
    void tick();
  }

  /** Follow the overview feed on the page's shared live socket. */
  _listen() {
    if (this._release !== null) return;
    const doc = this.node.ownerDocument;
    const base = resolveBaseUrl(pageConfigText(doc), this._base);
    this._release = sharedConnection(doc, base).subscribe({
      executionId: OVERVIEW,
      since: () => 0,
      onFrame: () => {
        clearTimeout(this._liveTimer);
        this._liveTimer = setTimeout(() => {
          if (this.isVisible) void this.refresh();
        }, LIVE_DEBOUNCE_MS);
      },
      // For styling and tests: "live" once the feed is subscribed.
      onState: (state) => {
        this.node.dataset.connection = state;
      },
      onRefused: () => {},
    });
  }

  _stop() {
    this._release?.();
    this._release = null;
    clearTimeout(this._liveTimer);
    this._generation += 1;
    clearTimeout(this._timer);
    this._timer = undefined;
    this._request?.abort();
    this._request = null;
  }

  /** @param {ExecutionSummary[]} all every execution fetched; the filters pick what shows */
  _render(all) {
    const doc = this.node.ownerDocument;
    this._all = all;
    const executions = all.filter((execution) =>
      matchesFilter(execution, this._text.value, this._status.value),
    );
    this._message.replaceChildren();
    delete this._message.dataset.kind;
    if (all.length > 0 && executions.length === 0) {
      this._message.append(
        element(
          doc,
          "p",
          "dagstudio-executions-empty",
          "No execution matches the filter.",
        ),
      );
    }
    if (all.length === 0) {
      this._message.append(
        element(
          doc,
          "p",
          "dagstudio-executions-empty",
          "No executions yet. Run a workflow on this Jupyter server from " +
            "a notebook and it shows up here:",
        ),
        element(doc, "pre", "dagstudio-executions-example", FIRST_RUN_EXAMPLE),
      );
    }
    const now = Date.now();
    this._running = all.some(
      (execution) =>
        execution.status === "running" || execution.status === "pending",
    );
    this._list.replaceChildren(
      ...executions.map((execution) => {
        const row = toRow(execution, now);
        const item = element(doc, "li", "dagstudio-execution");
        item.dataset.id = row.id;
        item.dataset.status = row.status;
        const head = element(doc, "div", "dagstudio-execution-head");
        const status = element(doc, "span", "dagstudio-execution-status");
        status.append(
          element(doc, "span", "dagstudio-execution-icon", row.icon),
          element(
            doc,
            "span",
            "dagstudio-execution-status-text",
            row.statusText,
          ),
        );
        head.append(
          element(doc, "span", "dagstudio-execution-name", row.name),
          status,
        );
        const facts = [
          row.progress && `${row.progress} phases`,
          row.owner,
          `started ${row.started}`,
          row.duration,
        ].filter(Boolean);
        item.append(
          head,
          element(doc, "div", "dagstudio-execution-facts", facts.join(" · ")),
        );
        item.title = row.id;
        return item;
      }),
    );
  }
}
