// @ts-check
/**
 * An execution's graph in a main-area tab. The tab runs the notebook
 * widget's own view (`render` of ../widget/index.js) on a model kept in the
 * page, whose `server` trait names the execution: the view then fetches
 * the run and follows it over the page's one live socket, exactly as a
 * widget attached to a server run does. No kernel is involved.
 */
import { MainAreaWidget } from "@jupyterlab/apputils";
import { Widget } from "@lumino/widgets";
import { ApiError, pageConfigText } from "../widget/api.js";
import widgetModule from "../widget/index.js";
import { OVERVIEW, sharedConnection } from "../widget/live-connection.js";
import { resolveBaseUrl } from "../widget/live-state.js";
import { displayName, shortTitle } from "./format.js";
import { TabHeader } from "./tab-header.js";

/** @typedef {import("../widget/state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("./service.js").ExecutionsService} ExecutionsService */
/** @typedef {import("./sources.js").SourceTracker} SourceTracker */
/** @typedef {import("@anywidget/types").RenderProps<WidgetTraits>} RenderProps */

/**
 * @typedef {object} IExecutionViewOptions
 * @property {ExecutionsService} service
 * @property {string} baseUrl the page's base URL path
 * @property {SourceTracker} sources which source executions are deleted
 * @property {(id: string) => void} open opens another execution's tab
 */

/** Room kept below the graph inside the tab, in pixels. */
const MARGIN_PX = 12;
/** The graph's height before the tab has been measured. */
const FIRST_HEIGHT_PX = 480;

/**
 * The few model calls the widget's view makes, on traits held in the page.
 * `send` has no kernel to reach: the view only sends for kernel runs.
 */
class PageModel {
  /**
   * @param {Record<string, unknown>} traits
   * @param {(value: unknown) => boolean} [redirect] sees each new `server`
   *   value first; true keeps the old one
   */
  constructor(traits, redirect = () => false) {
    /** @type {Map<string, unknown>} */
    this._traits = new Map(Object.entries(traits));
    this._redirect = redirect;
    /** @type {Map<string, Set<(...args: any[]) => void>>} */
    this._listeners = new Map();
  }

  /** @param {string} name */
  get(name) {
    return this._traits.get(name);
  }

  /**
   * @param {string} name
   * @param {unknown} value
   */
  set(name, value) {
    if (Object.is(this._traits.get(name), value)) return;
    if (name === "server" && this._redirect(value)) return;
    this._traits.set(name, value);
    for (const callback of [...(this._listeners.get(`change:${name}`) ?? [])])
      callback();
  }

  /**
   * @param {string} event
   * @param {(...args: any[]) => void} callback
   */
  on(event, callback) {
    const set = this._listeners.get(event) ?? new Set();
    set.add(callback);
    this._listeners.set(event, set);
  }

  /**
   * @param {string} event
   * @param {(...args: any[]) => void} callback
   */
  off(event, callback) {
    this._listeners.get(event)?.delete(callback);
  }

  /** @param {unknown} message */
  send(message) {
    console.debug("[dagstudio] a tab has no kernel; not sent:", message);
  }

  save_changes() {}
}

/**
 * The widget's view of one server execution, filling its tab.
 */
export class ExecutionView extends Widget {
  /**
   * @param {string} executionId
   * @param {IExecutionViewOptions} options
   */
  constructor(executionId, options) {
    super();
    this.addClass("dagstudio-execution-view");
    this.executionId = executionId;
    this._service = options.service;
    this._base = options.baseUrl;
    this._sources = options.sources;
    this._open = options.open;
    /** @type {string | null} why the execution is not on the server */
    this.gone = null;
    this._model = new PageModel(
      {
        workflow: {},
        execution: { id: executionId },
        phases: {},
        height: FIRST_HEIGHT_PX,
        // The page's base URL: the execution lives on this very server.
        server: { execution_id: executionId, base_url: null },
        // No keys: the page's memory of notebook widgets is not for tabs.
        view_key: "",
        notebook_key: "",
      },
      (server) => this._redirect(server),
    );
    this._controller = new AbortController();
    /** @type {(() => void) | null} */
    this._cleanup = null;
    /** @type {Set<() => void>} */
    this._changed = new Set();
    /** @type {TabHeader | null} the source link and the reused phases */
    this._header = null;
  }

  /**
   * A tab shows one execution: when the view would follow another (a
   * re-run started from a node's menu, the link to a re-run's source),
   * that one opens in its own tab instead.
   * @param {unknown} server the `server` value the view sets
   * @returns {boolean} whether the tab keeps its execution
   */
  _redirect(server) {
    const id = /** @type {{ execution_id?: unknown } | null} */ (server)
      ?.execution_id;
    if (typeof id !== "string" || id === "" || id === this.executionId) {
      return false;
    }
    this._open(id);
    return true;
  }

  /** The run's workflow name once the server has answered, else null. */
  get workflowName() {
    const workflow = /** @type {Record<string, unknown> | undefined} */ (
      this._model.get("workflow")
    );
    const name = displayName(workflow?.name, "");
    return name !== "" ? name : null;
  }

  /**
   * Call `callback` when the name to show or the `gone` state changes.
   * @param {() => void} callback
   */
  onChange(callback) {
    this._changed.add(callback);
    this._model.on("change:workflow", callback);
    this._controller.signal.addEventListener("abort", () =>
      this._model.off("change:workflow", callback),
    );
  }

  /** @param {import("@lumino/messaging").Message} msg */
  onAfterAttach(msg) {
    super.onAfterAttach(msg);
    if (this._cleanup !== null) return;
    // The view uses the model, its element and the signal; anywidget's
    // host and experimental calls are for kernel widgets only.
    const props = /** @type {RenderProps} */ (
      /** @type {unknown} */ ({
        model: this._model,
        el: this.node,
        signal: this._controller.signal,
      })
    );
    const cleanup = widgetModule.render(props);
    this._cleanup = typeof cleanup === "function" ? cleanup : null;
    this._header = new TabHeader({
      doc: this.node.ownerDocument,
      model: this._model,
      sources: this._sources,
      open: this._open,
      resized: () => this._fit(),
      signal: this._controller.signal,
    });
    // Above the widget's own toolbar, below a "not on the server" banner.
    this.node.prepend(this._header.node);
    this._watchRemoval();
  }

  /**
   * Say so in the tab when the execution is not on the server: not found
   * when the tab opens (after a refresh, say), or deleted while open. The
   * view itself only marks a running run as stopped.
   */
  _watchRemoval() {
    const { signal } = this._controller;
    this._service.get(this.executionId, signal).then(
      (execution) => {
        if (!signal.aborted)
          this._header?.setDerivedFrom(execution?.derived_from);
      },
      (error) => {
        if (signal.aborted) return;
        if (
          error instanceof ApiError &&
          (error.status === 404 || error.status === 403)
        ) {
          this._markGone(
            "This execution is not on the server: it was deleted, or it " +
              "belongs to another user.",
          );
        }
      },
    );
    const doc = this.node.ownerDocument;
    const base = resolveBaseUrl(pageConfigText(doc), this._base);
    const release = sharedConnection(doc, base).subscribe({
      executionId: OVERVIEW,
      since: () => 0,
      onFrame: (frame) => {
        if (frame.type !== "deleted") return;
        if (frame.execution_id === this.executionId) {
          this._markGone("This execution was deleted from the server.");
        } else if (typeof frame.execution_id === "string") {
          // Perhaps the source this run derives from.
          this._sources.markGone(frame.execution_id);
        }
      },
      onState: () => {},
      onRefused: () => {},
    });
    signal.addEventListener("abort", release);
  }

  /** @param {string} text */
  _markGone(text) {
    if (this.gone !== null) return;
    this.gone = text;
    const banner = this.node.ownerDocument.createElement("div");
    banner.className = "dagstudio-execution-gone";
    banner.setAttribute("role", "status");
    banner.textContent = text;
    this.node.prepend(banner);
    for (const callback of this._changed) callback();
    this._fit();
  }

  /** @param {import("@lumino/widgets").Widget.ResizeMessage} msg */
  onResize(msg) {
    super.onResize(msg);
    this._fit();
  }

  /** @param {import("@lumino/messaging").Message} msg */
  onAfterShow(msg) {
    super.onAfterShow(msg);
    this._fit();
  }

  dispose() {
    if (this.isDisposed) return;
    this._controller.abort();
    this._cleanup?.();
    this._cleanup = null;
    super.dispose();
  }

  /** Size the graph to the tab, below the widget's toolbar. */
  _fit() {
    const total = this.node.clientHeight;
    if (total <= 0) return;
    let above = 0;
    for (const selector of [
      ".dagstudio-toolbar",
      ".dagstudio-execution-gone",
      ".dagstudio-execution-header",
    ]) {
      const part = this.node.querySelector(selector);
      if (part instanceof HTMLElement) above += part.offsetHeight;
    }
    this._model.set("height", Math.max(0, total - above - MARGIN_PX));
  }
}

/**
 * A main-area tab showing the execution `executionId`.
 * @param {string} executionId
 * @param {import("@jupyterlab/ui-components").LabIcon} icon
 * @param {IExecutionViewOptions} options
 * @returns {MainAreaWidget<ExecutionView>}
 */
export function createExecutionTab(executionId, icon, options) {
  const content = new ExecutionView(executionId, options);
  const tab = new MainAreaWidget({ content });
  tab.id = `dagstudio-execution-${executionId}`;
  tab.addClass("dagstudio-execution-tab");
  tab.title.icon = icon;
  tab.title.closable = true;
  tab.title.caption = `DAG Studio execution ${executionId}`;
  tab.title.label = executionId;
  content.onChange(() => {
    const name = content.workflowName ?? executionId;
    const gone = content.gone === null ? "" : " (not on the server)";
    tab.title.label = `${shortTitle(name)}${gone}`;
    tab.title.caption = `${name} (${executionId})${gone}`;
  });
  return tab;
}
