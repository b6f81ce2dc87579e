// @ts-check
/**
 * How nodes and edges look, shared by the on-screen canvas, the DOM nodes,
 * the PNG and the SVG export: a node's state and text, edge curves, and
 * the canvas painter. No DOM, so node tests import it as it is.
 */
import { fromExecutionText } from "./rerun.js";
import { phaseAttempt, phaseStatus, statusIcon } from "./state.js";

/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {import("./layout.js").LayoutEdge} LayoutEdge */
/** @typedef {import("./palette.js").NodeStyle} NodeStyle */
/** @typedef {import("./palette.js").Palette} Palette */
/** @typedef {import("./state.js").PhaseState} PhaseState */

/**
 * @typedef {object} NodeState
 * @property {string} status
 * @property {number} attempt
 * @property {string | null} error
 * @property {string} [fromExecution] the earlier execution whose result
 *   the phase shows (cached, or reused in a derived run)
 */

/** Where the text of a node sits, relative to its top-left corner. */
export const NODE_TEXT = Object.freeze({
  iconX: 17,
  labelX: 34,
  labelY: 22,
  statusY: 40,
  rightPad: 10,
  /** Room a group node keeps right of its label for the ▸ marker. */
  groupPad: 14,
  /** How far the stacked card behind a group node is offset. */
  stack: 4,
});
export const LABEL_FONT = "600 13px";
export const STATUS_FONT = "11px";
export const ICON_FONT = "16px";
export const GROUP_MARKER = "▸";
/** Below this scale boxes are plain rectangles and edges plain lines. */
export const DETAIL_SCALE = 0.2;
const ARROW_LENGTH = 9;
const ARROW_HALF_WIDTH = 4.5;

// ---- node state and text -------------------------------------------------

/**
 * Return a node's state as the phase states give it.
 * @param {Record<string, PhaseState> | null | undefined} phases
 * @param {LayoutNode} node
 * @returns {NodeState}
 */
export function phaseNodeState(phases, node) {
  const from = phases?.[node.id]?.from_execution;
  return {
    status: phaseStatus(phases, node.id),
    attempt: phaseAttempt(phases, node.id),
    error: phases?.[node.id]?.error ?? null,
    ...(typeof from === "string" && from ? { fromExecution: from } : {}),
  };
}

/**
 * Make a state from elsewhere (a resolver of group states) safe to draw:
 * a non-empty status, a whole attempt count, an error text or null.
 * @param {{ status?: unknown, attempt?: unknown, error?: unknown,
 *   fromExecution?: unknown } | null | undefined} raw
 * @returns {NodeState}
 */
export function cleanNodeState(raw) {
  const attempt = Number(raw?.attempt ?? 0);
  const from = raw?.fromExecution;
  return {
    status:
      typeof raw?.status === "string" && raw.status ? raw.status : "pending",
    attempt: Number.isFinite(attempt) ? Math.max(0, Math.floor(attempt)) : 0,
    error: typeof raw?.error === "string" && raw.error ? raw.error : null,
    ...(typeof from === "string" && from ? { fromExecution: from } : {}),
  };
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
 * Return how many phases a collapsed group node stands for, or null when
 * the node is no group or nothing says. The size is read from `count` (a
 * number) or `members` (the member ids) on the layout node, else on its
 * phase.
 * @param {LayoutNode} node
 * @returns {number | null}
 */
export function groupSize(node) {
  if (node.kind !== "group") return null;
  for (const source of [node, node.phase]) {
    const { count, members } =
      /** @type {{ count?: unknown, members?: unknown }} */ (
        /** @type {unknown} */ (source ?? {})
      );
    if (typeof count === "number" && Number.isFinite(count)) return count;
    if (Array.isArray(members)) return members.length;
  }
  return null;
}

/**
 * Return the badge of a group node, such as "12 phases"; "" for others.
 * @param {LayoutNode} node
 * @returns {string}
 */
export function groupBadge(node) {
  const size = groupSize(node);
  if (size === null) return node.kind === "group" ? "group" : "";
  return size === 1 ? "1 phase" : `${size} phases`;
}

/**
 * Return the hover text of a node: full label, id and kind, status, where
 * its result comes from when not from this run, error.
 * @param {LayoutNode} node
 * @param {string} status
 * @param {number} attempt
 * @param {string | null | undefined} error
 * @param {string} [fromExecution]
 * @returns {string}
 */
export function nodeTooltip(node, status, attempt, error, fromExecution) {
  const lines = [node.label];
  const badge = groupBadge(node);
  if (badge) lines.push(`${node.id} · group of ${badge}`);
  else lines.push(node.kind ? `${node.id} · ${node.kind}` : node.id);
  lines.push(nodeStatusLine(status, attempt));
  if (fromExecution) lines.push(fromExecutionText(fromExecution));
  if (error) lines.push(`Error: ${error}`);
  return lines.join("\n");
}

/**
 * Return what a screen reader says of a node: its label and status line;
 * for a cached phase that it did not run, and for a result taken from
 * another execution, which one.
 * @param {LayoutNode} node
 * @param {NodeState} state
 * @returns {string}
 */
export function nodeSpokenText(node, state) {
  const parts = [nodeLine(node, state)];
  if (state.status === "cached") parts.push("not run");
  if (state.fromExecution) parts.push(fromExecutionText(state.fromExecution));
  return `${node.label}: ${parts.join(", ")}`;
}

/**
 * Return the second line of a node: its status line, or for a group node
 * its size and status ("12 phases · running"; the attempt of a group
 * means nothing).
 * @param {LayoutNode} node
 * @param {NodeState} state
 * @returns {string}
 */
export function nodeLine(node, state) {
  const badge = groupBadge(node);
  if (badge) return `${badge} · ${state.status}`;
  return nodeStatusLine(state.status, state.attempt);
}

/**
 * Return the room, in layout units, for a node's label.
 * @param {LayoutNode} node
 * @returns {number}
 */
export function labelRoom(node) {
  const pad = node.kind === "group" ? NODE_TEXT.groupPad : 0;
  return node.width - NODE_TEXT.labelX - NODE_TEXT.rightPad - pad;
}

/**
 * Cut a label until `measure` says it fits in `room`, ending it with "…".
 * Keeps at least one character.
 * @param {string} text the label, maybe already cut by the layout
 * @param {number} room
 * @param {(text: string) => number} measure
 * @returns {string}
 */
export function fitLabel(text, room, measure) {
  if (measure(text) <= room) return text;
  const chars = Array.from(text.replace(/…$/, ""));
  const cut = (/** @type {number} */ n) =>
    `${chars.slice(0, n).join("").trimEnd()}…`;
  let low = 1;
  let high = chars.length - 1;
  while (low < high) {
    const mid = Math.ceil((low + high) / 2);
    if (measure(cut(mid)) <= room) low = mid;
    else high = mid - 1;
  }
  return cut(Math.max(1, low));
}

// ---- edges ---------------------------------------------------------------

/**
 * @typedef {object} CurveSegment
 * @property {number} c1x
 * @property {number} c1y
 * @property {number} c2x
 * @property {number} c2y
 * @property {number} x
 * @property {number} y
 */

/**
 * Return the cubic segments of a route: each leaves and enters its points
 * level, with both control points halfway across. Unlike a spline through
 * the points, such a curve never swings outside the box of its two ends,
 * so edges stay inside the drawing and clear of the nodes beside them.
 * @param {{ x: number, y: number }[]} points
 * @returns {CurveSegment[]}
 */
export function curveSegments(points) {
  /** @type {CurveSegment[]} */
  const segments = [];
  for (let i = 0; i < points.length - 1; i += 1) {
    const a = points[i];
    const b = points[i + 1];
    const middle = (a.x + b.x) / 2;
    segments.push({
      c1x: middle,
      c1y: a.y,
      c2x: middle,
      c2y: b.y,
      x: b.x,
      y: b.y,
    });
  }
  return segments;
}

/**
 * Build an SVG path through the points, as the curves of `curveSegments`.
 * @param {{ x: number, y: number }[]} points
 * @returns {string}
 */
export function edgePath(points) {
  if (points.length === 0) return "";
  const f = (/** @type {number} */ n) => Math.round(n * 10) / 10;
  let d = `M${f(points[0].x)},${f(points[0].y)}`;
  for (const s of curveSegments(points)) {
    d += `C${f(s.c1x)},${f(s.c1y)} ${f(s.c2x)},${f(s.c2y)} ${f(s.x)},${f(s.y)}`;
  }
  return d;
}

/**
 * Return the three corners of the arrowhead at the end of a route, tip
 * first, or null for a route too short to point anywhere.
 * @param {{ x: number, y: number }[]} points
 * @returns {[number, number][] | null}
 */
export function arrowHead(points) {
  if (points.length < 2) return null;
  const segments = curveSegments(points);
  const last = segments[segments.length - 1];
  const before = { x: last.c2x, y: last.c2y };
  let dx = last.x - before.x;
  let dy = last.y - before.y;
  let length = Math.hypot(dx, dy);
  if (length < 1e-6) {
    const prev = points[points.length - 2];
    dx = last.x - prev.x;
    dy = last.y - prev.y;
    length = Math.hypot(dx, dy);
    if (length < 1e-6) return null;
  }
  const ux = dx / length;
  const uy = dy / length;
  const bx = last.x - ux * ARROW_LENGTH;
  const by = last.y - uy * ARROW_LENGTH;
  return [
    [last.x, last.y],
    [bx - uy * ARROW_HALF_WIDTH, by + ux * ARROW_HALF_WIDTH],
    [bx + uy * ARROW_HALF_WIDTH, by - ux * ARROW_HALF_WIDTH],
  ];
}

// ---- the painter -----------------------------------------------------------

/**
 * @typedef {object} Scene
 * @property {LayoutNode[]} nodes the nodes to draw
 * @property {LayoutEdge[]} edges the edges to draw
 * @property {(node: LayoutNode) => NodeState} stateOf
 * @property {(node: LayoutNode) => string} labelOf the label as drawn
 * @property {Palette} palette
 * @property {number} scale screen pixels per layout unit, which picks the
 *   level of detail and keeps lines at least a pixel wide
 * @property {boolean} text draw the icon, label and status line
 * @property {LayoutNode[]} [rings] nodes to draw a focus ring around
 */

/**
 * Draw edges, then node boxes, then their text, in layout units: the
 * caller sets the transform from layout units to canvas pixels. Boxes are
 * batched by status, so a frame costs a few fills whatever the node count.
 * @param {CanvasRenderingContext2D} ctx
 * @param {Scene} scene
 */
export function paintScene(ctx, scene) {
  const { palette, scale } = scene;
  const detailed = scale >= DETAIL_SCALE;
  const pixel = 1 / Math.max(scale, 1e-6);
  paintEdges(ctx, scene.edges, palette, detailed, pixel);
  /** @type {Map<string, LayoutNode[]>} */
  const byStatus = new Map();
  /** @type {Map<string, NodeState>} */
  const states = new Map();
  for (const node of scene.nodes) {
    const state = scene.stateOf(node);
    states.set(node.id, state);
    const list = byStatus.get(state.status) ?? [];
    list.push(node);
    byStatus.set(state.status, list);
  }
  for (const [status, nodes] of byStatus) {
    const style = palette.styles[status] ?? palette.styles.pending;
    paintBoxes(ctx, nodes, style, detailed, pixel);
  }
  if (scene.text) {
    for (const node of scene.nodes) {
      const state = /** @type {NodeState} */ (states.get(node.id));
      const style = palette.styles[state.status] ?? palette.styles.pending;
      paintText(ctx, node, state, style, scene);
    }
  }
  if (scene.rings && scene.rings.length > 0) {
    // Rings keep their width on screen, so they show at any zoom.
    const pad = 3 * pixel;
    ctx.beginPath();
    for (const node of scene.rings) {
      ctx.rect(
        node.x - pad,
        node.y - pad,
        node.width + 2 * pad,
        node.height + 2 * pad,
      );
    }
    ctx.setLineDash([]);
    ctx.strokeStyle = palette.focus;
    ctx.lineWidth = 2 * pixel;
    ctx.stroke();
  }
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {LayoutEdge[]} edges
 * @param {Palette} palette
 * @param {boolean} detailed
 * @param {number} pixel one screen pixel in layout units
 */
function paintEdges(ctx, edges, palette, detailed, pixel) {
  ctx.beginPath();
  for (const { points } of edges) {
    if (points.length < 2) continue;
    ctx.moveTo(points[0].x, points[0].y);
    if (!detailed) {
      for (let i = 1; i < points.length; i += 1) {
        ctx.lineTo(points[i].x, points[i].y);
      }
      continue;
    }
    for (const s of curveSegments(points)) {
      ctx.bezierCurveTo(s.c1x, s.c1y, s.c2x, s.c2y, s.x, s.y);
    }
  }
  ctx.setLineDash([]);
  ctx.strokeStyle = palette.edge;
  ctx.lineWidth = Math.max(1.5, pixel);
  ctx.stroke();
  if (!detailed) return;
  ctx.beginPath();
  for (const { points } of edges) {
    const head = arrowHead(points);
    if (head === null) continue;
    ctx.moveTo(head[0][0], head[0][1]);
    ctx.lineTo(head[1][0], head[1][1]);
    ctx.lineTo(head[2][0], head[2][1]);
    ctx.closePath();
  }
  ctx.fillStyle = palette.edge;
  ctx.fill();
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {LayoutNode[]} nodes all of one status
 * @param {NodeStyle} style
 * @param {boolean} detailed
 * @param {number} pixel one screen pixel in layout units
 */
function paintBoxes(ctx, nodes, style, detailed, pixel) {
  if (!detailed) {
    // A few pixels wide: the status colour itself, so it still shows.
    ctx.beginPath();
    for (const n of nodes) ctx.rect(n.x, n.y, n.width, n.height);
    ctx.fillStyle = style.solid;
    ctx.fill();
    return;
  }
  const groups = nodes.filter((n) => n.kind === "group");
  const rounded = typeof ctx.roundRect === "function";
  /** @param {LayoutNode[]} list @param {number} shift */
  const outline = (list, shift) => {
    ctx.beginPath();
    for (const n of list) {
      if (rounded)
        ctx.roundRect(n.x + shift, n.y + shift, n.width, n.height, 6);
      else ctx.rect(n.x + shift, n.y + shift, n.width, n.height);
    }
  };
  ctx.setLineDash(style.dash);
  ctx.lineWidth = Math.max(1.5, pixel);
  ctx.strokeStyle = style.stroke;
  ctx.fillStyle = style.fill;
  if (groups.length > 0) {
    // The card stacked behind a group node.
    outline(groups, NODE_TEXT.stack);
    ctx.fill();
    ctx.stroke();
  }
  outline(nodes, 0);
  ctx.fill();
  ctx.stroke();
  ctx.setLineDash([]);
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {LayoutNode} node
 * @param {NodeState} state
 * @param {NodeStyle} style
 * @param {Scene} scene
 */
function paintText(ctx, node, state, style, scene) {
  const { font } = scene.palette;
  ctx.textBaseline = "middle";
  ctx.textAlign = "center";
  ctx.font = `${ICON_FONT} ${font}`;
  ctx.fillStyle = style.icon;
  ctx.fillText(
    statusIcon(state.status),
    node.x + NODE_TEXT.iconX,
    node.y + node.height / 2,
  );
  ctx.textBaseline = "alphabetic";
  ctx.textAlign = "left";
  ctx.font = `${LABEL_FONT} ${font}`;
  ctx.fillStyle = style.label;
  const left = node.x + NODE_TEXT.labelX;
  ctx.fillText(scene.labelOf(node), left, node.y + NODE_TEXT.labelY);
  ctx.font = `${STATUS_FONT} ${font}`;
  ctx.fillStyle = style.text;
  ctx.fillText(nodeLine(node, state), left, node.y + NODE_TEXT.statusY);
  if (node.kind !== "group") return;
  ctx.textAlign = "right";
  ctx.font = `${LABEL_FONT} ${font}`;
  ctx.fillStyle = style.label;
  const right = node.x + node.width - NODE_TEXT.rightPad;
  ctx.fillText(GROUP_MARKER, right, node.y + NODE_TEXT.labelY);
  ctx.textAlign = "left";
}
