// @ts-check
/**
 * Run control of one view: the node menu and what its items do, and the
 * header link of a derived run.
 *
 * The menu opens on a right-click on a node (a DOM node or a box painted on
 * the canvas), on the menu key or Shift+F10 on a focused node, and from the
 * details panel's Run button. In a kernel run an item sends the kernel a
 * `rerun` message; the kernel starts the run and this widget follows it.
 * In a server run the page asks the server itself and follows the new
 * execution through the `server` trait, which is also saved to the kernel
 * so that a refresh finds it again.
 */
import { requestApi } from "./api.js";
import { button, setAttr, setText } from "./dom.js";
import { createNodeMenu } from "./node-menu.js";
import {
  derivedText,
  readDerivedFrom,
  rerunItems,
  rerunMessage,
  rerunRequest,
} from "./rerun.js";
import { showToast } from "./toast.js";

/** @typedef {import("./state.js").WidgetTraits} WidgetTraits */
/** @typedef {import("@anywidget/types").AnyModel<WidgetTraits>} Model */
/** @typedef {import("./workflow-view.js").WorkflowView} WorkflowView */
/** @typedef {import("./live.js").ServerFollower} ServerFollower */
/** @typedef {import("./rerun.js").RerunMode} RerunMode */

/**
 * @typedef {object} RunControl
 * @property {HTMLButtonElement} link the header link to the source run of
 *   a derived one; hidden otherwise
 * @property {(phaseId: string, invoker: HTMLButtonElement) => void}
 *   openFromButton open a phase's menu under a button
 * @property {() => void} update follow a change of the execution
 */

/**
 * Return the label of a phase of the workflow, else its id.
 * @param {WidgetTraits["workflow"] | undefined} workflow
 * @param {string} id
 * @returns {string}
 */
export function phaseLabel(workflow, id) {
  const phases = Array.isArray(workflow?.phases) ? workflow.phases : [];
  const phase = phases.find((p) => p?.id === id);
  return typeof phase?.label === "string" && phase.label !== ""
    ? phase.label
    : id;
}

/**
 * Wire the run control of a view until `signal` aborts.
 * @param {object} options
 * @param {Model} options.model
 * @param {Document} options.doc
 * @param {AbortSignal} options.signal
 * @param {WorkflowView} options.view
 * @param {ServerFollower} options.server
 * @returns {RunControl}
 */
export function createRunControl({ model, doc, signal, view, server }) {
  const menu = createNodeMenu(doc, { signal });
  const graph = view.graph;
  const link = button(doc, "dagstudio-derived", "", "");
  link.hidden = true;
  /** A server re-run was asked for and has no answer yet. */
  let busy = false;
  /**
   * The menu key opened the menu and no pointer was pressed since: a
   * contextmenu event now is that key's own, not a second request.
   */
  let keyOpened = false;

  /** @param {string} phaseId */
  function itemsFor(phaseId) {
    return rerunItems({
      execution: model.get("execution"),
      phases: model.get("phases"),
      workflow: model.get("workflow"),
      phaseId,
      label: phaseLabel(model.get("workflow"), phaseId),
      isGroup: view.node(phaseId)?.kind === "group",
      busy,
    });
  }

  /**
   * @param {string} phaseId
   * @param {{ x: number, y: number }} at
   * @param {() => void} restoreFocus
   * @param {HTMLElement} [invoker]
   */
  function openMenu(phaseId, at, restoreFocus, invoker) {
    const label = view.node(phaseId)?.label ?? phaseId;
    menu.open({
      label: `Run phase ${label}`,
      items: itemsFor(phaseId),
      at,
      invoker,
      restoreFocus,
      onChoose: (mode) => start(/** @type {RerunMode} */ (mode), phaseId),
    });
  }

  /**
   * Start the re-run an item asks for.
   * @param {RerunMode} mode
   * @param {string} phaseId
   */
  function start(mode, phaseId) {
    // The run may have moved on while the menu was open.
    const item = itemsFor(phaseId).find((entry) => entry.id === mode);
    if (!item?.enabled) {
      if (item) {
        showToast(doc, {
          level: "warning",
          text: item.title,
          id: `rerun-refused:${Date.now()}`,
        });
      }
      return;
    }
    const followed = server.followed();
    if (followed === null) {
      model.send(rerunMessage(mode, phaseId));
      return;
    }
    const request = rerunRequest(followed.executionId, mode, phaseId);
    busy = true;
    requestApi(
      doc,
      followed.base,
      request.method,
      request.parts,
      undefined,
      undefined,
      request.body,
    )
      .then((execution) => {
        if (typeof execution?.id !== "string") {
          throw new Error("the server's answer names no execution");
        }
        if (!signal.aborted) follow(execution.id, followed.traitBase);
      })
      .catch((/** @type {any} */ error) => {
        const reason = String(error?.reason ?? error?.message ?? error);
        console.warn("[dagstudio] re-run refused:", reason);
        showToast(doc, {
          level: "error",
          text: `Could not start the run: ${reason.replace("[dagstudio] ", "")}`,
          id: `rerun-failed:${Date.now()}`,
        });
      })
      .finally(() => {
        busy = false;
      });
  }

  /**
   * Follow another server execution, as if the kernel had attached it.
   * @param {string} executionId
   * @param {string} base
   */
  function follow(executionId, base) {
    model.set("server", { execution_id: executionId, base_url: base });
    // Saved to the kernel too: after a refresh the view starts from the
    // kernel's copy of the traits.
    model.save_changes();
  }

  function showSource() {
    const derived = readDerivedFrom(model.get("execution")?.derived_from);
    if (derived === null) return;
    const followed = server.followed();
    if (followed === null) model.send({ type: "follow_source" });
    else follow(derived.executionId, followed.traitBase);
  }

  function update() {
    const derived = readDerivedFrom(model.get("execution")?.derived_from);
    link.hidden = derived === null;
    if (derived === null) return;
    const workflow = model.get("workflow");
    const text = derivedText(derived, (id) => phaseLabel(workflow, id));
    setText(link, text);
    const title = `Show execution ${derived.executionId}, which this run re-ran part of`;
    setAttr(link, "title", title);
    setAttr(link, "aria-label", `${text}. ${title}`);
  }

  /** @param {EventTarget | null} target */
  function nodeGroup(target) {
    if (!(target instanceof Element)) return null;
    const group = target.closest(".dagstudio-node");
    return group && graph.element.contains(group) ? group : null;
  }

  graph.element.addEventListener(
    "keydown",
    (event) => {
      const menuKey =
        event.key === "ContextMenu" || (event.key === "F10" && event.shiftKey);
      const group = menuKey ? nodeGroup(event.target) : null;
      const id = group?.getAttribute("data-phase-id");
      if (!group || !id) return;
      event.preventDefault();
      event.stopPropagation();
      keyOpened = true;
      const box = group.getBoundingClientRect();
      openMenu(id, { x: box.left + 12, y: box.bottom + 2 }, () =>
        graph.focusNode(id),
      );
    },
    { signal },
  );
  graph.element.addEventListener(
    "contextmenu",
    (event) => {
      if (keyOpened) {
        keyOpened = false;
        event.preventDefault();
        event.stopPropagation();
        return;
      }
      // With Shift, JupyterLab leaves the browser's own menu; so do we.
      if (event.shiftKey) return;
      const id = graph.nodeIdAt(event);
      if (id === null) return;
      event.preventDefault();
      event.stopPropagation();
      let at = { x: event.clientX, y: event.clientY };
      const group = nodeGroup(event.target);
      if (at.x === 0 && at.y === 0 && group) {
        // Opened from the keyboard: no pointer, so under the node.
        const box = group.getBoundingClientRect();
        at = { x: box.left + 12, y: box.bottom + 2 };
      }
      openMenu(id, at, () => graph.focusNode(id));
    },
    { signal },
  );
  graph.element.addEventListener(
    "pointerdown",
    () => {
      keyOpened = false;
    },
    { signal, capture: true },
  );
  link.addEventListener("click", showSource, { signal });

  return {
    link,
    openFromButton(phaseId, invoker) {
      const box = invoker.getBoundingClientRect();
      openMenu(
        phaseId,
        { x: box.left, y: box.bottom + 2 },
        () => invoker.focus(),
        invoker,
      );
    },
    update,
  };
}
