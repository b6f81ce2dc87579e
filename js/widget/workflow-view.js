// @ts-check
/**
 * The graph part of the widget: lays out the workflow (off the main thread
 * once it is large), collapses and expands phase groups, finds phases by
 * name, and exports the current view. Knows nothing of anywidget.
 */
import { button, html } from "./dom.js";
import { downloadBlob, exportFileName } from "./export.js";
import { collapseGroups, groupState, workflowGroups } from "./groups.js";
import { createLayoutClient } from "./layout-client.js";
import { layoutWorkflow } from "./layout.js";
import { createGraphView } from "./render.js";
import { createSearchBox, findPhases } from "./search.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {import("./layout-client.js").LayoutClient} LayoutClient */
/** @typedef {import("./state.js").PhaseState} PhaseState */
/** @typedef {import("./state.js").Workflow} Workflow */
/** @typedef {import("./state.js").Phase} Phase */

/**
 * @typedef {object} WorkflowView
 * @property {HTMLElement} element the graph viewport
 * @property {HTMLElement} tools search box, group and export buttons
 * @property {(workflow: Workflow, phases: Record<string, PhaseState>) => void}
 *   setWorkflow lay out and draw a (new) workflow
 * @property {(phases: Record<string, PhaseState>) => void} update new phase
 *   states; drawn in the next animation frame
 * @property {(id: string) => LayoutNode | null} node the drawn node of an id
 * @property {() => Layout | null} layout the layout on screen
 * @property {import("./render.js").GraphView} graph
 */

/**
 * Up to this many phases the layout runs right away on the main thread
 * (a few milliseconds); larger workflows go to the worker, so the page
 * stays responsive while they are laid out.
 */
const SYNC_LAYOUT_MAX = 200;
const CLIENT_KEY = Symbol.for("dagstudio.layout-client/1");

/**
 * One layout client (one worker) per page, shared by every widget on it.
 * anywidget loads this module once per widget model, so it is kept on
 * `globalThis`, like the live connections.
 * @returns {LayoutClient}
 */
function pageLayoutClient() {
  const host = /** @type {Record<symbol, LayoutClient>} */ (
    /** @type {unknown} */ (globalThis)
  );
  host[CLIENT_KEY] ??= createLayoutClient();
  return host[CLIENT_KEY];
}

/**
 * An empty layout that says why the workflow could not be drawn.
 * @param {Workflow} workflow
 * @param {unknown} error
 * @returns {Layout}
 */
function failedLayout(workflow, error) {
  console.error("[dagstudio] could not lay out the workflow", error);
  const count = Array.isArray(workflow.phases) ? workflow.phases.length : 0;
  const reason = error instanceof Error ? error.message : String(error);
  return {
    nodes: [],
    edges: [],
    width: 0,
    height: 0,
    warnings: [],
    error: `This workflow (${count} phases) could not be drawn: ${reason}`,
  };
}

/**
 * Give each collapsed group's phase the number of phases it stands for,
 * which its node shows.
 * @param {Workflow} workflow
 * @param {Map<string, string[]>} members
 * @returns {Workflow}
 */
function withGroupCounts(workflow, members) {
  if (members.size === 0) return workflow;
  const phases = (workflow.phases ?? []).map((phase) => {
    const ids = phase ? members.get(phase.id) : undefined;
    return ids ? { ...phase, count: ids.length } : phase;
  });
  return { ...workflow, phases };
}

/**
 * The phases of a document that have an id; the trait can be set from
 * Python without validation, so anything may be in the list.
 * @param {Workflow} workflow
 * @returns {Phase[]}
 */
function wellFormed(workflow) {
  const phases = Array.isArray(workflow.phases) ? workflow.phases : [];
  return phases.filter(
    (phase) =>
      typeof phase === "object" &&
      phase !== null &&
      typeof phase.id === "string",
  );
}

/**
 * Create the workflow view.
 * @param {Document} doc
 * @param {object} options
 * @param {AbortSignal} options.signal
 * @param {(node: LayoutNode, viaKeyboard: boolean) => void} options.onOpen a
 *   phase node was clicked or activated from the keyboard
 * @param {(layout: Layout) => void} options.onLayout a layout is on screen
 * @returns {WorkflowView}
 */
export function createWorkflowView(doc, { signal, onOpen, onLayout }) {
  /** @type {Workflow} */
  let workflow = {};
  /** @type {Record<string, PhaseState>} */
  let phases = {};
  /** @type {Layout | null} */
  let layout = null;
  /** @type {Map<string, LayoutNode>} */
  let nodes = new Map();
  /** Names of the groups drawn as one node. */
  const collapsed = new Set();
  /** @type {Map<string, string[]>} group node id → member phase ids */
  let members = new Map();
  /** @type {Map<string, string>} member phase id → group node id */
  let groupOf = new Map();
  /** @type {Map<string, string>} group node id → group name */
  let groupNames = new Map();
  let groupCount = 0;
  let request = 0;
  /** @type {{ id: string, focus: boolean } | null} to reveal after the next layout */
  let revealAfter = null;
  /** @type {{ id: string, label: string }[]} */
  let matches = [];

  const graph = createGraphView(doc, {
    signal,
    onActivate: (id, viaKeyboard) => activate(id, viaKeyboard),
  });
  graph.setStatusResolver((states, node) => {
    const ids = members.get(node.id);
    return node.kind === "group" && ids ? groupState(ids, states) : null;
  });

  const tools = html(doc, "span", "dagstudio-tools");
  const search = createSearchBox(doc, {
    signal,
    onSearch: (query) => {
      // Search every phase, not only the drawn nodes: a match inside a
      // collapsed group opens that group.
      // An exact match comes first; then matches already drawn, so typing
      // does not open groups while a drawn phase still matches.
      const index = { nodes: wellFormed(workflow).map(searchEntry) };
      const found = findPhases(
        /** @type {Layout} */ (/** @type {unknown} */ (index)),
        query,
      );
      const wanted = query.trim().toLowerCase();
      const exact = (/** @type {{ id: string, label: string }} */ match) =>
        match.id.toLowerCase() === wanted ||
        match.label.toLowerCase() === wanted;
      matches = [
        ...found.filter(exact),
        ...found.filter((match) => !exact(match) && !groupOf.has(match.id)),
        ...found.filter((match) => !exact(match) && groupOf.has(match.id)),
      ];
      return matches.length;
    },
    onPick: (index) => {
      const match = matches[index];
      if (match) reveal(match.id, false);
    },
  });
  const groupsButton = button(
    doc,
    "dagstudio-groups",
    "Collapse groups",
    "Draw each group of phases as one node",
  );
  groupsButton.hidden = true;
  const svgButton = button(
    doc,
    "dagstudio-export-svg",
    "SVG",
    "Save the current view as SVG",
  );
  const pngButton = button(
    doc,
    "dagstudio-export-png",
    "PNG",
    "Save the current view as PNG",
  );
  tools.append(search.element, groupsButton, svgButton, pngButton);

  /**
   * @param {Phase} phase
   * @returns {{ id: string, label: string }}
   */
  function searchEntry(phase) {
    const label =
      typeof phase.label === "string" && phase.label !== ""
        ? phase.label
        : phase.id;
    return { id: phase.id, label };
  }

  /**
   * @param {string} id
   * @param {boolean} viaKeyboard
   */
  function activate(id, viaKeyboard) {
    const node = nodes.get(id);
    if (!node) return;
    const name = groupNames.get(id);
    if (node.kind === "group" && name !== undefined) {
      // Opening a group node expands it and shows its first member.
      collapsed.delete(name);
      const first = members.get(id)?.[0];
      revealAfter = first === undefined ? null : { id: first, focus: true };
      relayout();
      return;
    }
    onOpen(node, viaKeyboard);
  }

  /**
   * Show a phase: expand its group if it is collapsed, then bring it into
   * view and select it.
   * @param {string} id
   * @param {boolean} focus
   */
  function reveal(id, focus) {
    const group = groupOf.get(id);
    const name = group === undefined ? undefined : groupNames.get(group);
    if (name !== undefined) {
      collapsed.delete(name);
      revealAfter = { id, focus };
      relayout();
      return;
    }
    if (!nodes.has(id)) {
      // Its group was opened for an earlier match and the layout drawing it
      // is still on its way: show it when that layout lands.
      revealAfter = { id, focus };
      return;
    }
    // A layout still on its way (a group opened for an earlier match) must
    // not move the view back to that match when it lands.
    revealAfter = null;
    graph.reveal(id, { focus });
  }

  function syncGroupsButton() {
    groupsButton.hidden = groupCount === 0;
    const anyCollapsed = collapsed.size > 0;
    groupsButton.textContent = anyCollapsed
      ? "Expand groups"
      : "Collapse groups";
    groupsButton.title = anyCollapsed
      ? "Draw every phase of every group"
      : "Draw each group of phases as one node";
    groupsButton.setAttribute("aria-pressed", String(anyCollapsed));
  }

  function relayout() {
    const shown = collapseGroups(workflow, collapsed);
    members = shown.members;
    groupOf = new Map();
    groupNames = new Map();
    for (const [id, ids] of members) {
      for (const member of ids) groupOf.set(member, id);
    }
    for (const phase of wellFormed(shown.workflow)) {
      if (members.has(phase.id)) {
        groupNames.set(phase.id, phase.label ?? "");
      }
    }
    syncGroupsButton();
    const document = withGroupCounts(shown.workflow, members);
    const count = wellFormed(document).length;
    const ticket = ++request;
    if (count <= SYNC_LAYOUT_MAX) {
      let next;
      try {
        next = layoutWorkflow(document);
      } catch (error) {
        next = failedLayout(document, error);
      }
      show(next);
      return;
    }
    graph.setLayoutPending();
    pageLayoutClient()
      .layout(document)
      .then(
        (next) => next,
        (error) => failedLayout(document, error),
      )
      .then((next) => {
        if (ticket === request && !signal.aborted) show(next);
      });
  }

  /** @param {Layout} next */
  function show(next) {
    for (const warning of next.warnings) {
      console.warn(`[dagstudio] workflow: ${warning}`);
    }
    layout = next;
    nodes = new Map(next.nodes.map((node) => [node.id, node]));
    graph.setLayout(next, phases);
    search.refresh();
    onLayout(next);
    const target = revealAfter;
    revealAfter = null;
    if (target !== null && nodes.has(target.id)) {
      graph.reveal(target.id, { focus: target.focus });
    }
  }

  groupsButton.addEventListener(
    "click",
    () => {
      if (collapsed.size > 0) collapsed.clear();
      else
        for (const name of workflowGroups(workflow).keys()) collapsed.add(name);
      relayout();
    },
    { signal },
  );
  svgButton.addEventListener(
    "click",
    () => {
      const title = workflow.name || workflow.id || "workflow";
      const blob = new Blob([graph.exportSvg({ title })], {
        type: "image/svg+xml",
      });
      downloadBlob(doc, blob, exportFileName(title, "svg"));
    },
    { signal },
  );
  pngButton.addEventListener(
    "click",
    () => {
      const title = workflow.name || workflow.id || "workflow";
      pngButton.disabled = true;
      graph
        .exportPng()
        .then((blob) => downloadBlob(doc, blob, exportFileName(title, "png")))
        .catch((error) => {
          console.error("[dagstudio] could not export PNG", error);
        })
        .finally(() => {
          pngButton.disabled = false;
        });
    },
    { signal },
  );

  return {
    element: graph.element,
    tools,
    graph,
    setWorkflow(next, states) {
      workflow = next ?? {};
      phases = states ?? {};
      const groups = workflowGroups(workflow);
      groupCount = groups.size;
      for (const name of [...collapsed]) {
        if (!groups.has(name)) collapsed.delete(name);
      }
      relayout();
    },
    update(states) {
      phases = states ?? {};
      graph.update(phases);
    },
    node: (id) => nodes.get(id) ?? null,
    layout: () => layout,
  };
}
