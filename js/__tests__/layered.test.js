// @ts-check
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { describe, test } from "node:test";

import dagre from "@dagrejs/dagre";

import { layeredLayout } from "../widget/layered.js";
import { NODE_HEIGHT, NODE_WIDTH, layoutWorkflow } from "../widget/layout.js";

/** @typedef {import("../widget/layout.js").Layout} Layout */
/** @typedef {import("../widget/layout.js").LayoutNode} LayoutNode */
/** @typedef {import("../widget/state.js").Phase} Phase */
/** @typedef {import("../widget/state.js").Workflow} Workflow */
/**
 * @typedef {{ nodes: { id: string, x: number, y: number, width: number,
 *   height: number }[], edges: { from: string, to: string,
 *   points: { x: number, y: number }[] }[] }} Drawing
 */

/** The real graphs kept beside the repository (see their README). */
const DAGS = new URL("../../../shared/data/dags/", import.meta.url);
const KEDRO = new URL("kedro-viz/large-dataset.json", DAGS);
const SHOPIFY = new URL("dbt/shopify.manifest.json", DAGS);

/**
 * A seeded pseudo-random generator (mulberry32), so "random" graphs are
 * the same on every run.
 * @param {number} seed
 * @returns {() => number} in [0, 1)
 */
function random(seed) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * @param {Phase[]} phases
 * @returns {Workflow}
 */
function workflow(phases) {
  return { format: "dagstudio.workflow/1", id: "wf", name: "wf", phases };
}

/**
 * A random DAG: phase i comes after up to `most` of the `window` phases
 * before it.
 * @param {number} count
 * @param {number} seed
 * @param {{ window?: number, most?: number }} [shape]
 * @returns {Workflow}
 */
function randomDag(count, seed, { window = 40, most = 3 } = {}) {
  const next = random(seed);
  /** @type {Phase[]} */
  const phases = [];
  for (let i = 0; i < count; i += 1) {
    const after = new Set();
    const wanted = i === 0 ? 0 : Math.floor(next() * (most + 1));
    for (let k = 0; k < wanted; k += 1) {
      after.add(`p${Math.max(0, i - 1 - Math.floor(next() * window))}`);
    }
    phases.push({ id: `p${i}`, kind: "noop", after: [...after] });
  }
  return workflow(phases);
}

/**
 * A denser random DAG: each of the `window` phases before phase i is one
 * of its dependencies with probability `p`.
 * @param {number} count
 * @param {number} seed
 * @param {number} p
 * @param {number} window
 * @returns {Workflow}
 */
function denseDag(count, seed, p, window) {
  const next = random(seed);
  /** @type {Phase[]} */
  const phases = [];
  for (let i = 0; i < count; i += 1) {
    const after = [];
    for (let j = Math.max(0, i - window); j < i; j += 1) {
      if (next() < p) after.push(`p${j}`);
    }
    phases.push({ id: `p${i}`, kind: "noop", after });
  }
  return workflow(phases);
}

/**
 * The quickstart notebook's graph: a chain, a fan-out to three models,
 * each trained then evaluated, and a fan-in.
 * @returns {Workflow}
 */
function quickstart() {
  /** @type {(id: string, after?: string[]) => Phase} */
  const phase = (id, after = []) => ({ id, kind: "noop", after });
  return workflow([
    phase("load"),
    phase("split", ["load"]),
    phase("scale", ["split"]),
    ...["logreg", "forest", "svm"].flatMap((model) => [
      phase(`train_${model}`, ["scale"]),
      phase(`evaluate_${model}`, ["scale", `train_${model}`]),
    ]),
    phase("pick_best", ["evaluate_logreg", "evaluate_forest", "evaluate_svm"]),
    phase("report", ["pick_best"]),
  ]);
}

/**
 * kedro-viz graph JSON → workflow, as dagstudio_jupyter.importers does it:
 * without the `modularPipeline` hierarchy nodes.
 * @param {any} data
 * @returns {Workflow}
 */
function fromKedro(data) {
  const hierarchy = new Set();
  /** @type {Map<string, Phase & { after: string[] }>} */
  const phases = new Map();
  for (const node of data.nodes) {
    if (node.type === "modularPipeline") {
      hierarchy.add(node.id);
      continue;
    }
    phases.set(node.id, {
      id: node.id,
      kind: "noop",
      label: node.name,
      after: [],
      group: node.namespace ?? undefined,
    });
  }
  for (const { source, target } of data.edges) {
    if (hierarchy.has(source) || hierarchy.has(target)) continue;
    const after = /** @type {Phase & { after: string[] }} */ (
      phases.get(target)
    ).after;
    if (!after.includes(source)) after.push(source);
  }
  return workflow([...phases.values()]);
}

/**
 * dbt manifest → workflow, as dagstudio_jupyter.importers does it: nodes
 * and sources, without disabled ones, edges from `depends_on.nodes`.
 * @param {any} manifest
 * @returns {Workflow}
 */
function fromDbt(manifest) {
  /** @type {Map<string, any>} */
  const kept = new Map();
  for (const section of ["nodes", "sources", "exposures", "metrics"]) {
    for (const [key, entry] of Object.entries(manifest[section] ?? {})) {
      if (entry?.config?.enabled === false) continue;
      kept.set(entry.unique_id ?? key, entry);
    }
  }
  return workflow(
    [...kept].map(([id, entry]) => ({
      id,
      kind: "noop",
      label: entry.name ?? id,
      group: `${entry.package_name}/${entry.resource_type}`,
      after: [
        ...new Set(
          /** @type {string[]} */ (entry.depends_on?.nodes ?? []).filter(
            (up) => kept.has(up) && up !== id,
          ),
        ),
      ],
    })),
  );
}

/**
 * @param {URL} file
 * @returns {any}
 */
function readJson(file) {
  return JSON.parse(readFileSync(file, "utf8"));
}

/**
 * Check that no two boxes overlap, column by column (all boxes of a column
 * share x, and columns are apart).
 * @param {Layout} layout
 */
function assertNoOverlap(layout) {
  /** @type {Map<number, LayoutNode[]>} */
  const columns = new Map();
  for (const node of layout.nodes) {
    assert.ok(Number.isFinite(node.x) && Number.isFinite(node.y), node.id);
    columns.set(node.x, [...(columns.get(node.x) ?? []), node]);
  }
  const xs = [...columns.keys()].sort((a, b) => a - b);
  for (let i = 1; i < xs.length; i += 1) {
    assert.ok(xs[i - 1] + NODE_WIDTH < xs[i], `columns ${i - 1}, ${i} apart`);
  }
  for (const nodes of columns.values()) {
    nodes.sort((a, b) => a.y - b.y);
    for (let i = 1; i < nodes.length; i += 1) {
      assert.ok(
        nodes[i - 1].y + nodes[i - 1].height <= nodes[i].y,
        `${nodes[i - 1].id} overlaps ${nodes[i].id}`,
      );
    }
  }
}

/**
 * Check that every edge runs left to right, between its own boxes.
 * @param {Layout} layout
 */
function assertEdgesLeftToRight(layout) {
  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  for (const edge of layout.edges) {
    const from = /** @type {LayoutNode} */ (byId.get(edge.from));
    const to = /** @type {LayoutNode} */ (byId.get(edge.to));
    assert.ok(from.x + from.width <= to.x, `${edge.from} → ${edge.to}`);
    const xs = edge.points.map((p) => p.x);
    assert.equal(xs[0], from.x + from.width);
    assert.equal(xs[xs.length - 1], to.x);
    for (let i = 1; i < xs.length; i += 1) assert.ok(xs[i - 1] <= xs[i]);
  }
}

/**
 * Lay out a workflow with dagre, as the widget did before, in the same
 * drawing shape.
 * @param {Workflow} doc
 * @returns {Drawing}
 */
function dagreDrawing(doc) {
  const graph = new dagre.graphlib.Graph();
  graph.setGraph({
    rankdir: "LR",
    nodesep: 24,
    edgesep: 12,
    ranksep: 36,
    marginx: 16,
    marginy: 16,
    ranker: "network-simplex",
  });
  graph.setDefaultEdgeLabel(() => ({}));
  const phases = doc.phases ?? [];
  for (const p of phases) {
    graph.setNode(p.id, { width: NODE_WIDTH, height: NODE_HEIGHT });
  }
  for (const p of phases)
    for (const up of p.after ?? []) graph.setEdge(up, p.id);
  dagre.layout(graph);
  return {
    nodes: phases.map((p) => {
      const box = graph.node(p.id);
      return {
        id: p.id,
        x: (box.x ?? 0) - NODE_WIDTH / 2,
        y: (box.y ?? 0) - NODE_HEIGHT / 2,
        width: NODE_WIDTH,
        height: NODE_HEIGHT,
      };
    }),
    edges: graph.edges().map((e) => ({
      from: e.v,
      to: e.w,
      points: graph.edge(e).points ?? [],
    })),
  };
}

/**
 * @param {{ x: number, y: number }[]} points
 * @param {number} x
 * @returns {number} the route's height at x (straight between points)
 */
function heightAt(points, x) {
  for (let i = 1; i < points.length; i += 1) {
    const a = points[i - 1];
    const b = points[i];
    if (x < Math.min(a.x, b.x) || x > Math.max(a.x, b.x)) continue;
    return a.x === b.x ? a.y : a.y + ((b.y - a.y) * (x - a.x)) / (b.x - a.x);
  }
  throw new Error(`route does not reach x=${x}`);
}

/**
 * Count edge crossings between neighbouring columns. Each edge is taken at
 * the centre of every column it spans: its boxes' centres at the ends, its
 * route in between. Two edges cross in a gap when their order flips from
 * one column to the next. This measures the order a layout chose, whatever
 * curves it draws, so dagre and our layout are counted alike.
 * @param {Drawing} drawing
 * @returns {number}
 */
function crossings(drawing) {
  const columns = [...new Set(drawing.nodes.map((n) => n.x))].sort(
    (a, b) => a - b,
  );
  const byId = new Map(drawing.nodes.map((n) => [n.id, n]));
  /** @type {[number, number][][]} */
  const gaps = columns.map(() => []);
  for (const edge of drawing.edges) {
    const from = /** @type {Drawing["nodes"][0]} */ (byId.get(edge.from));
    const to = /** @type {Drawing["nodes"][0]} */ (byId.get(edge.to));
    const first = columns.indexOf(from.x);
    const last = columns.indexOf(to.x);
    assert.ok(first < last, `${edge.from} → ${edge.to} goes right`);
    const heights = [];
    for (let c = first; c <= last; c += 1) {
      heights.push(
        c === first
          ? from.y + from.height / 2
          : c === last
            ? to.y + to.height / 2
            : heightAt(edge.points, columns[c] + NODE_WIDTH / 2),
      );
    }
    for (let c = first; c < last; c += 1) {
      gaps[c].push([heights[c - first], heights[c - first + 1]]);
    }
  }
  let total = 0;
  for (const segments of gaps) {
    for (let i = 0; i < segments.length; i += 1) {
      for (let j = i + 1; j < segments.length; j += 1) {
        const [a, b] = [segments[i], segments[j]];
        if ((a[0] - b[0]) * (a[1] - b[1]) < 0) total += 1;
      }
    }
  }
  return total;
}

describe("layeredLayout quality", () => {
  test("test_layered_quickstart_has_no_crossings_and_no_more_than_dagre", () => {
    const doc = quickstart();

    const ours = crossings(layoutWorkflow(doc));

    assert.equal(ours, 0);
    assert.ok(ours <= crossings(dagreDrawing(doc)));
  });

  test("test_layered_small_random_dags_cross_no_more_than_dagre", () => {
    const docs = [
      ...[1, 2, 3, 4, 5, 6].map((seed) =>
        randomDag(20 + 7 * seed, seed, { window: 3 + seed, most: 3 }),
      ),
      ...[7, 8, 9, 10, 11, 12].map((seed) =>
        denseDag(10 + 3 * seed, seed, 0.25, 8),
      ),
    ];

    for (const [i, doc] of docs.entries()) {
      const layout = layoutWorkflow(doc);
      const ours = crossings(layout);
      const theirs = crossings(dagreDrawing(doc));

      assert.ok(ours <= theirs, `graph ${i}: ${ours} > dagre's ${theirs}`);
      assertNoOverlap(layout);
      assertEdgesLeftToRight(layout);
    }
  });

  test("test_layered_edges_are_as_short_as_dagres_network_simplex", () => {
    /** @param {Drawing} drawing */
    const totalLength = (drawing) => {
      const columns = [...new Set(drawing.nodes.map((n) => n.x))].sort(
        (a, b) => a - b,
      );
      const column = new Map(drawing.nodes.map((n) => [n.id, n.x]));
      let total = 0;
      for (const edge of drawing.edges) {
        total +=
          columns.indexOf(/** @type {number} */ (column.get(edge.to))) -
          columns.indexOf(/** @type {number} */ (column.get(edge.from)));
      }
      return total;
    };

    for (const seed of [21, 22, 23, 24]) {
      const doc = randomDag(60, seed, { window: 12, most: 3 });

      assert.equal(
        totalLength(layoutWorkflow(doc)),
        totalLength(dagreDrawing(doc)),
      );
    }
  });

  test("test_layered_pulls_sources_towards_their_successors", () => {
    const doc = workflow([
      { id: "a", kind: "noop", after: [] },
      { id: "b", kind: "noop", after: ["a"] },
      { id: "c", kind: "noop", after: ["b"] },
      { id: "config", kind: "noop", after: [] },
      { id: "d", kind: "noop", after: ["c", "config"] },
    ]);

    const layout = layoutWorkflow(doc);
    const rank = new Map(layout.nodes.map((n) => [n.id, n.rank]));

    assert.equal(rank.get("config"), /** @type {number} */ (rank.get("d")) - 1);
  });
});

describe("layeredLayout at scale", () => {
  test("test_layered_lays_out_a_20000_phase_chain", () => {
    const phases = Array.from({ length: 20_000 }, (_, i) => ({
      id: `c${i}`,
      kind: "noop",
      after: i === 0 ? [] : [`c${i - 1}`],
    }));

    const layout = layoutWorkflow(workflow(phases));

    assert.equal(layout.nodes.length, 20_000);
    assert.equal(layout.nodes[19_999].rank, 19_999);
    assert.ok(layout.nodes.every((n) => n.y === layout.nodes[0].y));
    assert.deepEqual(layout.warnings, []);
  });

  test("test_layered_lays_out_a_10000_phase_random_dag", () => {
    const doc = randomDag(10_000, 10_000);

    const layout = layoutWorkflow(doc);

    assert.equal(layout.nodes.length, 10_000);
    assertNoOverlap(layout);
    assertEdgesLeftToRight(layout);
  });

  test("test_layered_lays_out_a_cyclic_2000_phase_graph", () => {
    const doc = randomDag(2_000, 5);
    const next = random(55);
    const phases = doc.phases ?? [];
    for (let k = 0; k < 100; k += 1) {
      const early = phases[Math.floor(next() * 1_000)];
      const late = phases[1_000 + Math.floor(next() * 1_000)];
      early.after = [...(early.after ?? []), late.id];
    }

    const layout = layoutWorkflow(doc);

    assert.equal(layout.nodes.length, 2_000);
    assert.match(layout.warnings.join("\n"), /cycle/);
    assertNoOverlap(layout);
  });

  test("test_layered_draws_edges_beyond_the_dummy_budget_straight", () => {
    // A chain 1 → 2 → … → 200, and node 0 before every node of it: the
    // edges from 0 skip ever more columns.
    const edges = /** @type {[number, number][]} */ ([]);
    for (let i = 1; i < 200; i += 1) edges.push([i, i + 1], [0, i + 1]);

    const placed = layeredLayout(201, edges, {
      nodeWidth: NODE_WIDTH,
      nodeHeight: NODE_HEIGHT,
      dummyBudget: 50,
    });

    const span = ([a, b] = /** @type {[number, number]} */ ([0, 0])) =>
      placed.rank[b] - placed.rank[a];
    const routed = placed.points.filter((points) => points.length > 2);
    const dummies = routed.reduce((sum, p) => sum + (p.length - 2) / 2, 0);
    assert.ok(dummies <= 50, `${dummies} dummies`);
    assert.ok(routed.length > 0, "the shorter long edges are still routed");
    edges.forEach((edge, e) => {
      const points = placed.points[e];
      if (span(edge) > 1 && points.length === 2) {
        assert.ok(points[0].x < points[1].x, "one straight stroke");
      }
      assert.ok(points.length === 2 || points.length === 2 * span(edge));
    });
    const longest = edges.findIndex(([a, b]) => a === 0 && b === 200);
    assert.equal(placed.points[longest].length, 2);
  });

  test(
    "test_layered_lays_out_kedro_large_dataset",
    {
      skip: !existsSync(KEDRO) && "shared graph files not found",
    },
    () => {
      const doc = fromKedro(readJson(KEDRO));

      const layout = layoutWorkflow(doc);

      assert.equal(layout.nodes.length, 2_055);
      assert.deepEqual(layout.warnings, []);
      assertNoOverlap(layout);
      assertEdgesLeftToRight(layout);
    },
  );

  test(
    "test_layered_lays_out_dbt_shopify",
    {
      skip: !existsSync(SHOPIFY) && "shared graph files not found",
    },
    () => {
      const doc = fromDbt(readJson(SHOPIFY));

      const layout = layoutWorkflow(doc);

      assert.equal(layout.nodes.length, 251);
      assert.deepEqual(layout.warnings, []);
      assertNoOverlap(layout);
      assertEdgesLeftToRight(layout);
      assert.ok(crossings(layout) <= crossings(dagreDrawing(doc)));
    },
  );

  test("test_layered_is_deterministic", () => {
    const doc = randomDag(1_500, 3);

    const first = layoutWorkflow(doc);
    const again = layoutWorkflow(structuredClone(doc));

    assert.deepEqual(again, first);
  });
});
