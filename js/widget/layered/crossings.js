// @ts-check
/** Crossing counts, which decide the best order the sweeps have seen. */

/** @typedef {import("./dummies.js").LayeredGraph} LayeredGraph */
/** @typedef {import("./order.js").Layers} Layers */

/**
 * Count the crossings between every pair of neighbouring columns, by
 * counting inversions with a Fenwick tree (Barth, Jünger and Mutzel).
 * @param {LayeredGraph} graph
 * @param {Layers} layers
 * @returns {{ count: () => number }}
 */
export function createCrossingCounter(graph, layers) {
  let widest = 0;
  for (let r = 0; r < graph.ranks; r += 1) {
    widest = Math.max(widest, layers.start[r + 1] - layers.start[r]);
  }
  const sequence = new Int32Array(graph.succ.length);
  const tree = new Int32Array(widest + 1);
  /** @type {number[]} */
  const targets = [];
  const count = () => {
    let total = 0;
    for (let r = 0; r + 1 < graph.ranks; r += 1) {
      let length = 0;
      for (let i = layers.start[r]; i < layers.start[r + 1]; i += 1) {
        const v = layers.nodes[i];
        targets.length = 0;
        for (let k = graph.succStart[v]; k < graph.succStart[v + 1]; k += 1) {
          targets.push(layers.pos[graph.succ[k]]);
        }
        if (targets.length > 1) targets.sort((a, b) => a - b);
        for (const t of targets) sequence[length++] = t;
      }
      const width = layers.start[r + 2] - layers.start[r + 1];
      tree.fill(0, 0, width + 1);
      for (let i = 0; i < length; i += 1) {
        // Earlier entries greater than this one cross it.
        let below = 0;
        for (let j = sequence[i] + 1; j > 0; j -= j & -j) below += tree[j];
        total += i - below;
        for (let j = sequence[i] + 1; j <= width; j += j & -j) tree[j] += 1;
      }
    }
    return total;
  };
  return { count };
}
