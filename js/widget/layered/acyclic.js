// @ts-check
/**
 * Cycle breaking: which edges the layered layout draws against the flow
 * so that the rest of it sees an acyclic graph.
 */
import { rows } from "./rows.js";

/**
 * Find a small set of edges whose reversal leaves no cycle: the back edges
 * of a depth-first search started from the sources, in node order. A DAG
 * has none. Self loops are flagged too, as they cannot be ranked.
 * @param {number} n
 * @param {Int32Array} from
 * @param {Int32Array} to
 * @returns {Uint8Array} 1 for each edge to reverse
 */
export function breakCycles(n, from, to) {
  const reversed = new Uint8Array(from.length);
  const out = rows(n, from);
  const indegree = new Int32Array(n);
  for (let e = 0; e < to.length; e += 1) indegree[to[e]] += 1;
  // 0: not seen, 1: on the current path, 2: finished.
  const state = new Uint8Array(n);
  const stack = new Int32Array(n);
  const next = new Int32Array(n);
  /** @param {number} root */
  const search = (root) => {
    stack[0] = root;
    next[0] = out.start[root];
    state[root] = 1;
    let depth = 1;
    while (depth > 0) {
      const v = stack[depth - 1];
      if (next[depth - 1] < out.start[v + 1]) {
        const e = out.edgeIds[next[depth - 1]];
        next[depth - 1] += 1;
        const w = to[e];
        if (state[w] === 1) {
          reversed[e] = 1;
        } else if (state[w] === 0) {
          state[w] = 1;
          stack[depth] = w;
          next[depth] = out.start[w];
          depth += 1;
        }
      } else {
        state[v] = 2;
        depth -= 1;
      }
    }
  };
  for (let v = 0; v < n; v += 1) {
    if (indegree[v] === 0 && state[v] === 0) search(v);
  }
  for (let v = 0; v < n; v += 1) if (state[v] === 0) search(v);
  return reversed;
}
