// @ts-check
/**
 * The left-sidebar panel listing the executions the user may see.
 *
 * Known limitation: the list is polled every 2 s. The page's shared live
 * socket (js/widget/live-connection.js) sends a `"*"` subscription, but it
 * routes frames only to subscribers of the frame's own execution id, so a
 * `"*"` subscriber never receives the overview feed; once it does, the
 * panel can refresh on live frames instead of on a timer.
 */
import { Widget } from "@lumino/widgets";
import { requestApi } from "../widget/api.js";
import { FIRST_RUN_EXAMPLE, toRow } from "./format.js";

/** @typedef {import("./format.js").ExecutionSummary} ExecutionSummary */

/**
 * @typedef {object} IExecutionsPanelOptions
 * @property {string} baseUrl the page's base URL path, ending in "/"
 */

/** How often the list is fetched again while the panel is shown. */
const POLL_MS = 2000;

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
    this._message = element(doc, "div", "dagstudio-executions-message");
    this._list = element(doc, "ul", "dagstudio-executions-list");
    this._list.setAttribute("aria-label", "Executions");
    this.node.append(this._message, this._list);
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
    /** @type {AbortController | null} */
    this._request = null;
    this._generation = 0;
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
        this._timer = setTimeout(tick, POLL_MS);
      }
    };
    void tick();
  }

  _stop() {
    this._generation += 1;
    clearTimeout(this._timer);
    this._timer = undefined;
    this._request?.abort();
    this._request = null;
  }

  /** @param {ExecutionSummary[]} executions */
  _render(executions) {
    const doc = this.node.ownerDocument;
    this._message.replaceChildren();
    delete this._message.dataset.kind;
    if (executions.length === 0) {
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
