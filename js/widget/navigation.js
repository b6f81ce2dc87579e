// @ts-check
/**
 * Arrow-key moves between graph nodes, from the layout alone: Right goes to
 * a successor, Left to a predecessor, Up and Down along the node's column.
 * No DOM, so node tests import it as it is.
 */

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {"left" | "right" | "up" | "down"} Direction */

/**
 * @typedef {object} NeighbourIndex
 * @property {(id: string, direction: Direction) => string | null} next the
 *   node an arrow key moves to from `id`, or null when there is none
 * @property {() => string | null} first the top node of the first column
 * @property {() => string | null} last the bottom node of the last column
 */

/**
 * Read a node's column and place in it. The layout gives them as `rank`
 * and `order`; without them the column is taken from the node's left edge
 * and the place from its top edge.
 * @param {LayoutNode} node
 * @returns {{ rank: number | null, order: number | null }}
 */
function placeOf(node) {
  const { rank, order } = /** @type {{ rank?: unknown, order?: unknown }} */ (
    /** @type {unknown} */ (node)
  );
  return {
    rank: typeof rank === "number" && Number.isFinite(rank) ? rank : null,
    order: typeof order === "number" && Number.isFinite(order) ? order : null,
  };
}

/**
 * Build the neighbour index of a layout.
 * @param {Layout} layout
 * @returns {NeighbourIndex}
 */
export function createNeighbourIndex(layout) {
  /** @type {Map<string, { node: LayoutNode, rank: number, order: number }>} */
  const places = new Map();
  const haveRanks = layout.nodes.every((n) => placeOf(n).rank !== null);
  // Without ranks, nodes whose left edges are within half a node's width
  // of each other share a column.
  const columnOf = (/** @type {LayoutNode} */ node) =>
    haveRanks
      ? /** @type {number} */ (placeOf(node).rank)
      : Math.round(node.x / Math.max(1, node.width / 2));
  for (const node of layout.nodes) {
    const order = placeOf(node).order;
    places.set(node.id, {
      node,
      rank: columnOf(node),
      order: haveRanks && order !== null ? order : node.y,
    });
  }
  /** @type {Map<number, string[]>} */
  const columns = new Map();
  for (const [id, place] of places) {
    const column = columns.get(place.rank) ?? [];
    column.push(id);
    columns.set(place.rank, column);
  }
  const byPlace = (/** @type {string} */ a, /** @type {string} */ b) => {
    const pa = /** @type {{ rank: number, order: number }} */ (places.get(a));
    const pb = /** @type {{ rank: number, order: number }} */ (places.get(b));
    return pa.order - pb.order || pa.rank - pb.rank;
  };
  for (const column of columns.values()) column.sort(byPlace);
  /** @type {Map<string, number>} */
  const indexInColumn = new Map();
  for (const column of columns.values()) {
    column.forEach((id, index) => indexInColumn.set(id, index));
  }
  /** @type {Map<string, string[]>} */
  const successors = new Map();
  /** @type {Map<string, string[]>} */
  const predecessors = new Map();
  for (const { from, to } of layout.edges) {
    if (!places.has(from) || !places.has(to)) continue;
    const after = successors.get(from) ?? [];
    after.push(to);
    successors.set(from, after);
    const before = predecessors.get(to) ?? [];
    before.push(from);
    predecessors.set(to, before);
  }
  for (const list of [...successors.values(), ...predecessors.values()]) {
    list.sort(byPlace);
  }
  const ranks = [...columns.keys()].sort((a, b) => a - b);

  return {
    next(id, direction) {
      const place = places.get(id);
      if (!place) return null;
      if (direction === "right") return successors.get(id)?.[0] ?? null;
      if (direction === "left") return predecessors.get(id)?.[0] ?? null;
      const column = /** @type {string[]} */ (columns.get(place.rank));
      const at = /** @type {number} */ (indexInColumn.get(id));
      const to = direction === "up" ? at - 1 : at + 1;
      return column[to] ?? null;
    },
    first() {
      if (ranks.length === 0) return null;
      return /** @type {string[]} */ (columns.get(ranks[0]))[0];
    },
    last() {
      if (ranks.length === 0) return null;
      const column = /** @type {string[]} */ (columns.get(ranks.at(-1) ?? 0));
      return column[column.length - 1];
    },
  };
}
