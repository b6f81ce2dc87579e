// @ts-check
/**
 * Peer renderer laid out by dagre, left to right. The longest-path ranker:
 * dagre's default (network-simplex) takes minutes at these sizes.
 */
import { Graph, layout } from "@dagrejs/dagre";
import { NODE_HEIGHT, NODE_WIDTH, createPeer } from "./peer-draw.js";

/** @type {import("./peer-draw.js").LayoutGraph} */
function layoutWithDagre(phases) {
  const graph = new Graph();
  graph.setGraph({
    rankdir: "LR",
    ranker: "longest-path",
    nodesep: 24,
    ranksep: 36,
    marginx: 16,
    marginy: 16,
  });
  graph.setDefaultEdgeLabel(() => ({}));
  const ids = new Set();
  for (const phase of phases) {
    ids.add(phase.id);
    graph.setNode(phase.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  for (const phase of phases) {
    for (const from of phase.after ?? []) {
      if (ids.has(from)) graph.setEdge(from, phase.id);
    }
  }
  layout(graph);
  const size = graph.graph();
  return {
    nodes: phases.map((phase) => {
      const box = graph.node(phase.id);
      return {
        id: phase.id,
        label: phase.label || phase.id,
        x: (box.x ?? 0) - NODE_WIDTH / 2,
        y: (box.y ?? 0) - NODE_HEIGHT / 2,
      };
    }),
    edges: graph
      .edges()
      .map((edge) =>
        (graph.edge(edge)?.points ?? []).map(
          (/** @type {{ x: number, y: number }} */ { x, y }) => ({ x, y }),
        ),
      ),
    width: size.width ?? 0,
    height: size.height ?? 0,
  };
}

export default createPeer(layoutWithDagre);
