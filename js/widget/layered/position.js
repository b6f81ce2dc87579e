// @ts-check
/**
 * Placement: the vertical centre of every vertex, columns keeping their
 * order and gaps, so that edges run as straight as they can.
 */

/** @typedef {import("./dummies.js").LayeredGraph} LayeredGraph */
/** @typedef {import("./order.js").Layers} Layers */

/** Weight that keeps a vertex without neighbours near where it is. */
const WEIGHT_ALONE = 1e-3;

/**
 * @typedef {object} Spacing
 * @property {number} width
 * @property {number} height
 * @property {number} rankSep
 * @property {number} nodeSep
 * @property {number} edgeSep
 * @property {number} margin
 */

/**
 * Choose each vertex's vertical centre. Each column in turn is moved as a
 * block to where its vertices come closest to the weighted mean of their
 * neighbours (a least-squares fit, solved exactly under the column's order
 * and gaps by pooling adjacent violators), sweeping right and left a few
 * times. Then the drawing is shifted so its top margin is `margin`.
 * @param {LayeredGraph} graph
 * @param {Layers} layers
 * @param {Spacing} spacing
 * @returns {Float64Array}
 */
export function placeVertices(graph, layers, spacing) {
  const { size, n, ranks } = graph;
  const y = new Float64Array(size);
  const half = (/** @type {number} */ v) => (v < n ? spacing.height / 2 : 0);
  /** Centre-to-centre distance from the vertex above, per slot. */
  const gap = new Float64Array(size);
  for (let r = 0; r < ranks; r += 1) {
    let at = 0;
    for (let i = layers.start[r]; i < layers.start[r + 1]; i += 1) {
      const v = layers.nodes[i];
      if (i > layers.start[r]) {
        const u = layers.nodes[i - 1];
        const space = u < n && v < n ? spacing.nodeSep : spacing.edgeSep;
        gap[i] = half(u) + space + half(v);
        at += gap[i];
      }
      y[v] = at;
    }
  }
  const fit = createColumnFit(layers, gap, y);
  const passes = size <= 2_000 ? 16 : size <= 20_000 ? 8 : 6;
  for (let r = 1; r < ranks; r += 1) fit(r, graph, true, false);
  for (let pass = 0; pass < passes; pass += 1) {
    if (pass % 2 === 0) {
      for (let r = ranks - 1; r >= 0; r -= 1) fit(r, graph, true, true);
    } else {
      for (let r = 0; r < ranks; r += 1) fit(r, graph, true, true);
    }
  }
  let top = Infinity;
  for (let v = 0; v < size; v += 1) top = Math.min(top, y[v] - half(v));
  for (let v = 0; v < size; v += 1) y[v] += spacing.margin - top;
  return y;
}

/**
 * Build the least-squares fit of one column: given desired centres and
 * weights, the closest centres (in the weighted sense) that keep the order
 * and the gaps. With `offset[i]` the sum of gaps above slot i, the centres
 * minus the offsets must not decrease down the column: an isotonic
 * regression, which pooling adjacent violators solves in one pass.
 * @param {Layers} layers
 * @param {Float64Array} gap
 * @param {Float64Array} y
 */
function createColumnFit(layers, gap, y) {
  let widest = 0;
  for (let r = 0; r + 1 < layers.start.length; r += 1) {
    widest = Math.max(widest, layers.start[r + 1] - layers.start[r]);
  }
  const target = new Float64Array(widest);
  const weight = new Float64Array(widest);
  const offset = new Float64Array(widest);
  // Pooled blocks: summed weight, weighted sum, and slot count.
  const blockWeight = new Float64Array(widest);
  const blockSum = new Float64Array(widest);
  const blockSlots = new Int32Array(widest);
  /**
   * @param {number} r
   * @param {LayeredGraph} graph
   * @param {boolean} left use neighbours in the column before
   * @param {boolean} right use neighbours in the column after
   */
  return (r, graph, left, right) => {
    const first = layers.start[r];
    const count = layers.start[r + 1] - first;
    for (let i = 0; i < count; i += 1) {
      const v = layers.nodes[first + i];
      offset[i] = i === 0 ? 0 : offset[i - 1] + gap[first + i];
      let sum = 0;
      let total = 0;
      if (left) {
        for (let k = graph.predStart[v]; k < graph.predStart[v + 1]; k++) {
          sum += graph.predWeight[k] * y[graph.pred[k]];
          total += graph.predWeight[k];
        }
      }
      if (right) {
        for (let k = graph.succStart[v]; k < graph.succStart[v + 1]; k++) {
          sum += graph.succWeight[k] * y[graph.succ[k]];
          total += graph.succWeight[k];
        }
      }
      if (total === 0) {
        sum = y[v] * WEIGHT_ALONE;
        total = WEIGHT_ALONE;
      }
      weight[i] = total;
      target[i] = sum / total - offset[i];
    }
    let blocks = 0;
    for (let i = 0; i < count; i += 1) {
      blockWeight[blocks] = weight[i];
      blockSum[blocks] = weight[i] * target[i];
      blockSlots[blocks] = 1;
      blocks += 1;
      while (
        blocks > 1 &&
        blockSum[blocks - 2] / blockWeight[blocks - 2] >=
          blockSum[blocks - 1] / blockWeight[blocks - 1]
      ) {
        blockWeight[blocks - 2] += blockWeight[blocks - 1];
        blockSum[blocks - 2] += blockSum[blocks - 1];
        blockSlots[blocks - 2] += blockSlots[blocks - 1];
        blocks -= 1;
      }
    }
    let i = 0;
    for (let b = 0; b < blocks; b += 1) {
      const value = blockSum[b] / blockWeight[b];
      for (let s = 0; s < blockSlots[b]; s += 1, i += 1) {
        y[layers.nodes[first + i]] = value + offset[i];
      }
    }
  };
}
