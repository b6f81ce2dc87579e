// @ts-check
/**
 * Entry of the DagWidget front end (anywidget): a toolbar with the run's
 * summary, the workflow graph and its status legend, a phase details
 * panel, a node menu that runs phases again (run-control.js), and toasts.
 * For a server run (the `server` trait) the view follows the server itself.
 */
import { createDetailsPanel } from "./details.js";
import { html, setAttr, setText } from "./dom.js";
import { watchKernelRestart } from "./kernel-restart.js";
import { createLegend } from "./legend.js";
import { createServerFollower } from "./live.js";
import { createRunControl } from "./run-control.js";
import {
  executionElapsed,
  executionStatus,
  finishedRunMessage,
  formatElapsed,
  formatSummary,
  isExecutionFinal,
  isExecutionLive,
  statusIcon,
  statusText,
  summarize,
} from "./state.js";
import { parseToastMessage, showToast } from "./toast.js";
import { createToolbar, showConnection } from "./toolbar.js";
import { createWorkflowView } from "./workflow-view.js";

/** @typedef {import("./state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("./state.js").Execution} Execution */
/** @typedef {import("./state.js").PhaseState} PhaseState */
/** @typedef {import("./state.js").Workflow} Workflow */
/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("@anywidget/types").AnyModel<WidgetTraits>} Model */

const DEFAULT_HEIGHT = 420;
const MIN_HEIGHT = 120;
const ZOOM_STEP = 1.25;
/**
 * The rule for the toast of a run that ends (running → completed, failed or
 * cancelled, seen live by this view; never for the state found at first
 * render): the kernel's toast wins. The view waits OWN_TOAST_DELAY_MS and
 * drops its own toast if a kernel toast of a matching level (RUN_END_LEVELS)
 * arrived within KERNEL_TOAST_WINDOW_MS of the change. Its own toast has
 * the id `execution:<execution id>:<status>`, so a kernel toast sent with
 * that id and the other views of the same model never show it twice.
 */
const OWN_TOAST_DELAY_MS = 600;
const KERNEL_TOAST_WINDOW_MS = 3000;
/** @type {Readonly<Record<string, readonly string[]>>} */
const RUN_END_LEVELS = Object.freeze({
  completed: ["success"],
  failed: ["error"],
  cancelled: ["info", "warning"],
});

/**
 * Read the synced traits, with safe values for anything missing.
 * @param {Model} model
 */
function readTraits(model) {
  const workflow = model.get("workflow") ?? {};
  const execution = model.get("execution") ?? {};
  const phases = model.get("phases") ?? {};
  const height = Number(model.get("height"));
  return {
    workflow,
    execution,
    phases,
    height: Number.isFinite(height) && height > 0 ? height : DEFAULT_HEIGHT,
  };
}

/**
 * Subscribe to a model event until `signal` aborts.
 * @param {Model} model
 * @param {string} name
 * @param {(...args: any[]) => void} callback
 * @param {AbortSignal} signal
 */
function listen(model, name, callback, signal) {
  model.on(name, callback);
  signal.addEventListener("abort", () => model.off(name, callback));
}

/** @type {import("@anywidget/types").Initialize<WidgetTraits>} */
function initialize({ model }) {
  const phases = model.get("workflow")?.phases;
  const count = Array.isArray(phases) ? phases.length : 0;
  console.debug(`[dagstudio] widget model ready (${count} phases)`);
}

/** @type {import("@anywidget/types").Render<WidgetTraits>} */
function render({ model, el, signal: hostSignal }) {
  const controller = new AbortController();
  const { signal } = controller;
  hostSignal?.addEventListener("abort", () => controller.abort(), { signal });
  const doc = el.ownerDocument;

  const root = html(doc, "div", "dagstudio-widget", {
    // Keeps JupyterLab's notebook shortcuts (Enter, d d, …) from acting on
    // keys pressed while a node or button of the widget has focus.
    "data-lm-suppress-shortcuts": "true",
  });
  const bar = createToolbar(doc);
  const view = createWorkflowView(doc, {
    signal,
    onOpen: (node, viaKeyboard) => openDetails(node, viaKeyboard),
    onLayout: () => reopenDetails(),
  });
  const graph = view.graph;
  const details = createDetailsPanel(doc, {
    signal,
    onClose: (id) => {
      graph.select(null);
      graph.focusNode(id);
    },
    onMenu: (id, invoker) => control.openFromButton(id, invoker),
  });
  const legend = createLegend(doc);
  bar.toolbar.insertBefore(view.tools, bar.actions);
  root.append(bar.toolbar, view.element, legend.element, details.element);
  el.replaceChildren(root);
  const server = createServerFollower({
    model,
    doc,
    signal,
    onConnection: (state, detail) =>
      showConnection(bar.connection, state, detail),
  });
  watchKernelRestart({ model, doc, signal, isServerRun: server.active });
  const control = createRunControl({ model, doc, signal, view, server });
  bar.toolbar.insertBefore(control.link, bar.connection);

  let lastExecution = readTraits(model).execution;
  /** @type {Map<string, number>} when the kernel last sent each level */
  const kernelToastAt = new Map();
  /** @type {Set<ReturnType<typeof setTimeout>>} */
  const timeouts = new Set();
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let ticker;
  let frame = 0;
  const dirty = { workflow: true, state: true };

  /**
   * @param {import("./layout.js").LayoutNode} node
   * @param {boolean} viaKeyboard
   */
  function openDetails(node, viaKeyboard) {
    graph.select(node.id);
    details.show(node, readTraits(model).phases, viaKeyboard);
  }

  /** Keep the details panel on its phase across a new layout. */
  function reopenDetails() {
    const open = details.phaseId();
    const node = open === null ? null : view.node(open);
    if (node) {
      details.show(node, readTraits(model).phases, false);
      graph.select(node.id);
    } else {
      details.hide();
    }
  }

  function applyWorkflow() {
    const { workflow, phases } = readTraits(model);
    setText(bar.title, workflow.name || workflow.id || "Workflow");
    view.setWorkflow(workflow, phases);
  }

  function applyElapsed() {
    const { execution } = readTraits(model);
    const ms = executionElapsed(execution, Date.now());
    setText(bar.elapsed, ms === null ? "" : ` · elapsed ${formatElapsed(ms)}`);
    bar.elapsed.hidden = ms === null;
  }

  function applyState() {
    const { workflow, execution, phases, height } = readTraits(model);
    const status = executionStatus(execution);
    setAttr(root, "data-execution-status", status);
    setAttr(bar.status, "data-status", status);
    setText(bar.status, `${statusIcon(status)} ${statusText(status)}`);
    const summary = summarize(workflow, phases);
    setText(bar.counts, formatSummary(summary));
    legend.update(summary);
    control.update();
    view.element.style.height = `${Math.max(MIN_HEIGHT, height)}px`;
    details.update(phases);
    const running = status === "running";
    bar.cancel.hidden = !running;
    if (!running) resetCancel();
    applyElapsed();
    syncTicker(isExecutionLive(execution));
  }

  /** @param {boolean} live */
  function syncTicker(live) {
    if (live && ticker === undefined) {
      ticker = setInterval(() => {
        applyElapsed();
        details.update(readTraits(model).phases);
      }, 1000);
    } else if (!live && ticker !== undefined) {
      clearInterval(ticker);
      ticker = undefined;
    }
  }

  function cancelRun() {
    bar.cancel.disabled = true;
    setText(bar.cancel, "Cancelling…");
    if (!server.active()) {
      model.send({ type: "cancel" });
      return;
    }
    server.cancel().catch((/** @type {unknown} */ error) => {
      const text = error instanceof Error ? error.message : String(error);
      console.warn("[dagstudio] cancel failed:", text);
      resetCancel();
      showToast(doc, {
        level: "error",
        text: `Could not cancel the run: ${text.replace("[dagstudio] ", "")}`,
        id: `cancel-failed:${Date.now()}`,
      });
    });
  }

  function resetCancel() {
    bar.cancel.disabled = false;
    setText(bar.cancel, "Cancel");
  }

  function flush() {
    frame = 0;
    if (dirty.workflow) applyWorkflow();
    if (dirty.workflow || dirty.state) applyState();
    dirty.workflow = false;
    dirty.state = false;
  }

  /** @param {"workflow" | "state"} part */
  function schedule(part) {
    dirty[part] = true;
    if (frame === 0 && !signal.aborted) frame = requestAnimationFrame(flush);
  }

  /**
   * @param {() => void} callback
   * @param {number} delay
   */
  function later(callback, delay) {
    const timer = setTimeout(() => {
      timeouts.delete(timer);
      callback();
    }, delay);
    timeouts.add(timer);
  }

  /** Raise this view's toast when it sees the run end (see the rule above). */
  function watchRunEnd() {
    const previous = lastExecution;
    const { execution } = readTraits(model);
    lastExecution = execution;
    // The server's first answer after a load is no live change; live.js
    // says in its own toast what happened meanwhile.
    if (server.restoring()) return;
    const before = executionStatus(previous);
    const after = executionStatus(execution);
    const sameRun = Boolean(execution.id) && previous.id === execution.id;
    if (!sameRun || before === "none" || isExecutionFinal(before)) return;
    if (!isExecutionFinal(after)) return;
    const changedAt = Date.now();
    later(() => {
      const { workflow, phases } = readTraits(model);
      const message = finishedRunMessage(after, workflow, phases, execution);
      if (message === null) return;
      const kernelSaidSo = (RUN_END_LEVELS[after] ?? []).some((level) => {
        const at = kernelToastAt.get(level);
        return (
          at !== undefined && Math.abs(at - changedAt) <= KERNEL_TOAST_WINDOW_MS
        );
      });
      if (kernelSaidSo) return;
      showToast(doc, { ...message, id: `execution:${execution.id}:${after}` });
    }, OWN_TOAST_DELAY_MS);
  }

  /** @param {unknown} message */
  function onCustomMessage(message) {
    const toast = parseToastMessage(message);
    if (toast === null) {
      console.debug("[dagstudio] ignored a message from the kernel", message);
      return;
    }
    kernelToastAt.set(toast.level, Date.now());
    showToast(doc, toast);
  }

  listen(model, "change:workflow", () => schedule("workflow"), signal);
  listen(
    model,
    "change:phases",
    () => {
      // The graph draws in its own next frame; going through this view's
      // frame first would show every change one frame late.
      view.update(readTraits(model).phases);
      schedule("state");
    },
    signal,
  );
  listen(model, "change:height", () => schedule("state"), signal);
  listen(
    model,
    "change:execution",
    () => {
      watchRunEnd();
      schedule("state");
    },
    signal,
  );
  listen(model, "msg:custom", onCustomMessage, signal);
  listen(model, "change:server", () => server.sync(), signal);

  bar.zoomIn.addEventListener("click", () => graph.zoomBy(ZOOM_STEP), {
    signal,
  });
  bar.zoomOut.addEventListener("click", () => graph.zoomBy(1 / ZOOM_STEP), {
    signal,
  });
  bar.fit.addEventListener("click", () => graph.fit(), { signal });
  bar.cancel.addEventListener("click", cancelRun, { signal });
  root.addEventListener(
    "keydown",
    (event) => {
      const open = details.phaseId();
      if (event.key !== "Escape" || open === null) return;
      if (details.element.contains(/** @type {Node} */ (event.target))) return;
      event.preventDefault();
      details.hide();
      graph.select(null);
      graph.focusNode(open);
    },
    { signal },
  );

  flush();
  server.sync();

  return () => {
    controller.abort();
    if (frame !== 0) cancelAnimationFrame(frame);
    if (ticker !== undefined) clearInterval(ticker);
    for (const timer of timeouts) clearTimeout(timer);
    timeouts.clear();
    root.remove();
  };
}

export default { initialize, render };
