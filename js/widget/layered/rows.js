// @ts-check
/**
 * Adjacency in compressed rows, the form every step of the layered layout
 * walks its edges in.
 */

/**
 * Out-edges of each node as compressed rows: the edges leaving node v are
 * `edgeIds[start[v]]` to `edgeIds[start[v + 1] - 1]`, in input order.
 * @param {number} n
 * @param {Int32Array} tails
 * @returns {{ start: Int32Array, edgeIds: Int32Array }}
 */
export function rows(n, tails) {
  const start = new Int32Array(n + 1);
  for (let e = 0; e < tails.length; e += 1) start[tails[e] + 1] += 1;
  for (let v = 0; v < n; v += 1) start[v + 1] += start[v];
  const fill = start.slice(0, n);
  const edgeIds = new Int32Array(tails.length);
  for (let e = 0; e < tails.length; e += 1) {
    edgeIds[fill[tails[e]]] = e;
    fill[tails[e]] += 1;
  }
  return { start, edgeIds };
}
