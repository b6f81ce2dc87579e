// @ts-check
/**
 * A layered (Sugiyama-style) drawing of a directed graph, left to right:
 * break cycles, rank, add dummy vertices on long edges, order each column
 * to cut crossings, then place the columns' vertices so that edges run as
 * straight as they can.
 *
 * Every step is a loop over typed arrays, without recursion, so a chain of
 * tens of thousands of vertices cannot overflow the stack, and each sweep
 * costs about the graph's size (sorting a column adds a log factor).
 * Nothing is random: the same input gives the same drawing.
 *
 * One module per step, in the order they run: acyclic.js, rank.js (with
 * simplex.js), dummies.js, order.js (with crossings.js), position.js and
 * drawing.js.
 */
import { breakCycles } from "./acyclic.js";
import { addDummies } from "./dummies.js";
import { drawing } from "./drawing.js";
import { orderLayers } from "./order.js";
import { placeVertices } from "./position.js";
import { rankNodes } from "./rank.js";

/**
 * @typedef {object} LayeredOptions
 * @property {number} nodeWidth width of every box
 * @property {number} nodeHeight height of every box
 * @property {number} [rankSep] gap between two columns
 * @property {number} [nodeSep] gap between two boxes of a column
 * @property {number} [edgeSep] gap between an edge and its neighbours
 * @property {number} [margin] around the drawing
 * @property {number} [dummyBudget] most dummy vertices to add; see
 *   `DEFAULT_DUMMY_BUDGET`
 */

/**
 * @typedef {object} LayeredResult
 * @property {Int32Array} rank column of each node, from 0
 * @property {Int32Array} order index of each node among the nodes of its
 *   column, from the top
 * @property {Float64Array} x left edge of each node
 * @property {Float64Array} y top edge of each node
 * @property {{ x: number, y: number }[][]} points each edge's route, from
 *   its source box to its target box (in the edge's true direction)
 * @property {number} width of the whole drawing, margins included
 * @property {number} height
 * @property {number[]} reversed indices of the edges drawn against the flow
 *   to break cycles
 */

/**
 * Most dummy vertices added for long edges, by default. A dense graph whose
 * edges jump over many columns could need millions; beyond the budget the
 * longest edges get none and are drawn as one straight stroke from source
 * to target, which may cross boxes in between. The shortest edges are
 * served first, so most edges keep a routed path.
 */
export const DEFAULT_DUMMY_BUDGET = 60_000;

/**
 * Edge visits allowed to network simplex. Graphs of a few thousand nodes
 * finish well within it; beyond, ranks stay as the quick pass left them,
 * still valid but with some edges longer than needed.
 */
const SIMPLEX_BUDGET = 40_000_000;

/**
 * Lay out `nodeCount` equal boxes joined by `edges` ([from, to] pairs of
 * node indices). Self loops get an empty route; duplicate edges each get
 * their own.
 * @param {number} nodeCount
 * @param {ReadonlyArray<readonly [number, number]>} edges
 * @param {LayeredOptions} options
 * @returns {LayeredResult}
 */
export function layeredLayout(nodeCount, edges, options) {
  const spacing = {
    width: options.nodeWidth,
    height: options.nodeHeight,
    rankSep: options.rankSep ?? 36,
    nodeSep: options.nodeSep ?? 24,
    edgeSep: options.edgeSep ?? 12,
    margin: options.margin ?? 16,
  };
  const n = nodeCount;
  const m = edges.length;
  const from = new Int32Array(m);
  const to = new Int32Array(m);
  edges.forEach(([a, b], e) => {
    from[e] = a;
    to[e] = b;
  });
  const reversed = breakCycles(n, from, to);
  // The acyclic edges: a reversed edge runs from its target to its source.
  const tail = new Int32Array(m);
  const head = new Int32Array(m);
  for (let e = 0; e < m; e += 1) {
    tail[e] = reversed[e] ? to[e] : from[e];
    head[e] = reversed[e] ? from[e] : to[e];
  }
  const rank = rankNodes(n, tail, head, SIMPLEX_BUDGET);
  const graph = addDummies(
    n,
    tail,
    head,
    rank,
    options.dummyBudget ?? DEFAULT_DUMMY_BUDGET,
  );
  const layers = orderLayers(graph);
  const y = placeVertices(graph, layers, spacing);
  return drawing(graph, layers, y, reversed, spacing);
}
