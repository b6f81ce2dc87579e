// @ts-check
/**
 * The workflow graph as SVG: built once per layout, then updated in place
 * as phase states change. Knows nothing of anywidget, so the JupyterLab
 * sidebar can share it.
 */
import { setAttr, setText, svg, html } from "./dom.js";
import { phaseAttempt, phaseStatus, statusIcon } from "./state.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {import("./state.js").PhaseState} PhaseState */

/**
 * @typedef {object} NodeParts
 * @property {LayoutNode} node
 * @property {SVGGElement} group
 * @property {SVGTitleElement} title
 * @property {SVGTextElement} icon
 * @property {SVGTextElement} label
 * @property {SVGTextElement} status
 */

/**
 * @typedef {object} GraphView
 * @property {HTMLDivElement} element the scrollable viewport
 * @property {(layout: Layout, phases: Record<string, PhaseState>) => void}
 *   setLayout draw a new layout with the phase states it starts from
 * @property {(phases: Record<string, PhaseState>) => void} update apply
 *   phase states to the drawn nodes in place
 * @property {(factor: number) => void} zoomBy zoom around the view centre
 * @property {() => void} fit scale the whole graph into the view
 * @property {(id: string) => void} focusNode move keyboard focus to a node
 * @property {(id: string | null) => void} select mark one node as selected
 */

/**
 * @typedef {object} GraphViewOptions
 * @property {AbortSignal} signal aborting it removes every listener
 * @property {(id: string, viaKeyboard: boolean) => void} [onActivate] a
 *   node was clicked, or Enter/Space was pressed on it
 */

const MIN_SCALE = 0.05;
const MAX_SCALE = 2.5;
/** Largest scale "fit" picks, so a tiny graph is not blown up. */
const FIT_MAX_SCALE = 1.25;
/** Smallest scale picked for a new layout; smaller graphs scroll instead. */
const INITIAL_MIN_SCALE = 0.6;
/** Pointer travel (px) before a press on the graph becomes a drag. */
const DRAG_THRESHOLD = 4;
const LABEL_X = 34;
const LABEL_RIGHT_PAD = 10;

let markerCount = 0;

/**
 * Build an SVG path through the points, smoothed as a Catmull-Rom spline.
 * @param {{ x: number, y: number }[]} points
 * @returns {string}
 */
export function edgePath(points) {
  if (points.length === 0) return "";
  const f = (/** @type {number} */ n) => Math.round(n * 10) / 10;
  let d = `M${f(points[0].x)},${f(points[0].y)}`;
  if (points.length === 2) return `${d}L${f(points[1].x)},${f(points[1].y)}`;
  for (let i = 0; i < points.length - 1; i += 1) {
    const p0 = points[Math.max(0, i - 1)];
    const p1 = points[i];
    const p2 = points[i + 1];
    const p3 = points[Math.min(points.length - 1, i + 2)];
    const c1x = p1.x + (p2.x - p0.x) / 6;
    const c1y = p1.y + (p2.y - p0.y) / 6;
    const c2x = p2.x - (p3.x - p1.x) / 6;
    const c2y = p2.y - (p3.y - p1.y) / 6;
    d += `C${f(c1x)},${f(c1y)} ${f(c2x)},${f(c2y)} ${f(p2.x)},${f(p2.y)}`;
  }
  return d;
}

/**
 * Return the status line of a node: the status word, then the attempt
 * when the phase ran more than once.
 * @param {string} status
 * @param {number} attempt
 * @returns {string}
 */
export function nodeStatusLine(status, attempt) {
  return attempt > 1 ? `${status} · attempt ${attempt}` : status;
}

/**
 * Return the hover text of a node: full label, id and kind, status, error.
 * @param {LayoutNode} node
 * @param {string} status
 * @param {number} attempt
 * @param {string | null | undefined} error
 * @returns {string}
 */
export function nodeTooltip(node, status, attempt, error) {
  const lines = [node.label];
  lines.push(node.kind ? `${node.id} · ${node.kind}` : node.id);
  lines.push(nodeStatusLine(status, attempt));
  if (error) lines.push(`Error: ${error}`);
  return lines.join("\n");
}

/**
 * Create the arrowhead marker that edges reference, with an id unique in
 * the page since several widgets can share one document.
 * @param {Document} doc
 * @returns {{ defs: SVGDefsElement, id: string }}
 */
function createArrowMarker(doc) {
  markerCount += 1;
  const id = `dagstudio-arrow-${markerCount}`;
  const defs = svg(doc, "defs");
  const marker = svg(doc, "marker", "", {
    id,
    viewBox: "0 0 10 10",
    refX: 10,
    refY: 5,
    markerWidth: 9,
    markerHeight: 9,
    markerUnits: "userSpaceOnUse",
    orient: "auto",
  });
  marker.append(svg(doc, "path", "dagstudio-arrow", { d: "M0,0L10,5L0,10z" }));
  defs.append(marker);
  return { defs, id };
}

/**
 * Build the SVG group of one node, with every part the updates touch.
 * @param {Document} doc
 * @param {LayoutNode} node
 * @returns {NodeParts}
 */
function createNode(doc, node) {
  const group = svg(doc, "g", "dagstudio-node", {
    transform: `translate(${node.x},${node.y})`,
    tabindex: 0,
    role: "button",
    "data-phase-id": node.id,
  });
  const title = svg(doc, "title");
  const box = svg(doc, "rect", "dagstudio-node-box", {
    width: node.width,
    height: node.height,
    rx: 6,
  });
  const icon = svg(doc, "text", "dagstudio-node-icon", {
    x: 17,
    y: node.height / 2,
    "aria-hidden": "true",
  });
  const label = svg(doc, "text", "dagstudio-node-label", { x: LABEL_X, y: 22 });
  label.textContent = node.text;
  const status = svg(doc, "text", "dagstudio-node-status", {
    x: LABEL_X,
    y: 40,
  });
  group.append(title, box, icon, label, status);
  return { node, group, title, icon, label, status };
}

/**
 * Apply one phase state to a drawn node, touching only what changed.
 * @param {NodeParts} parts
 * @param {Record<string, PhaseState>} phases
 */
function updateNode(parts, phases) {
  const { node, group } = parts;
  const status = phaseStatus(phases, node.id);
  const attempt = phaseAttempt(phases, node.id);
  const error = phases?.[node.id]?.error ?? null;
  if (group.getAttribute("data-status") !== status) {
    for (const name of Array.from(group.classList)) {
      if (name.startsWith("dagstudio-status-")) group.classList.remove(name);
    }
    group.classList.add(`dagstudio-status-${status}`);
    group.setAttribute("data-status", status);
  }
  setAttr(group, "data-attempt", String(attempt));
  group.classList.toggle("dagstudio-has-error", Boolean(error));
  const line = nodeStatusLine(status, attempt);
  setText(parts.icon, statusIcon(status));
  setText(parts.status, line);
  setText(parts.title, nodeTooltip(node, status, attempt, error));
  setAttr(group, "aria-label", `${node.label}: ${line}`);
}

/**
 * Cut drawn labels that are still wider than their box after the layout's
 * character estimate (wide glyphs, narrow fonts). Reads every width first
 * and writes afterwards, so the browser lays out once for most graphs.
 * @param {NodeParts[]} nodes
 */
function fitLabels(nodes) {
  const tooWide = nodes.filter(({ node, label }) => {
    const room = node.width - LABEL_X - LABEL_RIGHT_PAD;
    return label.getComputedTextLength() > room;
  });
  for (const { node, label } of tooWide) {
    const room = node.width - LABEL_X - LABEL_RIGHT_PAD;
    let chars = Array.from(node.text.replace(/…$/, ""));
    while (chars.length > 1) {
      chars = chars.slice(0, -1);
      label.textContent = `${chars.join("").trimEnd()}…`;
      if (label.getComputedTextLength() <= room) break;
    }
  }
}

/**
 * Create the graph view. The caller puts `element` in the page and calls
 * `setLayout` and `update`; aborting `options.signal` removes every
 * listener.
 * @param {Document} doc
 * @param {GraphViewOptions} options
 * @returns {GraphView}
 */
export function createGraphView(doc, options) {
  const { signal } = options;
  const viewport = html(doc, "div", "dagstudio-canvas");
  const root = svg(doc, "svg", "dagstudio-graph", {
    role: "group",
    "aria-label": "Workflow graph",
  });
  const empty = html(doc, "div", "dagstudio-empty");
  empty.hidden = true;
  viewport.append(root, empty);

  /** @type {Map<string, NodeParts>} */
  let parts = new Map();
  let size = { width: 0, height: 0 };
  let scale = 1;
  /** @type {string | null} */
  let selected = null;
  let viewPending = false;

  /**
   * @param {number} next
   * @param {{ x: number, y: number }} [anchor] viewport point kept in place
   */
  function setScale(next, anchor) {
    const clamped = Math.min(MAX_SCALE, Math.max(MIN_SCALE, next));
    const at = anchor ?? {
      x: viewport.clientWidth / 2,
      y: viewport.clientHeight / 2,
    };
    const contentX = (viewport.scrollLeft + at.x) / scale;
    const contentY = (viewport.scrollTop + at.y) / scale;
    scale = clamped;
    root.setAttribute("width", String(Math.ceil(size.width * scale)));
    root.setAttribute("height", String(Math.ceil(size.height * scale)));
    viewport.scrollLeft = contentX * scale - at.x;
    viewport.scrollTop = contentY * scale - at.y;
  }

  function fitScale() {
    if (size.width === 0 || size.height === 0) return 1;
    const width = Math.max(1, viewport.clientWidth - 8);
    const height = Math.max(1, viewport.clientHeight - 8);
    return Math.min(FIT_MAX_SCALE, width / size.width, height / size.height);
  }

  /**
   * @param {Layout} layout
   * @param {Record<string, PhaseState>} phases
   */
  function setLayout(layout, phases) {
    size = { width: layout.width, height: layout.height };
    root.replaceChildren();
    parts = new Map();
    empty.hidden = layout.nodes.length > 0;
    root.style.display = layout.nodes.length > 0 ? "" : "none";
    empty.textContent = layout.error ?? "This workflow has no phases.";
    root.setAttribute("viewBox", `0 0 ${size.width} ${size.height}`);
    const { defs, id } = createArrowMarker(doc);
    const edges = svg(doc, "g", "dagstudio-edges");
    for (const edge of layout.edges) {
      edges.append(
        svg(doc, "path", "dagstudio-edge", {
          d: edgePath(edge.points),
          "marker-end": `url(#${id})`,
          "data-from": edge.from,
          "data-to": edge.to,
        }),
      );
    }
    const nodes = svg(doc, "g", "dagstudio-nodes");
    for (const node of layout.nodes) {
      const nodeParts = createNode(doc, node);
      parts.set(node.id, nodeParts);
      nodes.append(nodeParts.group);
    }
    root.append(defs, edges, nodes);
    update(phases);
    if (selected !== null && !parts.has(selected)) selected = null;
    select(selected);
    scale = 1;
    setScale(1, { x: 0, y: 0 });
    viewPending = true;
    if (viewport.clientWidth > 0) showInitialView();
  }

  // Labels can only be measured, and the view only fitted, once the
  // viewport is laid out; a view rendered while detached or hidden waits
  // for its first size.
  function showInitialView() {
    viewPending = false;
    fitLabels([...parts.values()]);
    const initial = Math.max(INITIAL_MIN_SCALE, Math.min(1, fitScale()));
    setScale(initial, { x: 0, y: 0 });
    viewport.scrollLeft = 0;
    viewport.scrollTop = 0;
  }

  /** @param {Record<string, PhaseState>} phases */
  function update(phases) {
    for (const nodeParts of parts.values()) updateNode(nodeParts, phases);
  }

  /** @param {string | null} id */
  function select(id) {
    selected = id;
    for (const [nodeId, { group }] of parts) {
      group.classList.toggle("dagstudio-selected", nodeId === id);
    }
  }

  /** @param {string} id */
  function focusNode(id) {
    const nodeParts = parts.get(id);
    if (!nodeParts) return;
    nodeParts.group.focus({ preventScroll: true });
    scrollIntoView(nodeParts.node);
  }

  /** @param {LayoutNode} node */
  function scrollIntoView(node) {
    const left = node.x * scale;
    const top = node.y * scale;
    const right = (node.x + node.width) * scale;
    const bottom = (node.y + node.height) * scale;
    if (left < viewport.scrollLeft) viewport.scrollLeft = left - 8;
    else if (right > viewport.scrollLeft + viewport.clientWidth) {
      viewport.scrollLeft = right - viewport.clientWidth + 8;
    }
    if (top < viewport.scrollTop) viewport.scrollTop = top - 8;
    else if (bottom > viewport.scrollTop + viewport.clientHeight) {
      viewport.scrollTop = bottom - viewport.clientHeight + 8;
    }
  }

  /** @param {EventTarget | null} target */
  function nodeIdOf(target) {
    if (!(target instanceof Element)) return null;
    const group = target.closest(".dagstudio-node");
    return group ? group.getAttribute("data-phase-id") : null;
  }

  const drag = { pointerId: -1, x: 0, y: 0, left: 0, top: 0, moved: false };

  viewport.addEventListener(
    "pointerdown",
    (event) => {
      if (event.button !== 0 || event.pointerType === "touch") return;
      Object.assign(drag, {
        pointerId: event.pointerId,
        x: event.clientX,
        y: event.clientY,
        left: viewport.scrollLeft,
        top: viewport.scrollTop,
        moved: false,
      });
    },
    { signal },
  );
  viewport.addEventListener(
    "pointermove",
    (event) => {
      if (event.pointerId !== drag.pointerId) return;
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
      if (!drag.moved) {
        // Capture only once it is a drag: a captured press would retarget
        // the click and a node could no longer be clicked.
        drag.moved = true;
        viewport.setPointerCapture(event.pointerId);
        viewport.classList.add("dagstudio-dragging");
      }
      viewport.scrollLeft = drag.left - dx;
      viewport.scrollTop = drag.top - dy;
    },
    { signal },
  );
  /** @param {PointerEvent} event */
  const endDrag = (event) => {
    if (event.pointerId !== drag.pointerId) return;
    drag.pointerId = -1;
    viewport.classList.remove("dagstudio-dragging");
  };
  viewport.addEventListener("pointerup", endDrag, { signal });
  viewport.addEventListener("pointercancel", endDrag, { signal });
  viewport.addEventListener(
    "click",
    (event) => {
      if (drag.moved) {
        drag.moved = false;
        return;
      }
      const id = nodeIdOf(event.target);
      if (id !== null) options.onActivate?.(id, false);
    },
    { signal },
  );
  viewport.addEventListener(
    "keydown",
    (event) => {
      const id = nodeIdOf(event.target);
      if (id !== null && (event.key === "Enter" || event.key === " ")) {
        event.preventDefault();
        options.onActivate?.(id, true);
      } else if (event.key === "+" || event.key === "=") {
        event.preventDefault();
        setScale(scale * 1.2);
      } else if (event.key === "-") {
        event.preventDefault();
        setScale(scale / 1.2);
      } else if (event.key === "0") {
        event.preventDefault();
        setScale(fitScale());
      }
    },
    { signal },
  );
  viewport.addEventListener(
    "focusin",
    (event) => {
      const id = nodeIdOf(event.target);
      const nodeParts = id === null ? undefined : parts.get(id);
      if (nodeParts) scrollIntoView(nodeParts.node);
    },
    { signal },
  );
  // A plain wheel scrolls the page or the graph as usual; Ctrl/⌘ + wheel,
  // which is also what a touchpad pinch sends, zooms around the pointer.
  viewport.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      const box = viewport.getBoundingClientRect();
      const factor = Math.exp(-event.deltaY * 0.0015);
      setScale(scale * factor, {
        x: event.clientX - box.left,
        y: event.clientY - box.top,
      });
    },
    { signal, passive: false },
  );

  if (typeof ResizeObserver !== "undefined") {
    const observer = new ResizeObserver(() => {
      if (viewPending && viewport.clientWidth > 0) showInitialView();
    });
    observer.observe(viewport);
    signal.addEventListener("abort", () => observer.disconnect());
  }

  return {
    element: viewport,
    setLayout,
    update,
    zoomBy: (factor) => setScale(scale * factor),
    fit: () => setScale(fitScale()),
    focusNode,
    select,
  };
}
