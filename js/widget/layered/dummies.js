// @ts-check
/**
 * Dummy vertices: each edge that spans several columns becomes a chain of
 * links between neighbouring columns, the graph that ordering and
 * placement work on.
 */
import { rows } from "./rows.js";

/** Edge weights for straightening: long edges pull hardest (Gansner et al.). */
const WEIGHT_REAL = 1;
const WEIGHT_MIXED = 2;
const WEIGHT_DUMMY = 8;

/**
 * @typedef {object} LayeredGraph
 * @property {number} n real nodes: vertices 0 … n-1
 * @property {number} size all vertices, dummies included
 * @property {number} ranks number of columns
 * @property {Int32Array} rank column of each vertex
 * @property {Int32Array} tail acyclic source of each input edge
 * @property {Int32Array} head acyclic target of each input edge
 * @property {Int32Array} firstDummy first dummy vertex of each input edge
 *   (its dummies are consecutive, left to right), or -1 when it has none
 * @property {Int32Array} predStart neighbours one column to the left of v:
 *   `pred[predStart[v]]` … `pred[predStart[v + 1] - 1]`
 * @property {Int32Array} pred
 * @property {Float64Array} predWeight
 * @property {Int32Array} succStart neighbours one column to the right
 * @property {Int32Array} succ
 * @property {Float64Array} succWeight
 */

/**
 * Split every edge that spans several columns into a chain of dummy
 * vertices, one per column crossed, within the budget (shortest edges
 * first). Edges beyond the budget, and self loops, link nothing.
 * @param {number} n
 * @param {Int32Array} tail
 * @param {Int32Array} head
 * @param {Int32Array} nodeRank
 * @param {number} budget
 * @returns {LayeredGraph}
 */
export function addDummies(n, tail, head, nodeRank, budget) {
  const m = tail.length;
  const span = new Int32Array(m);
  let needed = 0;
  for (let e = 0; e < m; e += 1) {
    span[e] = nodeRank[head[e]] - nodeRank[tail[e]];
    if (span[e] > 1) needed += span[e] - 1;
  }
  // 0: no link, 1: a direct link between neighbouring columns, k > 1: a
  // chain of k - 1 dummies.
  const links = new Int32Array(m);
  for (let e = 0; e < m; e += 1) if (span[e] >= 1) links[e] = span[e];
  if (needed > budget) {
    const long = [];
    for (let e = 0; e < m; e += 1) if (span[e] > 1) long.push(e);
    long.sort((a, b) => span[a] - span[b] || a - b);
    let left = budget;
    for (const e of long) {
      if (span[e] - 1 <= left) left -= span[e] - 1;
      else links[e] = 0;
    }
  }
  let size = n;
  const firstDummy = new Int32Array(m).fill(-1);
  let linkCount = 0;
  for (let e = 0; e < m; e += 1) {
    if (links[e] > 1) {
      firstDummy[e] = size;
      size += links[e] - 1;
    }
    linkCount += links[e];
  }
  const rank = new Int32Array(size);
  rank.set(nodeRank);
  let ranks = 0;
  for (let v = 0; v < n; v += 1) ranks = Math.max(ranks, nodeRank[v] + 1);
  const linkTail = new Int32Array(linkCount);
  const linkHead = new Int32Array(linkCount);
  let k = 0;
  for (let e = 0; e < m; e += 1) {
    if (links[e] === 0) continue;
    let previous = tail[e];
    for (let i = 0; i < links[e] - 1; i += 1) {
      const dummy = firstDummy[e] + i;
      rank[dummy] = nodeRank[tail[e]] + i + 1;
      linkTail[k] = previous;
      linkHead[k] = dummy;
      k += 1;
      previous = dummy;
    }
    linkTail[k] = previous;
    linkHead[k] = head[e];
    k += 1;
  }
  /** @param {number} a @param {number} b */
  const weight = (a, b) =>
    a < n && b < n
      ? WEIGHT_REAL
      : a >= n && b >= n
        ? WEIGHT_DUMMY
        : WEIGHT_MIXED;
  const succRows = rows(size, linkTail);
  const predRows = rows(size, linkHead);
  const succ = new Int32Array(linkCount);
  const succWeight = new Float64Array(linkCount);
  const pred = new Int32Array(linkCount);
  const predWeight = new Float64Array(linkCount);
  for (let i = 0; i < linkCount; i += 1) {
    const s = succRows.edgeIds[i];
    succ[i] = linkHead[s];
    succWeight[i] = weight(linkTail[s], linkHead[s]);
    const p = predRows.edgeIds[i];
    pred[i] = linkTail[p];
    predWeight[i] = weight(linkTail[p], linkHead[p]);
  }
  return {
    n,
    size,
    ranks,
    rank,
    tail,
    head,
    firstDummy,
    predStart: predRows.start,
    pred,
    predWeight,
    succStart: succRows.start,
    succ,
    succWeight,
  };
}
