// @ts-check
/**
 * Peer renderer laid out by ELK's layered algorithm on the main thread, as
 * a widget that bundles elk.bundled.js does. Built only when elkjs is
 * installed (it is no dependency of the project).
 */
// @ts-ignore TS2307: elkjs is optional and not installed by default.
import ELK from "elkjs/lib/elk.bundled.js";
import { NODE_HEIGHT, NODE_WIDTH, createPeer } from "./peer-draw.js";

const elk = new ELK();

/** @type {import("./peer-draw.js").LayoutGraph} */
async function layoutWithElk(phases) {
  const ids = new Set(phases.map((phase) => phase.id));
  const edges = [];
  for (const phase of phases) {
    for (const from of phase.after ?? []) {
      if (!ids.has(from)) continue;
      edges.push({
        id: `${from}->${phase.id}`,
        sources: [from],
        targets: [phase.id],
      });
    }
  }
  const result = await elk.layout({
    id: "root",
    layoutOptions: {
      "elk.algorithm": "layered",
      "elk.direction": "RIGHT",
      "elk.spacing.nodeNode": "24",
      "elk.layered.spacing.nodeNodeBetweenLayers": "36",
    },
    children: phases.map((phase) => ({
      id: phase.id,
      width: NODE_WIDTH,
      height: NODE_HEIGHT,
    })),
    edges,
  });
  const labels = new Map(phases.map((p) => [p.id, p.label || p.id]));
  return {
    nodes: (result.children ?? []).map(
      (/** @type {{ id: string, x?: number, y?: number }} */ node) => ({
        id: node.id,
        label: labels.get(node.id) ?? node.id,
        x: node.x ?? 0,
        y: node.y ?? 0,
      }),
    ),
    edges: (result.edges ?? []).flatMap(
      (/** @type {{ sections?: any[] }} */ edge) =>
        (edge.sections ?? []).map((section) => [
          section.startPoint,
          ...(section.bendPoints ?? []),
          section.endPoint,
        ]),
    ),
    width: result.width ?? 0,
    height: result.height ?? 0,
  };
}

export default createPeer(layoutWithElk);
