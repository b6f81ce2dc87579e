// @ts-check
/**
 * Ranking: the column of each node of an acyclic graph, every edge
 * pointing right, with edges kept short.
 */
import { rows } from "./rows.js";
import { createSimplex } from "./simplex.js";

/**
 * Rank an acyclic graph so that edges are short: a quick feasible ranking,
 * then network simplex within a work budget.
 * @param {number} n
 * @param {Int32Array} tail
 * @param {Int32Array} head
 * @param {number} simplexBudget
 * @returns {Int32Array}
 */
export function rankNodes(n, tail, head, simplexBudget) {
  const rank = roughRanks(n, tail, head);
  const graph = simpleGraph(n, tail, head);
  tightenRanks(graph, rank, simplexBudget);
  return rank;
}

/**
 * Longest path from the sources, then moves of single nodes along their
 * slack to shorten the edges (a node with more edges out than in moves
 * right, towards its successors; one with more in than out moves left).
 * Each move shortens the total edge length, so the passes end; a handful
 * is enough in practice. Self loops are ignored.
 * @param {number} n
 * @param {Int32Array} tail
 * @param {Int32Array} head
 * @returns {Int32Array}
 */
function roughRanks(n, tail, head) {
  const out = rows(n, tail);
  const into = rows(n, head);
  const indegree = new Int32Array(n);
  for (let e = 0; e < head.length; e += 1) {
    if (tail[e] !== head[e]) indegree[head[e]] += 1;
  }
  const topo = new Int32Array(n);
  let count = 0;
  for (let v = 0; v < n; v += 1) if (indegree[v] === 0) topo[count++] = v;
  const rank = new Int32Array(n);
  for (let i = 0; i < count; i += 1) {
    const v = topo[i];
    for (let k = out.start[v]; k < out.start[v + 1]; k += 1) {
      const w = head[out.edgeIds[k]];
      if (w === v) continue;
      if (rank[w] < rank[v] + 1) rank[w] = rank[v] + 1;
      indegree[w] -= 1;
      if (indegree[w] === 0) topo[count++] = w;
    }
  }
  for (let pass = 0; pass < 8; pass += 1) {
    let moved = false;
    for (let i = n - 1; i >= 0; i -= 1) {
      const v = topo[i];
      const outs = out.start[v + 1] - out.start[v];
      const ins = into.start[v + 1] - into.start[v];
      if (outs === 0 || outs <= ins) continue;
      let limit = Infinity;
      for (let k = out.start[v]; k < out.start[v + 1]; k += 1) {
        const w = head[out.edgeIds[k]];
        if (w !== v) limit = Math.min(limit, rank[w] - 1);
      }
      if (limit !== Infinity && limit > rank[v]) {
        rank[v] = limit;
        moved = true;
      }
    }
    for (let i = 0; i < n; i += 1) {
      const v = topo[i];
      const outs = out.start[v + 1] - out.start[v];
      const ins = into.start[v + 1] - into.start[v];
      if (ins === 0 || ins <= outs) continue;
      let limit = -Infinity;
      for (let k = into.start[v]; k < into.start[v + 1]; k += 1) {
        const u = tail[into.edgeIds[k]];
        if (u !== v) limit = Math.max(limit, rank[u] + 1);
      }
      if (limit !== -Infinity && limit < rank[v]) {
        rank[v] = limit;
        moved = true;
      }
    }
    if (!moved) break;
  }
  return rank;
}

/**
 * @typedef {object} SimpleGraph
 * @property {number} n
 * @property {Int32Array} from tail of each edge
 * @property {Int32Array} to head of each edge
 * @property {Float64Array} weight how many input edges it stands for
 * @property {Int32Array} start edges touching v, either way:
 *   `touching[start[v]]` … `touching[start[v + 1] - 1]`
 * @property {Int32Array} touching
 */

/**
 * The acyclic graph without self loops, each repeated edge merged into one
 * of greater weight, with the edges touching each node listed.
 * @param {number} n
 * @param {Int32Array} tail
 * @param {Int32Array} head
 * @returns {SimpleGraph}
 */
function simpleGraph(n, tail, head) {
  /** @type {Map<number, number>} */
  const seen = new Map();
  /** @type {number[]} */
  const from = [];
  /** @type {number[]} */
  const to = [];
  /** @type {number[]} */
  const weight = [];
  for (let e = 0; e < tail.length; e += 1) {
    if (tail[e] === head[e]) continue;
    const key = tail[e] * n + head[e];
    const known = seen.get(key);
    if (known === undefined) {
      seen.set(key, from.length);
      from.push(tail[e]);
      to.push(head[e]);
      weight.push(1);
    } else {
      weight[known] += 1;
    }
  }
  const m = from.length;
  const start = new Int32Array(n + 1);
  for (let e = 0; e < m; e += 1) {
    start[from[e] + 1] += 1;
    start[to[e] + 1] += 1;
  }
  for (let v = 0; v < n; v += 1) start[v + 1] += start[v];
  const fill = start.slice(0, n);
  const touching = new Int32Array(2 * m);
  for (let e = 0; e < m; e += 1) {
    touching[fill[from[e]]++] = e;
    touching[fill[to[e]]++] = e;
  }
  return {
    n,
    from: Int32Array.from(from),
    to: Int32Array.from(to),
    weight: Float64Array.from(weight),
    start,
    touching,
  };
}

/**
 * Improve a feasible ranking with network simplex (Gansner et al., "A
 * technique for drawing directed graphs", 1993), which finds the ranking
 * of least total weighted edge length, one connected piece at a time, then
 * shift each piece so that it starts at rank 0. Every step keeps the
 * ranking feasible, so running out of `budget` (counted in edge visits)
 * only stops the improvement early; graphs of a few thousand nodes finish.
 * @param {SimpleGraph} graph
 * @param {Int32Array} rank changed in place
 * @param {number} budget
 */
function tightenRanks(graph, rank, budget) {
  const { n, from, to, start, touching } = graph;
  const piece = new Int32Array(n).fill(-1);
  const queue = new Int32Array(n);
  const simplex = createSimplex(graph, rank);
  let work = 0;
  for (let root = 0; root < n; root += 1) {
    if (piece[root] >= 0) continue;
    // Collect the piece around root (edges in either direction).
    piece[root] = root;
    let size = 0;
    queue[size++] = root;
    /** @type {number[]} */
    const edges = [];
    for (let i = 0; i < size; i += 1) {
      const v = queue[i];
      for (let k = start[v]; k < start[v + 1]; k += 1) {
        const e = touching[k];
        const w = from[e] === v ? to[e] : from[e];
        if (from[e] === v) edges.push(e);
        if (piece[w] < 0) {
          piece[w] = root;
          queue[size++] = w;
        }
      }
    }
    const nodes = queue.slice(0, size);
    if (size > 1 && work < budget) {
      work += simplex(nodes, Int32Array.from(edges), budget - work);
    }
    let lowest = Infinity;
    for (const v of nodes) lowest = Math.min(lowest, rank[v]);
    for (const v of nodes) rank[v] -= lowest;
  }
}
