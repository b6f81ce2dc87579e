// @ts-check
/** The drawing: boxes from ranks and centres, and the route of each edge. */

/** @typedef {import("./dummies.js").LayeredGraph} LayeredGraph */
/** @typedef {import("./order.js").Layers} Layers */
/** @typedef {import("./position.js").Spacing} Spacing */
/** @typedef {import("./index.js").LayeredResult} LayeredResult */

/**
 * Turn ranks and centres into boxes and edge routes. A route leaves the
 * right middle of the source box and enters the left middle of the target
 * box, crossing each column in between level at its dummy's height; an
 * edge reversed to break a cycle is routed the acyclic way, then its
 * points are reversed so that it still ends at its true target.
 * @param {LayeredGraph} graph
 * @param {Layers} layers
 * @param {Float64Array} y centres
 * @param {Uint8Array} reversed
 * @param {Spacing} spacing
 * @returns {LayeredResult}
 */
export function drawing(graph, layers, y, reversed, spacing) {
  const { n, rank } = graph;
  const column = (/** @type {number} */ r) =>
    spacing.margin + r * (spacing.width + spacing.rankSep);
  const x = new Float64Array(n);
  const top = new Float64Array(n);
  const order = new Int32Array(n);
  for (let r = 0; r < graph.ranks; r += 1) {
    let index = 0;
    for (let i = layers.start[r]; i < layers.start[r + 1]; i += 1) {
      const v = layers.nodes[i];
      if (v < n) order[v] = index++;
    }
  }
  let bottom = 0;
  for (let v = 0; v < graph.size; v += 1) {
    const extent = v < n ? spacing.height / 2 : 0;
    bottom = Math.max(bottom, y[v] + extent);
  }
  for (let v = 0; v < n; v += 1) {
    x[v] = column(rank[v]);
    top[v] = y[v] - spacing.height / 2;
  }
  const points = [];
  /** @type {number[]} */
  const reversedEdges = [];
  for (let e = 0; e < graph.tail.length; e += 1) {
    const a = graph.tail[e];
    const b = graph.head[e];
    if (a === b) {
      points.push([]);
      continue;
    }
    const route = [{ x: column(rank[a]) + spacing.width, y: y[a] }];
    const dummies = graph.firstDummy[e] < 0 ? 0 : rank[b] - rank[a] - 1;
    for (let i = 0; i < dummies; i += 1) {
      const d = graph.firstDummy[e] + i;
      route.push({ x: column(rank[d]), y: y[d] });
      route.push({ x: column(rank[d]) + spacing.width, y: y[d] });
    }
    route.push({ x: column(rank[b]), y: y[b] });
    if (reversed[e]) {
      route.reverse();
      reversedEdges.push(e);
    }
    points.push(route);
  }
  const ranks = Math.max(graph.ranks, 1);
  return {
    rank: rank.slice(0, n),
    order,
    x,
    y: top,
    points,
    width:
      2 * spacing.margin +
      ranks * spacing.width +
      (ranks - 1) * spacing.rankSep,
    height: bottom + spacing.margin,
    reversed: reversedEdges,
  };
}
