// @ts-check
/**
 * The peer of the render benchmark: what a straightforward notebook graph
 * widget does. It lays the whole graph out on the main thread, draws every
 * node as an SVG group (a box and two texts) and every edge as a path, and
 * on a status change rewrites the class and status text of the changed
 * nodes. It marks its element the way DAG Studio does (data-layout-state,
 * data-draws) so the harness times both alike.
 */

const SVG_NS = "http://www.w3.org/2000/svg";
export const NODE_WIDTH = 176;
export const NODE_HEIGHT = 52;
const LABEL_CHARS = 24;

/**
 * @typedef {object} PeerPhase
 * @property {string} id
 * @property {string} [label]
 * @property {string[]} [after]
 */

/**
 * @typedef {object} PeerLayout
 * @property {{ id: string, label: string, x: number, y: number }[]} nodes
 *   x and y are the top-left corner
 * @property {{ x: number, y: number }[][]} edges each a polyline
 * @property {number} width
 * @property {number} height
 */

/**
 * @typedef {(phases: PeerPhase[]) => PeerLayout | Promise<PeerLayout>}
 *   LayoutGraph
 */

/** @typedef {Record<string, { status?: string } | undefined>} PhaseStates */

const STYLE = `
.peer-canvas { overflow: auto; font: 12px sans-serif; background: #fff; }
.peer-node rect { fill: #f5f5f5; stroke: #9e9e9e; }
.peer-node .peer-status { fill: #616161; font-size: 11px; }
.peer-edge { fill: none; stroke: #9e9e9e; }
.peer-running rect { fill: #e3f2fd; stroke: #1976d2; }
.peer-completed rect { fill: #e8f5e9; stroke: #388e3c; }
.peer-failed rect { fill: #ffebee; stroke: #d32f2f; }
.peer-queued rect { fill: #fff8e1; stroke: #f57c00; }
`;

/**
 * Keep the well-formed phases of a workflow document.
 * @param {unknown} workflow
 * @returns {PeerPhase[]}
 */
export function phasesOf(workflow) {
  const phases = /** @type {{ phases?: unknown }} */ (workflow ?? {}).phases;
  return Array.isArray(phases) ? phases : [];
}

/**
 * @template {keyof SVGElementTagNameMap} K
 * @param {K} tag
 * @param {Record<string, string | number>} attrs
 * @returns {SVGElementTagNameMap[K]}
 */
function svg(tag, attrs) {
  const el = /** @type {SVGElementTagNameMap[K]} */ (
    document.createElementNS(SVG_NS, tag)
  );
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, String(value));
  }
  return el;
}

/**
 * @param {PhaseStates} phases
 * @param {string} id
 */
function statusOf(phases, id) {
  return phases?.[id]?.status ?? "pending";
}

/**
 * Make an anywidget-style module around a layout function.
 * @param {LayoutGraph} layoutGraph
 */
export function createPeer(layoutGraph) {
  /**
   * @param {{ model: any, el: HTMLElement }} context
   */
  function render({ model, el }) {
    if (!document.getElementById("peer-style")) {
      const style = document.createElement("style");
      style.id = "peer-style";
      style.textContent = STYLE;
      document.head.append(style);
    }
    const root = document.createElement("div");
    root.className = "peer-canvas";
    root.style.height = `${Number(model.get("height")) || 420}px`;
    el.replaceChildren(root);
    /** @type {Map<string, { group: SVGGElement, status: SVGTextElement }>} */
    const drawn = new Map();
    /** @type {Map<string, string>} */
    const shown = new Map();
    let draws = 0;
    let stopped = false;

    function bumpDraws() {
      draws += 1;
      root.setAttribute("data-draws", String(draws));
    }

    /** @param {PhaseStates} phases */
    function applyStates(phases) {
      for (const [id, parts] of drawn) {
        const status = statusOf(phases, id);
        if (shown.get(id) === status) continue;
        shown.set(id, status);
        parts.group.setAttribute("class", `peer-node peer-${status}`);
        parts.status.textContent = status;
      }
    }

    /** @param {PeerLayout} layout */
    function draw(layout) {
      const graph = svg("svg", { width: layout.width, height: layout.height });
      const defs = svg("defs", {});
      const marker = svg("marker", {
        id: "peer-arrow",
        viewBox: "0 0 10 10",
        refX: 10,
        refY: 5,
        markerWidth: 8,
        markerHeight: 8,
        orient: "auto",
      });
      marker.append(svg("path", { d: "M0,0L10,5L0,10z", fill: "#9e9e9e" }));
      defs.append(marker);
      graph.append(defs);
      for (const points of layout.edges) {
        const d = points
          .map((p, i) => `${i === 0 ? "M" : "L"}${p.x},${p.y}`)
          .join("");
        graph.append(
          svg("path", {
            class: "peer-edge",
            d,
            "marker-end": "url(#peer-arrow)",
          }),
        );
      }
      for (const node of layout.nodes) {
        const group = svg("g", {
          class: "peer-node",
          transform: `translate(${node.x},${node.y})`,
        });
        const label = svg("text", { x: 10, y: 21 });
        label.textContent = node.label.slice(0, LABEL_CHARS);
        const status = svg("text", { class: "peer-status", x: 10, y: 40 });
        group.append(
          svg("rect", { width: NODE_WIDTH, height: NODE_HEIGHT, rx: 4 }),
          label,
          status,
        );
        graph.append(group);
        drawn.set(node.id, { group, status });
      }
      applyStates(model.get("phases") ?? {});
      root.replaceChildren(graph);
      root.setAttribute("data-layout-state", "ready");
      bumpDraws();
    }

    /** @param {unknown} error */
    function fail(error) {
      root.setAttribute("data-error", String(error));
      root.setAttribute("data-layout-state", "error");
    }

    function onPhases() {
      if (drawn.size === 0) return;
      applyStates(model.get("phases") ?? {});
      bumpDraws();
    }

    try {
      const layout = layoutGraph(phasesOf(model.get("workflow")));
      if (layout instanceof Promise) {
        layout.then((value) => stopped || draw(value), fail);
      } else {
        draw(layout);
      }
    } catch (error) {
      fail(error);
    }
    model.on("change:phases", onPhases);
    return () => {
      stopped = true;
      model.off("change:phases", onPhases);
      root.remove();
    };
  }

  return { render };
}
