// @ts-check
/**
 * A kernel run cut short by a kernel restart: shown as interrupted, since
 * no event of the old kernel will ever say how it ended.
 */
import { readLink } from "./live.js";
import { interruptedRun } from "./state.js";
import { showToast } from "./toast.js";

/** @typedef {import("./state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("@anywidget/types").AnyModel<WidgetTraits>} Model */

/**
 * Show a kernel run as interrupted when its kernel restarts: the execution
 * and its running or queued phases turn "interrupted", and a warning toast
 * says why. Server runs (`isServerRun`) are left alone; they go on.
 *
 * The signal is ipywidgets' `comm_live_update` model event. JupyterLab's
 * widget manager raises it (with `comm_live` false) when the kernel's
 * status turns "restarting", a user's restart or the server restarting a
 * dead kernel; the comms of the old kernel are gone then. A dropped and
 * restored connection to a kernel that lives on does not raise it.
 *
 * Known limitation: a kernel shut down without a restart raises nothing
 * a widget can see, so its run keeps showing its last state.
 * @param {object} options
 * @param {Model} options.model
 * @param {Document} options.doc
 * @param {AbortSignal} options.signal aborting it stops watching
 * @param {() => boolean} options.isServerRun
 */
export function watchKernelRestart({ model, doc, signal, isServerRun }) {
  /**
   * anywidget hands Backbone the view as the listener's context; its model
   * says whether the comm is live.
   * @this {unknown}
   */
  function onCommLive() {
    const view = /** @type {{ model?: { comm_live?: unknown } } | null} */ (
      this
    );
    if (view?.model?.comm_live === true || isServerRun()) return;
    if (readLink(model.get("server")) !== null) return;
    const execution = model.get("execution");
    const interrupted = interruptedRun(
      execution,
      model.get("phases"),
      new Date().toISOString(),
    );
    if (interrupted === null) return;
    model.set("phases", interrupted.phases);
    model.set("execution", interrupted.execution);
    showToast(doc, {
      level: "warning",
      text: "The kernel restarted; this run was interrupted",
      id: `kernel-restart:${execution?.id ?? ""}`,
    });
  }
  model.on("comm_live_update", onCommLive);
  signal.addEventListener(
    "abort",
    () => model.off("comm_live_update", onCommLive),
    { once: true },
  );
}
