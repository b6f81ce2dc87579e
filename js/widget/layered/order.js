// @ts-check
/**
 * Ordering: the vertices of each column, top to bottom, chosen to cut
 * edge crossings.
 */
import { createCrossingCounter } from "./crossings.js";

/** @typedef {import("./dummies.js").LayeredGraph} LayeredGraph */

/** Vertex count up to which each ordering sweep is followed by transposes. */
const TRANSPOSE_UP_TO = 1_500;

/**
 * @typedef {object} Layers
 * @property {Int32Array} start column r holds `nodes[start[r]]` …
 *   `nodes[start[r + 1] - 1]`, top to bottom
 * @property {Int32Array} nodes
 * @property {Int32Array} pos index of each vertex within its column
 */

/**
 * Order the vertices of each column to cut edge crossings: a depth-first
 * first guess, then barycenter sweeps right and left (with adjacent swaps
 * on small graphs), keeping the best order seen. Small graphs also try a
 * second first guess, walked from the sinks, and sweeps that start the
 * other way; large graphs get fewer sweeps.
 * @param {LayeredGraph} graph
 * @returns {Layers}
 */
export function orderLayers(graph) {
  const size = graph.size;
  const small = size <= 2_000;
  const scratch = {
    key: new Float64Array(size),
    keyed: new Uint8Array(size),
  };
  const plan = {
    sweeps: small ? 24 : size <= 20_000 ? 8 : 4,
    patience: small ? 6 : 3,
    transpose: size <= TRANSPOSE_UP_TO,
  };
  const trials = small
    ? [
        { fromSinks: false, downFirst: true },
        { fromSinks: false, downFirst: false },
        { fromSinks: true, downFirst: true },
        { fromSinks: true, downFirst: false },
      ]
    : [{ fromSinks: false, downFirst: true }];
  const layers = initialOrder(graph, trials[0].fromSinks);
  const counter = createCrossingCounter(graph, layers);
  let best = Infinity;
  let bestNodes = layers.nodes;
  for (const [i, trial] of trials.entries()) {
    if (i > 0) {
      const start = initialOrder(graph, trial.fromSinks);
      layers.nodes.set(start.nodes);
      layers.pos.set(start.pos);
    }
    const found = sweepLayers(graph, layers, counter, scratch, {
      ...plan,
      downFirst: trial.downFirst,
    });
    if (found.crossings < best) {
      best = found.crossings;
      bestNodes = found.nodes;
    }
    if (best === 0) break;
  }
  layers.nodes.set(bestNodes);
  for (let i = 0; i < size; i += 1) {
    layers.pos[layers.nodes[i]] = i - layers.start[graph.rank[layers.nodes[i]]];
  }
  return layers;
}

/**
 * Barycenter sweeps from the current order, until `patience` sweeps in a
 * row bring no improvement.
 * @param {LayeredGraph} graph
 * @param {Layers} layers
 * @param {{ count: () => number }} counter
 * @param {{ key: Float64Array, keyed: Uint8Array }} scratch
 * @param {{ sweeps: number, patience: number, transpose: boolean,
 *   downFirst: boolean }} plan
 * @returns {{ crossings: number, nodes: Int32Array }} the best order seen
 */
function sweepLayers(graph, layers, counter, scratch, plan) {
  const { key, keyed } = scratch;
  let best = counter.count();
  let bestNodes = layers.nodes.slice();
  let idle = 0;
  for (
    let sweep = 0;
    sweep < plan.sweeps && best > 0 && idle < plan.patience;
    sweep += 1
  ) {
    const down = (sweep % 2 === 0) === plan.downFirst;
    // Ties keep their order on some sweeps and flip it on others, so equal
    // barycenters do not freeze a poor order.
    const biasRight = sweep % 4 >= 2;
    if (down) {
      for (let r = 1; r < graph.ranks; r += 1) {
        sortByBarycenter(graph, layers, r, true, biasRight, key, keyed);
      }
    } else {
      for (let r = graph.ranks - 2; r >= 0; r -= 1) {
        sortByBarycenter(graph, layers, r, false, biasRight, key, keyed);
      }
    }
    if (plan.transpose) transposeLayers(graph, layers, biasRight);
    const crossings = counter.count();
    if (crossings < best) {
      best = crossings;
      bestNodes = layers.nodes.slice();
      idle = 0;
    } else {
      idle += 1;
    }
  }
  return { crossings: best, nodes: bestNodes };
}

/**
 * First order: a depth-first walk from the real nodes, column by column
 * and in input order, appending each vertex to its column when first met,
 * so that what hangs together starts together; nodes without any edge come
 * last. With `fromSinks`, the walk
 * starts from the last column and follows edges backwards.
 * @param {LayeredGraph} graph
 * @param {boolean} fromSinks
 * @returns {Layers}
 */
function initialOrder(graph, fromSinks) {
  const { size, ranks, rank } = graph;
  const start = new Int32Array(ranks + 1);
  for (let v = 0; v < size; v += 1) start[rank[v] + 1] += 1;
  for (let r = 0; r < ranks; r += 1) start[r + 1] += start[r];
  const fill = start.slice(0, ranks);
  const nodes = new Int32Array(size);
  const pos = new Int32Array(size);
  const seen = new Uint8Array(size);
  const stack = new Int32Array(size);
  const links = fromSinks ? graph.pred : graph.succ;
  const linkStart = fromSinks ? graph.predStart : graph.succStart;
  /** @param {number} v */
  const place = (v) => {
    pos[v] = fill[rank[v]] - start[rank[v]];
    nodes[fill[rank[v]]] = v;
    fill[rank[v]] += 1;
  };
  const roots = Array.from({ length: graph.n }, (_, v) => v);
  const side = fromSinks ? -1 : 1;
  // Phases with no edge at all go last, below everything that is linked.
  const alone = (/** @type {number} */ v) =>
    graph.predStart[v] === graph.predStart[v + 1] &&
    graph.succStart[v] === graph.succStart[v + 1]
      ? 1
      : 0;
  roots.sort(
    (a, b) => alone(a) - alone(b) || side * (rank[a] - rank[b]) || a - b,
  );
  for (const root of roots) {
    if (seen[root]) continue;
    let depth = 0;
    stack[depth++] = root;
    seen[root] = 1;
    while (depth > 0) {
      const v = stack[--depth];
      place(v);
      // Pushed last to first, so the first neighbour is walked first.
      for (let k = linkStart[v + 1] - 1; k >= linkStart[v]; k -= 1) {
        const w = links[k];
        if (!seen[w]) {
          seen[w] = 1;
          stack[depth++] = w;
        }
      }
    }
  }
  return { start, nodes, pos };
}

/**
 * Re-sort column r by the mean position of each vertex's neighbours in
 * the column before it (`down`) or after it. Vertices without such
 * neighbours keep their slots.
 * @param {LayeredGraph} graph
 * @param {Layers} layers
 * @param {number} r
 * @param {boolean} down
 * @param {boolean} biasRight
 * @param {Float64Array} key scratch: barycenter per vertex
 * @param {Uint8Array} keyed scratch: 1 for vertices that have one
 */
function sortByBarycenter(graph, layers, r, down, biasRight, key, keyed) {
  const first = layers.start[r];
  const last = layers.start[r + 1];
  const starts = down ? graph.predStart : graph.succStart;
  const others = down ? graph.pred : graph.succ;
  /** @type {number[]} */
  const movable = [];
  for (let i = first; i < last; i += 1) {
    const v = layers.nodes[i];
    keyed[v] = starts[v] === starts[v + 1] ? 0 : 1;
    if (!keyed[v]) continue;
    let sum = 0;
    for (let k = starts[v]; k < starts[v + 1]; k += 1) {
      sum += layers.pos[others[k]];
    }
    key[v] = sum / (starts[v + 1] - starts[v]);
    movable.push(v);
  }
  if (movable.length < 2) return;
  const pos = layers.pos;
  movable.sort(
    (a, b) =>
      key[a] - key[b] || (biasRight ? pos[b] - pos[a] : pos[a] - pos[b]),
  );
  let j = 0;
  for (let i = first; i < last; i += 1) {
    if (keyed[layers.nodes[i]]) layers.nodes[i] = movable[j++];
  }
  for (let i = first; i < last; i += 1) pos[layers.nodes[i]] = i - first;
}

/**
 * Swap neighbouring vertices of a column while that removes crossings with
 * both neighbouring columns; with `evenToo`, also swap pairs that cross as
 * much either way (as Graphviz does), which lets later sweeps get out of a
 * tie. Quadratic in the degrees, so only for small graphs.
 * @param {LayeredGraph} graph
 * @param {Layers} layers
 * @param {boolean} evenToo
 */
function transposeLayers(graph, layers, evenToo) {
  const { pos, nodes } = layers;
  /**
   * Crossings between the edges of u and of v, on one side, with u above.
   * @param {number} u @param {number} v
   * @param {Int32Array} starts @param {Int32Array} others
   */
  const side = (u, v, starts, others) => {
    let crossings = 0;
    for (let a = starts[u]; a < starts[u + 1]; a += 1) {
      for (let b = starts[v]; b < starts[v + 1]; b += 1) {
        if (pos[others[a]] > pos[others[b]]) crossings += 1;
      }
    }
    return crossings;
  };
  /** @param {number} u @param {number} v */
  const crossings = (u, v) =>
    side(u, v, graph.predStart, graph.pred) +
    side(u, v, graph.succStart, graph.succ);
  for (let round = 0; round < 8; round += 1) {
    let improved = false;
    for (let r = 0; r < graph.ranks; r += 1) {
      for (let i = layers.start[r]; i < layers.start[r + 1] - 1; i += 1) {
        const u = nodes[i];
        const v = nodes[i + 1];
        const now = crossings(u, v);
        const swapped = crossings(v, u);
        if (swapped < now || (evenToo && now > 0 && swapped === now)) {
          nodes[i] = v;
          nodes[i + 1] = u;
          pos[v] -= 1;
          pos[u] += 1;
          if (swapped < now) improved = true;
        }
      }
    }
    if (!improved) break;
  }
}
