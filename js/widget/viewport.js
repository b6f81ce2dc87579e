// @ts-check
/**
 * Geometry of the graph view with no DOM: a grid index of boxes for finding
 * what is in view or under the pointer, the scale limits, and which nodes
 * get real DOM elements. Node tests import it as it is.
 */
import { curveSegments } from "./paint.js";

/** @typedef {import("./layout.js").LayoutNode} LayoutNode */

/**
 * @typedef {object} Rect
 * @property {number} x
 * @property {number} y
 * @property {number} width
 * @property {number} height
 */

/**
 * @template T
 * @typedef {object} GridIndex
 * @property {(rect: Rect) => T[]} query the items whose box meets `rect`,
 *   each once, in the order they were given
 * @property {(x: number, y: number, slop?: number) => T | null} hit the
 *   item whose box holds the point, or else the nearest one within `slop`
 * @property {number} cellSize
 */

/** Smallest scale the view allows, unless fitting needs smaller. */
export const MIN_SCALE = 0.05;
/** Smallest scale even for the longest graphs. */
export const MIN_SCALE_FLOOR = 0.002;
export const MAX_SCALE = 2.5;
/** Largest scale "fit" picks, so a tiny graph is not blown up. */
export const FIT_MAX_SCALE = 1.25;
/**
 * Below this scale the 13 px labels are under 6.5 px tall: nodes are then
 * coloured boxes on the canvas and get no DOM elements (large graphs only).
 */
export const READABLE_SCALE = 0.5;
/** Graphs up to this many nodes keep a DOM element for every node. */
export const ALL_DOM_NODES_MAX = 300;
/**
 * Most DOM nodes a large graph has at once. A 1,400 × 1,000 px view at
 * READABLE_SCALE holds about 350 dense nodes; the rest of the cap is the
 * margin that keeps scrolling from showing nodes still being made.
 */
export const DOM_NODE_CAP = 600;
/** Screen pixels around the view whose nodes are rendered in advance. */
export const DOM_MARGIN_PX = 200;
/** A grid of at most this many cells; larger drawings get larger cells. */
const MAX_GRID_CELLS = 1 << 16;
const MIN_CELL_SIZE = 256;

/**
 * Tell whether two rectangles overlap (touching edges count).
 * @param {Rect} a
 * @param {Rect} b
 * @returns {boolean}
 */
export function intersects(a, b) {
  return (
    a.x <= b.x + b.width &&
    b.x <= a.x + a.width &&
    a.y <= b.y + b.height &&
    b.y <= a.y + a.height
  );
}

/**
 * Return the distance from a point to a rectangle (0 inside it).
 * @param {Rect} rect
 * @param {number} x
 * @param {number} y
 * @returns {number}
 */
export function distanceToRect(rect, x, y) {
  const dx = Math.max(rect.x - x, 0, x - (rect.x + rect.width));
  const dy = Math.max(rect.y - y, 0, y - (rect.y + rect.height));
  return Math.hypot(dx, dy);
}

/**
 * Grow a rectangle by `margin` on every side.
 * @param {Rect} rect
 * @param {number} margin
 * @returns {Rect}
 */
export function inflate(rect, margin) {
  return {
    x: rect.x - margin,
    y: rect.y - margin,
    width: rect.width + 2 * margin,
    height: rect.height + 2 * margin,
  };
}

/**
 * Return the box around a list of points, grown by `pad`.
 * @param {{ x: number, y: number }[]} points
 * @param {number} [pad]
 * @returns {Rect}
 */
export function pointsBox(points, pad = 0) {
  if (points.length === 0) return { x: 0, y: 0, width: -1, height: -1 };
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (const { x, y } of points) {
    minX = Math.min(minX, x);
    minY = Math.min(minY, y);
    maxX = Math.max(maxX, x);
    maxY = Math.max(maxY, y);
  }
  return inflate(
    { x: minX, y: minY, width: maxX - minX, height: maxY - minY },
    pad,
  );
}

/** Half the width of an arrowhead, which may stick out of the curve. */
const EDGE_PAD = 5;

/**
 * Return the box an edge is drawn in. Its curve stays inside the hull of
 * its route and control points, and the arrowhead within EDGE_PAD of it.
 * @param {{ points: { x: number, y: number }[] }} edge
 * @returns {Rect}
 */
export function edgeBox(edge) {
  const controls = curveSegments(edge.points).flatMap((s) => [
    { x: s.c1x, y: s.c1y },
    { x: s.c2x, y: s.c2y },
  ]);
  return pointsBox([...edge.points, ...controls], EDGE_PAD);
}

/**
 * Index boxes in a uniform grid: each item goes in every cell its box
 * meets, so a query reads only the cells of the asked rectangle. Items
 * with an empty box (negative size) are left out.
 * @template T
 * @param {T[]} items
 * @param {(item: T) => Rect} boxOf
 * @param {{ width: number, height: number }} bounds the drawing's size
 * @returns {GridIndex<T>}
 */
export function createGridIndex(items, boxOf, bounds) {
  const width = Math.max(1, bounds.width);
  const height = Math.max(1, bounds.height);
  const cellSize = Math.max(
    MIN_CELL_SIZE,
    Math.ceil(Math.sqrt((width * height) / MAX_GRID_CELLS)),
  );
  const cols = Math.max(1, Math.ceil(width / cellSize));
  const rows = Math.max(1, Math.ceil(height / cellSize));
  /** @type {number[][]} */
  const cells = Array.from({ length: cols * rows }, () => []);
  const boxes = items.map(boxOf);
  const col = (/** @type {number} */ x) =>
    Math.min(cols - 1, Math.max(0, Math.floor(x / cellSize)));
  const row = (/** @type {number} */ y) =>
    Math.min(rows - 1, Math.max(0, Math.floor(y / cellSize)));
  boxes.forEach((box, index) => {
    if (box.width < 0 || box.height < 0) return;
    for (let r = row(box.y); r <= row(box.y + box.height); r += 1) {
      for (let c = col(box.x); c <= col(box.x + box.width); c += 1) {
        cells[r * cols + c].push(index);
      }
    }
  });
  // Marks which items a query already took, so an item in several cells
  // is returned once without a Set per query.
  const seen = new Uint32Array(items.length);
  let stamp = 0;

  /** @param {Rect} rect */
  function candidates(rect) {
    stamp += 1;
    if (stamp === 0xffffffff) {
      seen.fill(0);
      stamp = 1;
    }
    /** @type {number[]} */
    const found = [];
    if (rect.x > width || rect.y > height) return found;
    if (rect.x + rect.width < 0 || rect.y + rect.height < 0) return found;
    for (let r = row(rect.y); r <= row(rect.y + rect.height); r += 1) {
      for (let c = col(rect.x); c <= col(rect.x + rect.width); c += 1) {
        for (const index of cells[r * cols + c]) {
          if (seen[index] === stamp) continue;
          seen[index] = stamp;
          if (intersects(boxes[index], rect)) found.push(index);
        }
      }
    }
    return found.sort((a, b) => a - b);
  }

  return {
    cellSize,
    query: (rect) => candidates(rect).map((index) => items[index]),
    hit(x, y, slop = 0) {
      const around = {
        x: x - slop,
        y: y - slop,
        width: 2 * slop,
        height: 2 * slop,
      };
      let best = -1;
      let bestDistance = Infinity;
      for (const index of candidates(around)) {
        const distance = distanceToRect(boxes[index], x, y);
        // Later items are drawn on top, so they win a tie.
        if (distance <= slop && distance <= bestDistance) {
          best = index;
          bestDistance = distance;
        }
      }
      return best < 0 ? null : items[best];
    },
  };
}

/**
 * Return the smallest scale the view allows for a drawing: MIN_SCALE, or
 * less when that is what it takes to see the whole drawing.
 * @param {number} fit the scale that fits the drawing in the view
 * @returns {number}
 */
export function minScaleFor(fit) {
  return Math.max(MIN_SCALE_FLOOR, Math.min(MIN_SCALE, fit * 0.9));
}

/**
 * Return the scale that fits a drawing in a view, with a small border.
 * @param {{ width: number, height: number }} size of the drawing
 * @param {{ width: number, height: number }} view in screen pixels
 * @returns {number}
 */
export function fitScale(size, view) {
  if (size.width <= 0 || size.height <= 0) return 1;
  const width = Math.max(1, view.width - 8);
  const height = Math.max(1, view.height - 8);
  return Math.min(FIT_MAX_SCALE, width / size.width, height / size.height);
}

/**
 * @typedef {object} DomNodeLimits
 * @property {number} [allBelow] graphs up to this size render every node
 * @property {number} [readable] no DOM nodes below this scale
 * @property {number} [cap] most DOM nodes at once
 * @property {number} [marginPx] screen pixels rendered around the view
 */

/**
 * Pick the nodes that get DOM elements: every node of a small graph; for a
 * large one, none while zoomed out, else those in the view and its margin,
 * nearest to the view's centre first, at most `cap` of them.
 * @param {LayoutNode[]} nodes
 * @param {GridIndex<LayoutNode>} index
 * @param {Rect} view the visible part of the drawing, in layout units
 * @param {number} scale screen pixels per layout unit
 * @param {DomNodeLimits} [limits]
 * @returns {LayoutNode[]}
 */
export function pickDomNodes(nodes, index, view, scale, limits = {}) {
  const {
    allBelow = ALL_DOM_NODES_MAX,
    readable = READABLE_SCALE,
    cap = DOM_NODE_CAP,
    marginPx = DOM_MARGIN_PX,
  } = limits;
  if (nodes.length <= allBelow) return nodes;
  if (scale < readable || view.width <= 0 || view.height <= 0) return [];
  const found = index.query(inflate(view, marginPx / scale));
  if (found.length <= cap) return found;
  const cx = view.x + view.width / 2;
  const cy = view.y + view.height / 2;
  const distance = (/** @type {LayoutNode} */ n) =>
    Math.hypot(n.x + n.width / 2 - cx, n.y + n.height / 2 - cy);
  return found
    .map((node) => ({ node, d: distance(node) }))
    .sort((a, b) => a.d - b.d)
    .slice(0, cap)
    .map(({ node }) => node);
}

/**
 * Return the scroll offset that keeps the layout point under `anchor` in
 * place when the scale changes.
 * @param {number} scroll current scroll offset (px)
 * @param {number} anchor anchor position in the view (px)
 * @param {number} offset where the drawing starts in the content (px)
 * @param {number} from old scale
 * @param {number} nextOffset where it starts at the new scale (px)
 * @param {number} to new scale
 * @returns {number}
 */
export function anchoredScroll(scroll, anchor, offset, from, nextOffset, to) {
  const point = (scroll + anchor - offset) / from;
  return point * to + nextOffset - anchor;
}

/**
 * Return the node a new view starts at: the top one of the leftmost column.
 * @template {{ x: number, y: number }} T
 * @param {readonly T[]} nodes
 * @returns {T | null}
 */
export function firstNode(nodes) {
  /** @type {T | null} */
  let first = null;
  for (const node of nodes) {
    if (
      first === null ||
      node.x < first.x ||
      (node.x === first.x && node.y < first.y)
    ) {
      first = node;
    }
  }
  return first;
}

/**
 * Return the scroll position that brings a box fully into view with the
 * least movement, keeping a margin around it.
 * @param {{ x: number, y: number, width: number, height: number }} box in
 *   layout units
 * @param {{ x: number, y: number }} offset where the drawing starts (px)
 * @param {number} scale
 * @param {{ scrollLeft: number, scrollTop: number, clientWidth: number,
 *   clientHeight: number }} view
 * @param {number} [margin] pixels kept around the box
 * @returns {{ left: number, top: number }}
 */
export function scrollToShow(box, offset, scale, view, margin = 8) {
  /**
   * @param {number} start the box's first pixel
   * @param {number} end its last
   * @param {number} scroll
   * @param {number} size the view's
   */
  const axis = (start, end, scroll, size) => {
    if (start - margin < scroll) return start - margin;
    if (end + margin > scroll + size) {
      return Math.min(start - margin, end + margin - size);
    }
    return scroll;
  };
  return {
    left: axis(
      offset.x + box.x * scale,
      offset.x + (box.x + box.width) * scale,
      view.scrollLeft,
      view.clientWidth,
    ),
    top: axis(
      offset.y + box.y * scale,
      offset.y + (box.y + box.height) * scale,
      view.scrollTop,
      view.clientHeight,
    ),
  };
}
