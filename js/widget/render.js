// @ts-check
/**
 * The workflow graph view. A native scroll container holds a spacer of the
 * graph's scaled size; edges and node boxes are painted on a canvas that
 * covers only the visible part, and readable, focusable SVG nodes exist
 * only for the nodes in and around the view (for every node of a small
 * graph). Changes are drawn in at most one animation frame each. Knows
 * nothing of anywidget, so the JupyterLab sidebar can share it.
 *
 * The scroll container (`.dagstudio-canvas`) says how far it got:
 * `data-layout-state` is "pending" while a layout is computed or not yet
 * drawn, "ready" once drawn, "error" when the layout failed (`data-error`
 * says why); `data-draws` counts finished frames; `data-rendered-nodes`
 * counts the nodes that have a DOM element.
 */
import { html, setAttr, svg } from "./dom.js";
import { pngBlob, svgDocument } from "./export.js";
import { attachGestures, viewportPoint } from "./gestures.js";
import { createNeighbourIndex } from "./navigation.js";
import { createNodeLayer } from "./node-layer.js";
import {
  cleanNodeState,
  fitLabel,
  LABEL_FONT,
  labelRoom,
  NODE_TEXT,
  paintScene,
  phaseNodeState,
} from "./paint.js";
import { defaultPalette, resolvePalette } from "./palette.js";
import {
  anchoredScroll,
  createGridIndex,
  DOM_NODE_CAP,
  edgeBox,
  firstNode,
  fitScale,
  inflate,
  MAX_SCALE,
  minScaleFor,
  pickDomNodes,
  READABLE_SCALE,
  scrollToShow,
} from "./viewport.js";

export { edgePath, nodeStatusLine, nodeTooltip } from "./paint.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {import("./layout.js").LayoutEdge} LayoutEdge */
/** @typedef {import("./state.js").PhaseState} PhaseState */
/** @typedef {import("./paint.js").NodeState} NodeState */
/** @typedef {import("./palette.js").Palette} Palette */
/** @typedef {import("./viewport.js").Rect} Rect */
/** @typedef {import("./navigation.js").Direction} Direction */

/**
 * The state a node shows. The default reads `phases[node.id]`; a resolver
 * can aggregate the members of a group node instead, and return null for
 * the nodes the default serves.
 * @typedef {(phases: Record<string, PhaseState>, node: LayoutNode)
 *   => { status?: string, attempt?: number, error?: string | null }
 *   | null | undefined} StatusResolver
 */

/**
 * @typedef {object} GraphView
 * @property {HTMLDivElement} element the scrollable viewport
 * @property {() => void} setLayoutPending mark that a layout is being
 *   computed
 * @property {(layout: Layout, phases: Record<string, PhaseState>) => void}
 *   setLayout draw a new layout with the phase states it starts from; a
 *   new layout of the same graph keeps the view on the same node
 * @property {(phases: Record<string, PhaseState>) => void} update record
 *   new phase states; the next frame shows them
 * @property {(resolver: StatusResolver | null) => void} setStatusResolver
 *   change how a node's state is read (null: the default)
 * @property {(factor: number) => void} zoomBy zoom around the view centre
 * @property {() => void} fit scale the whole graph into the view
 * @property {() => number} getScale screen pixels per layout unit
 * @property {(id: string) => boolean} focusNode scroll a node into view
 *   and move keyboard focus to it; false for an unknown id
 * @property {(id: string | null) => void} select mark one node as selected
 * @property {(id: string, options?: { focus?: boolean }) => boolean} reveal
 *   zoom to a readable scale if needed, centre the node, select it and
 *   (unless `focus` is false) focus it; false for an unknown id
 * @property {(options?: { title?: string }) => string} exportSvg a
 *   standalone SVG document of what the view shows, at scale 1
 * @property {() => Promise<Blob>} exportPng the same as a PNG image
 * @property {(event: MouseEvent) => string | null} nodeIdAt the node
 *   under a pointer event: its DOM node, else the box painted there
 */

/**
 * @typedef {object} GraphViewOptions
 * @property {AbortSignal} signal aborting it removes every listener
 * @property {(id: string, viaKeyboard: boolean) => void} [onActivate] a
 *   node was clicked, or Enter/Space was pressed on it
 * @property {StatusResolver} [statusOf] how a node's state is read
 */

/** Smallest scale picked for a new layout; smaller graphs scroll instead. */
const INITIAL_MIN_SCALE = 0.6;
/** The scale `reveal` zooms to when the view is too small to read. */
const REVEAL_SCALE = 1;
/** Screen pixels around a box that still count as a click on it. */
const HIT_SLOP_PX = 4;
/** How many nodes near the view's centre may anchor a new layout. */
const ANCHOR_CANDIDATES = 64;
const ZOOM_KEY_STEP = 1.2;
/** @type {Readonly<Record<string, Direction>>} */
const ARROWS = Object.freeze({
  ArrowLeft: "left",
  ArrowRight: "right",
  ArrowUp: "up",
  ArrowDown: "down",
});
/** @type {Layout} */
const EMPTY_LAYOUT = Object.freeze({
  nodes: [],
  edges: [],
  width: 0,
  height: 0,
  warnings: [],
});

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
  const win = doc.defaultView;
  const viewport = html(doc, "div", "dagstudio-canvas", {
    "data-layout-state": "pending",
    "data-draws": "0",
    "data-rendered-nodes": "0",
  });
  const spacer = html(doc, "div", "dagstudio-spacer");
  const canvas = html(doc, "canvas", "dagstudio-paint", {
    "aria-hidden": "true",
  });
  const root = svg(doc, "svg", "dagstudio-graph", {
    role: "group",
    "aria-label": "Workflow graph",
  });
  const empty = html(doc, "div", "dagstudio-empty");
  empty.hidden = true;
  spacer.append(canvas, root);
  viewport.append(spacer, empty);

  let layout = EMPTY_LAYOUT;
  let hasLayout = false;
  /** @type {Map<string, LayoutNode>} */
  let nodesById = new Map();
  let nodeGrid = createGridIndex(layout.nodes, (n) => n, layout);
  let edgeGrid = createGridIndex(layout.edges, edgeBox, layout);
  let neighbours = createNeighbourIndex(layout);
  let scale = 1;
  let offset = { x: 0, y: 0 };
  let client = { width: -1, height: -1 };

  /** @type {Record<string, PhaseState>} */
  let phases = {};
  let resolver = options.statusOf ?? phaseNodeState;
  /** @type {Map<string, NodeState>} */
  const states = new Map();
  /** @type {Map<string, string>} */
  const labels = new Map();
  /** @type {Palette | null} */
  let palette = null;
  let paletteStale = true;
  /** @type {CanvasRenderingContext2D | null | undefined} */
  let measurer;

  /** @type {string | null} */
  let selected = null;
  /** @type {string | null} the node last focused or revealed by code */
  let pinned = null;
  /** @type {string | null} the node that has keyboard focus */
  let focused = null;
  let frameId = 0;
  let drawing = false;
  let draws = 0;
  let viewPending = false;
  let awaitingDraw = false;
  let patchAll = true;

  /** @param {LayoutNode} node @returns {NodeState} */
  function stateOf(node) {
    let state = states.get(node.id);
    if (state === undefined) {
      const raw = resolver(phases, node) ?? phaseNodeState(phases, node);
      state = cleanNodeState(raw);
      states.set(node.id, state);
    }
    return state;
  }

  /**
   * Cut labels still too wide for their box after the layout's character
   * estimate (wide glyphs, narrow fonts), measured on a canvas so that no
   * DOM layout is forced.
   * @param {LayoutNode} node
   * @returns {string}
   */
  function labelOf(node) {
    let text = labels.get(node.id);
    if (text !== undefined) return text;
    if (measurer === undefined && palette !== null) {
      measurer = doc.createElement("canvas").getContext("2d");
    }
    if (!measurer || palette === null) return node.text;
    const ctx = measurer;
    ctx.font = `${LABEL_FONT} ${palette.font}`;
    const measure = (/** @type {string} */ t) => ctx.measureText(t).width;
    text = fitLabel(node.text, labelRoom(node), measure);
    labels.set(node.id, text);
    return text;
  }

  const nodeLayer = createNodeLayer(doc, {
    stateOf,
    labelOf,
    selected: () => selected,
    poolSize: DOM_NODE_CAP,
  });
  root.append(nodeLayer.element);

  // ---- geometry ------------------------------------------------------------

  /** Size the spacer and the SVG for the current scale and view size. */
  function applySize() {
    client = { width: viewport.clientWidth, height: viewport.clientHeight };
    const width = layout.width * scale;
    const height = layout.height * scale;
    // A graph smaller than the view sits in its middle.
    offset = {
      x: Math.max(0, (client.width - width) / 2),
      y: Math.max(0, (client.height - height) / 2),
    };
    spacer.style.width = `${Math.ceil(Math.max(width, client.width))}px`;
    spacer.style.height = `${Math.ceil(Math.max(height, client.height))}px`;
    root.style.left = `${offset.x}px`;
    root.style.top = `${offset.y}px`;
    root.setAttribute("width", String(width));
    root.setAttribute("height", String(height));
    root.setAttribute("viewBox", `0 0 ${layout.width} ${layout.height}`);
  }

  function currentFit() {
    const view = { width: viewport.clientWidth, height: viewport.clientHeight };
    return fitScale(layout, view);
  }

  /**
   * @param {number} next
   * @param {{ x: number, y: number }} [anchor] viewport point kept in place
   */
  function setScale(next, anchor) {
    const min = minScaleFor(currentFit());
    const at = anchor ?? {
      x: viewport.clientWidth / 2,
      y: viewport.clientHeight / 2,
    };
    const { scrollLeft, scrollTop } = viewport;
    const before = { scale, offset };
    scale = Math.min(MAX_SCALE, Math.max(min, next));
    applySize();
    const keep = (
      /** @type {number} */ scroll,
      /** @type {"x" | "y"} */ axis,
    ) =>
      anchoredScroll(
        scroll,
        at[axis],
        before.offset[axis],
        before.scale,
        offset[axis],
        scale,
      );
    viewport.scrollLeft = keep(scrollLeft, "x");
    viewport.scrollTop = keep(scrollTop, "y");
    schedule();
  }

  /** @returns {Rect} the visible part of the drawing, in layout units */
  function currentView() {
    return {
      x: (viewport.scrollLeft - offset.x) / scale,
      y: (viewport.scrollTop - offset.y) / scale,
      width: viewport.clientWidth / scale,
      height: viewport.clientHeight / scale,
    };
  }

  /** @returns {Rect} the visible part clipped to the drawing, or all of it */
  function exportRegion() {
    const whole = { x: 0, y: 0, width: layout.width, height: layout.height };
    if (viewport.clientWidth === 0 || viewport.clientHeight === 0) return whole;
    const view = currentView();
    const x = Math.max(0, view.x);
    const y = Math.max(0, view.y);
    return {
      x,
      y,
      width: Math.max(0, Math.min(layout.width, view.x + view.width) - x),
      height: Math.max(0, Math.min(layout.height, view.y + view.height) - y),
    };
  }

  /**
   * Scroll the least that brings a node fully into view.
   * @param {LayoutNode} node
   */
  function scrollIntoView(node) {
    const to = scrollToShow(node, offset, scale, viewport);
    if (to.left !== viewport.scrollLeft) viewport.scrollLeft = to.left;
    if (to.top !== viewport.scrollTop) viewport.scrollTop = to.top;
  }

  /**
   * Scroll so that the layout point (x, y) sits at the view's centre.
   * @param {number} x
   * @param {number} y
   */
  function centreOn(x, y) {
    viewport.scrollLeft = offset.x + x * scale - viewport.clientWidth / 2;
    viewport.scrollTop = offset.y + y * scale - viewport.clientHeight / 2;
  }

  // Labels can only be measured, and the view only fitted, once the
  // viewport is laid out; a view rendered while detached or hidden waits
  // for its first size.
  function showInitialView() {
    viewPending = false;
    const initial = Math.max(INITIAL_MIN_SCALE, Math.min(1, currentFit()));
    setScale(initial, { x: 0, y: 0 });
    // Start at the first column's top node, not the drawing's corner: in a
    // tall graph the first column is centred and the corner can be empty.
    const first = firstNode(layout.nodes);
    viewport.scrollLeft =
      first === null ? 0 : Math.max(0, first.x * scale - 16);
    viewport.scrollTop = first === null ? 0 : Math.max(0, first.y * scale - 16);
  }

  // ---- frames --------------------------------------------------------------

  /** @param {Rect} view */
  function syncDom(view) {
    const wanted = pickDomNodes(layout.nodes, nodeGrid, view, scale);
    const extra = [pinned, focused]
      .map((id) => (id === null ? undefined : nodesById.get(id)))
      .filter((node) => node !== undefined);
    nodeLayer.keepOnly([...wanted, ...extra], patchAll);
    patchAll = false;
    setAttr(viewport, "data-rendered-nodes", String(nodeLayer.size()));
  }

  /** @param {Rect} view */
  function paintCanvas(view) {
    const ratio = Math.max(1, win?.devicePixelRatio || 1);
    const width = Math.round(client.width * ratio);
    const height = Math.round(client.height * ratio);
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
      canvas.style.width = `${client.width}px`;
      canvas.style.height = `${client.height}px`;
    }
    const ctx = canvas.getContext("2d");
    if (!ctx || width === 0 || height === 0) return;
    ctx.setTransform(1, 0, 0, 1, 0, 0);
    ctx.clearRect(0, 0, width, height);
    if (palette === null) return;
    const k = ratio * scale;
    ctx.setTransform(k, 0, 0, k, -view.x * k, -view.y * k);
    /** @type {LayoutNode[]} */
    const rings = [];
    const chosen = selected === null ? undefined : nodesById.get(selected);
    if (chosen && !nodeLayer.has(chosen.id)) rings.push(chosen);
    // A focused node drawn too small to show its own focus style.
    const group = focused === null ? undefined : nodeLayer.groupOf(focused);
    if (scale < READABLE_SCALE && group?.matches(":focus-visible")) {
      rings.push(/** @type {LayoutNode} */ (nodesById.get(String(focused))));
    }
    paintScene(ctx, {
      nodes: nodeGrid
        .query(inflate(view, NODE_TEXT.stack))
        .filter((n) => !nodeLayer.has(n.id)),
      edges: edgeGrid.query(view),
      stateOf,
      labelOf,
      palette,
      scale,
      text: scale >= READABLE_SCALE,
      rings,
    });
  }

  function schedule() {
    // A frame draws what it changes itself (the first fit, say) anyway.
    if (frameId !== 0 || drawing || signal.aborted || !win) return;
    frameId = win.requestAnimationFrame(frame);
  }

  /** Draw now: the DOM nodes in view, the canvas, then the counters. */
  function frame() {
    if (frameId !== 0) win?.cancelAnimationFrame(frameId);
    frameId = 0;
    if (signal.aborted) return;
    drawing = true;
    try {
      draw();
    } finally {
      drawing = false;
    }
  }

  function draw() {
    if (
      viewport.clientWidth !== client.width ||
      viewport.clientHeight !== client.height
    ) {
      applySize();
    }
    if (viewPending && client.width > 0) showInitialView();
    if (paletteStale && viewport.isConnected) {
      palette = resolvePalette(viewport);
      paletteStale = false;
      labels.clear();
      measurer = undefined;
      patchAll = true;
    }
    const view = currentView();
    syncDom(view);
    paintCanvas(view);
    draws += 1;
    viewport.setAttribute("data-draws", String(draws));
    const drawn = client.width > 0 && client.height > 0;
    if (awaitingDraw && (drawn || layout.nodes.length === 0)) {
      awaitingDraw = false;
      viewport.setAttribute("data-layout-state", "ready");
    }
  }

  // ---- public API ----------------------------------------------------------

  /**
   * The nodes near the view's centre, focused or selected one first, to
   * keep one of them in place across a new layout.
   * @returns {{ id: string, dx: number, dy: number }[]}
   */
  function anchorCandidates() {
    if (!hasLayout || viewPending || viewport.clientWidth === 0) return [];
    const view = currentView();
    const cx = view.x + view.width / 2;
    const cy = view.y + view.height / 2;
    const near = nodeGrid.query(view).map((n) => ({
      id: n.id,
      dx: n.x + n.width / 2 - cx,
      dy: n.y + n.height / 2 - cy,
    }));
    near.sort((a, b) => Math.hypot(a.dx, a.dy) - Math.hypot(b.dx, b.dy));
    const first = near.findIndex((c) => c.id === focused || c.id === selected);
    if (first > 0) near.unshift(...near.splice(first, 1));
    return near.slice(0, ANCHOR_CANDIDATES);
  }

  function setLayoutPending() {
    viewport.setAttribute("data-layout-state", "pending");
    awaitingDraw = false;
    if (layout.nodes.length === 0) {
      empty.textContent = "Laying out the graph…";
      empty.hidden = false;
      spacer.hidden = true;
    }
  }

  /**
   * @param {Layout} next
   * @param {Record<string, PhaseState>} nextPhases
   */
  function setLayout(next, nextPhases) {
    const anchors = anchorCandidates();
    layout = next;
    hasLayout = true;
    phases = nextPhases ?? {};
    nodesById = new Map(next.nodes.map((n) => [n.id, n]));
    nodeGrid = createGridIndex(next.nodes, (n) => n, next);
    edgeGrid = createGridIndex(next.edges, edgeBox, next);
    neighbours = createNeighbourIndex(next);
    nodeLayer.relayout(nodesById, new Map(next.nodes.map((n, i) => [n.id, i])));
    states.clear();
    labels.clear();
    paletteStale = true;
    patchAll = true;
    if (selected !== null && !nodesById.has(selected)) selected = null;
    if (pinned !== null && !nodesById.has(pinned)) pinned = null;
    showLayoutState(next);

    const anchor = anchors.find((c) => nodesById.has(c.id));
    if (anchor) {
      const node = /** @type {LayoutNode} */ (nodesById.get(anchor.id));
      applySize();
      centreOn(
        node.x + node.width / 2 - anchor.dx,
        node.y + node.height / 2 - anchor.dy,
      );
    } else {
      scale = 1;
      applySize();
      viewPending = true;
    }
    frame();
  }

  /** @param {Layout} next */
  function showLayoutState(next) {
    const failed = typeof next.error === "string" && next.error !== "";
    const hasNodes = next.nodes.length > 0;
    empty.hidden = hasNodes && !failed;
    spacer.hidden = !hasNodes || failed;
    empty.textContent = failed
      ? String(next.error)
      : "This workflow has no phases.";
    viewport.setAttribute("data-layout-state", failed ? "error" : "pending");
    if (failed) viewport.setAttribute("data-error", String(next.error));
    else viewport.removeAttribute("data-error");
    awaitingDraw = !failed;
    // The graph is one Tab stop (the viewport; nodes have tabindex -1), so
    // Tab moves past a graph of any size in one step; the arrow keys, Home
    // and End move among the nodes. A click on the background focuses the
    // viewport too, so the zoom keys work without a node focused.
    viewport.setAttribute("tabindex", "0");
    viewport.setAttribute(
      "aria-label",
      "Workflow graph: arrow keys move between phases, Enter opens one, " +
        "Shift+F10 opens its run menu",
    );
  }

  /** @param {Record<string, PhaseState>} nextPhases */
  function update(nextPhases) {
    phases = nextPhases ?? {};
    states.clear();
    patchAll = true;
    schedule();
  }

  /** @param {string | null} id */
  function select(id) {
    selected = id !== null && nodesById.has(id) ? id : null;
    nodeLayer.markSelected();
    schedule();
  }

  /** @param {string} id */
  function focusNode(id) {
    const node = nodesById.get(id);
    if (!node) return false;
    pinned = id;
    scrollIntoView(node);
    nodeLayer.ensure(node).focus({ preventScroll: true });
    setAttr(viewport, "data-rendered-nodes", String(nodeLayer.size()));
    schedule();
    return true;
  }

  /**
   * @param {string} id
   * @param {{ focus?: boolean }} [revealOptions]
   */
  function reveal(id, revealOptions = {}) {
    const node = nodesById.get(id);
    if (!node) return false;
    if (viewPending && viewport.clientWidth > 0) showInitialView();
    if (scale < READABLE_SCALE) setScale(REVEAL_SCALE);
    centreOn(node.x + node.width / 2, node.y + node.height / 2);
    select(id);
    pinned = id;
    const group = nodeLayer.ensure(node);
    if (revealOptions.focus !== false) group.focus({ preventScroll: true });
    setAttr(viewport, "data-rendered-nodes", String(nodeLayer.size()));
    schedule();
    return true;
  }

  function exportPalette() {
    return palette ?? resolvePalette(viewport) ?? defaultPalette();
  }

  /** @param {{ title?: string }} [exportOptions] */
  function exportSvg(exportOptions = {}) {
    return svgDocument({
      layout,
      rect: exportRegion(),
      stateOf,
      labelOf,
      palette: exportPalette(),
      title: exportOptions.title ?? "Workflow graph",
      // At most 1:1: a view zoomed out opens at the size it had on screen.
      scale: Math.min(1, scale),
    });
  }

  function exportPng() {
    const rect = exportRegion();
    return pngBlob(doc, {
      nodes: nodeGrid.query(rect),
      edges: edgeGrid.query(rect),
      rect,
      stateOf,
      labelOf,
      palette: exportPalette(),
      pixelRatio: win?.devicePixelRatio || 1,
    });
  }

  // ---- input ---------------------------------------------------------------

  /** @param {EventTarget | null} target */
  function nodeIdOf(target) {
    if (!(target instanceof Element)) return null;
    const group = target.closest(".dagstudio-node");
    return group && viewport.contains(group)
      ? group.getAttribute("data-phase-id")
      : null;
  }

  /**
   * The node painted under a pointer, found in the grid index.
   * @param {{ clientX: number, clientY: number }} event
   */
  function nodeAt(event) {
    const point = viewportPoint(viewport, event);
    if (!point) return null;
    const x = (viewport.scrollLeft + point.x - offset.x) / scale;
    const y = (viewport.scrollTop + point.y - offset.y) / scale;
    return nodeGrid.hit(x, y, HIT_SLOP_PX / scale);
  }

  const gestures = attachGestures(viewport, {
    signal,
    getScale: () => scale,
    zoomTo: setScale,
    // Only the grid knows where painted boxes are, so it sets the cursor.
    onHover: (event) =>
      viewport.classList.toggle("dagstudio-over-node", nodeAt(event) !== null),
  });
  viewport.addEventListener(
    "pointerleave",
    () => viewport.classList.remove("dagstudio-over-node"),
    { signal },
  );
  viewport.addEventListener(
    "click",
    (event) => {
      if (gestures.endedDrag()) return;
      const id = nodeIdOf(event.target);
      if (id !== null) {
        options.onActivate?.(id, false);
        return;
      }
      // A box painted on the canvas: bring it close enough to read first.
      const node = nodeAt(event);
      if (node === null) return;
      if (scale < READABLE_SCALE) reveal(node.id);
      else focusNode(node.id);
      options.onActivate?.(node.id, false);
    },
    { signal },
  );
  viewport.addEventListener("keydown", onKeyDown, { signal });

  /** @param {KeyboardEvent} event */
  function onKeyDown(event) {
    const id = nodeIdOf(event.target);
    const plain = !event.altKey && !event.ctrlKey && !event.metaKey;
    const direction = ARROWS[event.key];
    if (id !== null && (event.key === "Enter" || event.key === " ")) {
      event.preventDefault();
      options.onActivate?.(id, true);
    } else if (id !== null && direction && plain) {
      event.preventDefault();
      const next = neighbours.next(id, direction);
      if (next !== null) focusNode(next);
    } else if (id === null && direction && plain && event.target === viewport) {
      // From the graph's one Tab stop, an arrow enters the nodes at the
      // selected one, else the first.
      event.preventDefault();
      const to =
        selected !== null && nodesById.has(selected)
          ? selected
          : neighbours.first();
      if (to !== null) focusNode(to);
    } else if ((event.key === "Home" || event.key === "End") && plain) {
      event.preventDefault();
      const to = event.key === "Home" ? neighbours.first() : neighbours.last();
      if (to !== null) focusNode(to);
    } else if (event.key === "+" || event.key === "=") {
      event.preventDefault();
      setScale(scale * ZOOM_KEY_STEP);
    } else if (event.key === "-") {
      event.preventDefault();
      setScale(scale / ZOOM_KEY_STEP);
    } else if (event.key === "0") {
      event.preventDefault();
      setScale(currentFit());
    }
  }

  viewport.addEventListener(
    "focusin",
    (event) => {
      focused = nodeIdOf(event.target);
      const node = focused === null ? undefined : nodesById.get(focused);
      if (node) scrollIntoView(node);
      schedule();
    },
    { signal },
  );
  viewport.addEventListener(
    "focusout",
    (event) => {
      // With no new target (the window lost focus, or a click on nothing)
      // the node may get focus back, so it keeps its DOM element.
      const to = event.relatedTarget;
      if (to !== null && nodeIdOf(to) === null) focused = null;
      schedule();
    },
    { signal },
  );
  viewport.addEventListener("scroll", schedule, { signal, passive: true });
  watchSizeAndTheme();

  function watchSizeAndTheme() {
    if (!win) return;
    if (typeof win.ResizeObserver !== "undefined") {
      // Sizes are applied in the next frame, not here: changing them in
      // the observer's callback can start a resize loop.
      const resizes = new win.ResizeObserver(() => schedule());
      resizes.observe(viewport);
      signal.addEventListener("abort", () => resizes.disconnect());
    }
    // JupyterLab names its theme on <body>; a change of theme or of the
    // system's light/dark scheme changes every colour of the canvas.
    // Known limitation: a theme whose stylesheet loads only after <body>
    // names it is seen at the next theme change or the next layout.
    const themeChanged = () => {
      paletteStale = true;
      schedule();
    };
    if (doc.body) {
      const themes = new win.MutationObserver(themeChanged);
      themes.observe(doc.body, {
        attributes: true,
        attributeFilter: ["data-jp-theme-name", "data-jp-theme-light"],
      });
      signal.addEventListener("abort", () => themes.disconnect());
    }
    win
      .matchMedia?.("(prefers-color-scheme: dark)")
      ?.addEventListener("change", themeChanged, { signal });
    signal.addEventListener("abort", () => {
      if (frameId !== 0) win.cancelAnimationFrame(frameId);
      frameId = 0;
    });
  }

  return {
    element: viewport,
    setLayoutPending,
    setLayout,
    update,
    setStatusResolver(next) {
      resolver = next ?? phaseNodeState;
      states.clear();
      patchAll = true;
      schedule();
    },
    zoomBy: (factor) => setScale(scale * factor),
    fit: () => setScale(currentFit()),
    getScale: () => scale,
    focusNode,
    select,
    reveal,
    exportSvg,
    exportPng,
    nodeIdAt: (event) => nodeIdOf(event.target) ?? nodeAt(event)?.id ?? null,
  };
}
