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
import widgetModule from "../widget/index.js";

/** @typedef {import("../widget/state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("@anywidget/types").RenderProps<WidgetTraits>} RenderProps */

/** Room kept below the graph inside the tab, in pixels. */
const MARGIN_PX = 12;
/** The graph's height before the tab has been measured. */
const FIRST_HEIGHT_PX = 480;

/**
 * The few model calls the widget's view makes, on traits held in the page.
 * `send` has no kernel to reach: the view only sends for kernel runs.
 */
class PageModel {
  /** @param {Record<string, unknown>} traits */
  constructor(traits) {
    /** @type {Map<string, unknown>} */
    this._traits = new Map(Object.entries(traits));
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
  /** @param {string} executionId */
  constructor(executionId) {
    super();
    this.addClass("dagstudio-execution-view");
    this.executionId = executionId;
    this._model = new PageModel({
      workflow: {},
      execution: { id: executionId },
      phases: {},
      height: FIRST_HEIGHT_PX,
      // The page's base URL: the execution lives on this very server.
      server: { execution_id: executionId, base_url: null },
      // No keys: the page's memory of notebook widgets is not for tabs.
      view_key: "",
      notebook_key: "",
    });
    this._controller = new AbortController();
    /** @type {(() => void) | null} */
    this._cleanup = null;
  }

  /** The run's workflow name once the server has answered, else null. */
  get workflowName() {
    const workflow = /** @type {Record<string, unknown> | undefined} */ (
      this._model.get("workflow")
    );
    const name = workflow?.name || workflow?.id;
    return typeof name === "string" && name !== "" ? name : null;
  }

  /**
   * Call `callback` whenever the workflow changes (its name, for the title).
   * @param {() => void} callback
   */
  onWorkflow(callback) {
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
    const toolbar = this.node.querySelector(".dagstudio-toolbar");
    const above = toolbar instanceof HTMLElement ? toolbar.offsetHeight : 0;
    this._model.set("height", Math.max(0, total - above - MARGIN_PX));
  }
}

/**
 * A main-area tab showing the execution `executionId`.
 * @param {string} executionId
 * @param {import("@jupyterlab/ui-components").LabIcon} icon
 * @returns {MainAreaWidget<ExecutionView>}
 */
export function createExecutionTab(executionId, icon) {
  const content = new ExecutionView(executionId);
  const tab = new MainAreaWidget({ content });
  tab.id = `dagstudio-execution-${executionId}`;
  tab.addClass("dagstudio-execution-tab");
  tab.title.icon = icon;
  tab.title.closable = true;
  tab.title.caption = `DAG Studio execution ${executionId}`;
  tab.title.label = executionId;
  content.onWorkflow(() => {
    const name = content.workflowName;
    tab.title.label = name ?? executionId;
    tab.title.caption = `${name ?? "Execution"} (${executionId})`;
  });
  return tab;
}
