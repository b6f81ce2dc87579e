// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import { createLayoutClient } from "../widget/layout-client.js";
import { answerLayoutRequest } from "../widget/layout-worker.js";
import {
  LABEL_MAX_UNITS,
  layoutWorkflow,
  truncateLabel,
} from "../widget/layout.js";

/** @typedef {import("../widget/layout.js").Layout} Layout */
/** @typedef {import("../widget/layout.js").LayoutNode} LayoutNode */

/**
 * @param {string} id
 * @param {string[]} [after]
 * @param {string} [label]
 */
function phase(id, after = [], label = undefined) {
  return label === undefined
    ? { id, kind: "noop", after }
    : { id, kind: "noop", after, label };
}

/** @param {ReturnType<typeof phase>[]} phases */
function workflow(phases) {
  return { format: "dagstudio.workflow/1", id: "wf", name: "wf", phases };
}

/**
 * A layered graph: `layers` ranks of `width` phases, each after two phases
 * of the rank before.
 * @param {number} layers
 * @param {number} width
 */
function layeredWorkflow(layers, width) {
  const phases = [];
  for (let layer = 0; layer < layers; layer += 1) {
    for (let i = 0; i < width; i += 1) {
      const after =
        layer === 0
          ? []
          : [`p${layer - 1}-${i}`, `p${layer - 1}-${(i * 7 + 3) % width}`];
      phases.push(phase(`p${layer}-${i}`, [...new Set(after)]));
    }
  }
  return workflow(phases);
}

/**
 * @param {LayoutNode} a
 * @param {LayoutNode} b
 */
function overlaps(a, b) {
  return (
    a.x < b.x + b.width &&
    b.x < a.x + a.width &&
    a.y < b.y + b.height &&
    b.y < a.y + a.height
  );
}

/** @param {Layout} layout */
function assertNoOverlap(layout) {
  // Sort by x so only boxes that can meet on the x axis are compared.
  const nodes = [...layout.nodes].sort((a, b) => a.x - b.x);
  for (let i = 0; i < nodes.length; i += 1) {
    for (let j = i + 1; j < nodes.length; j += 1) {
      if (nodes[j].x >= nodes[i].x + nodes[i].width) break;
      assert.ok(
        !overlaps(nodes[i], nodes[j]),
        `${nodes[i].id} overlaps ${nodes[j].id}`,
      );
    }
  }
}

/** @param {Layout} layout */
function assertEdgesLeftToRight(layout) {
  const byId = new Map(layout.nodes.map((n) => [n.id, n]));
  for (const edge of layout.edges) {
    const from = byId.get(edge.from);
    const to = byId.get(edge.to);
    assert.ok(from && to, `edge ${edge.from} → ${edge.to} has its nodes`);
    assert.ok(
      from.x + from.width <= to.x,
      `edge ${edge.from} → ${edge.to} goes left to right`,
    );
    assert.ok(edge.points.length >= 2, "edge has a route");
    assert.ok(edge.points[0].x < edge.points[edge.points.length - 1].x);
  }
}

/** @param {Layout} layout */
function assertInsideDrawing(layout) {
  for (const node of layout.nodes) {
    assert.ok(Number.isFinite(node.x) && Number.isFinite(node.y), node.id);
    assert.ok(node.x >= 0 && node.y >= 0, `${node.id} inside the drawing`);
    assert.ok(node.x + node.width <= layout.width, `${node.id} fits width`);
    assert.ok(node.y + node.height <= layout.height, `${node.id} fits height`);
  }
}

describe("layoutWorkflow", () => {
  const diamond = workflow([
    phase("load"),
    phase("clean", ["load"]),
    phase("features", ["load"]),
    phase("train", ["clean", "features"]),
    phase("report", ["train"], "Build the report"),
  ]);

  test("test_layout_places_every_phase", () => {
    const layout = layoutWorkflow(diamond);

    assert.deepEqual(
      layout.nodes.map((n) => n.id),
      ["load", "clean", "features", "train", "report"],
    );
    assertInsideDrawing(layout);
    assert.deepEqual(layout.warnings, []);
  });

  test("test_layout_edges_go_left_to_right", () => {
    const layout = layoutWorkflow(diamond);

    assert.equal(layout.edges.length, 5);
    assertEdgesLeftToRight(layout);
  });

  test("test_layout_boxes_do_not_overlap", () => {
    const layout = layoutWorkflow(diamond);

    assertNoOverlap(layout);
  });

  test("test_layout_uses_label_else_id", () => {
    const layout = layoutWorkflow(diamond);
    const byId = new Map(layout.nodes.map((n) => [n.id, n]));

    assert.equal(byId.get("report")?.label, "Build the report");
    assert.equal(byId.get("load")?.label, "load");
  });

  test("test_layout_truncates_long_unicode_labels", () => {
    const long = "数据准备和模型训练之后的最终评估报告与图表生成步骤";
    const emoji =
      "🚀 Déploiement du modèle 👩‍👩‍👧‍👦 en production, région Île-de-France";
    const layout = layoutWorkflow(
      workflow([phase("a", [], long), phase("b", ["a"], emoji)]),
    );
    const [a, b] = layout.nodes;

    for (const node of [a, b]) {
      assert.ok(node.truncated, `${node.id} is truncated`);
      assert.ok(node.text.endsWith("…"), node.text);
      assert.ok(node.text.length < node.label.length);
      assert.ok(node.label.startsWith(node.text.slice(0, -1)));
    }
    assert.ok(!b.text.includes("\u200d…"), "no half family emoji");
  });

  test("test_layout_keeps_going_when_document_is_malformed", () => {
    const layout = layoutWorkflow({
      phases: [
        phase("a"),
        phase("a"),
        /** @type {any} */ ({ kind: "noop" }),
        phase("b", ["a", "ghost", "b"]),
      ],
    });

    assert.deepEqual(
      layout.nodes.map((n) => n.id),
      ["a", "b"],
    );
    assert.deepEqual(
      layout.edges.map((e) => [e.from, e.to]),
      [["a", "b"]],
    );
    assert.equal(layout.warnings.length, 4);
  });

  test("test_layout_of_empty_workflow_is_empty", () => {
    for (const doc of [workflow([]), {}, null, undefined]) {
      const layout = layoutWorkflow(doc);

      assert.deepEqual(layout.nodes, []);
      assert.deepEqual(layout.edges, []);
    }
  });

  test("test_layout_lays_out_disconnected_phases", () => {
    const layout = layoutWorkflow(
      workflow([phase("a"), phase("b"), phase("c", ["a"]), phase("d")]),
    );

    assert.equal(layout.nodes.length, 4);
    assertNoOverlap(layout);
    assertEdgesLeftToRight(layout);
  });

  test("test_layout_lays_out_1000_node_layered_graph", () => {
    const doc = layeredWorkflow(50, 20);

    const layout = layoutWorkflow(doc);

    assert.equal(layout.nodes.length, 1000);
    assert.equal(layout.edges.length, 49 * 20 * 2);
    assertInsideDrawing(layout);
    assertNoOverlap(layout);
    assertEdgesLeftToRight(layout);
  });
});

describe("layoutWorkflow ranks and order", () => {
  const quickstart = workflow([
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

  test("test_layout_ranks_are_columns_and_order_is_top_to_bottom", () => {
    const layout = layoutWorkflow(quickstart);
    /** @type {Map<number, LayoutNode[]>} */
    const columns = new Map();
    for (const node of layout.nodes) {
      columns.set(node.rank, [...(columns.get(node.rank) ?? []), node]);
    }

    const byId = new Map(layout.nodes.map((n) => [n.id, n]));
    assert.deepEqual(
      ["load", "split", "scale", "pick_best", "report"].map(
        (id) => byId.get(id)?.rank,
      ),
      [0, 1, 2, 5, 6],
    );
    for (const [rank, nodes] of columns) {
      assert.ok(
        nodes.every((n) => n.x === nodes[0].x),
        `column ${rank}`,
      );
      const sorted = [...nodes].sort((a, b) => a.order - b.order);
      assert.deepEqual(
        sorted.map((n) => n.order),
        nodes.map((_, i) => i),
      );
      for (let i = 1; i < sorted.length; i += 1) {
        assert.ok(sorted[i - 1].y < sorted[i].y, `order ${i} is lower`);
      }
    }
    const xs = [...columns.keys()].sort((a, b) => a - b);
    for (let i = 1; i < xs.length; i += 1) {
      const left = /** @type {LayoutNode[]} */ (columns.get(xs[i - 1]));
      const right = /** @type {LayoutNode[]} */ (columns.get(xs[i]));
      assert.ok(left[0].x + left[0].width < right[0].x);
    }
  });

  test("test_layout_edges_leave_right_middle_and_enter_left_middle", () => {
    const layout = layoutWorkflow(quickstart);
    const byId = new Map(layout.nodes.map((n) => [n.id, n]));

    for (const edge of layout.edges) {
      const from = /** @type {LayoutNode} */ (byId.get(edge.from));
      const to = /** @type {LayoutNode} */ (byId.get(edge.to));
      const first = edge.points[0];
      const last = edge.points[edge.points.length - 1];
      assert.deepEqual(first, {
        x: from.x + from.width,
        y: from.y + from.height / 2,
      });
      assert.deepEqual(last, { x: to.x, y: to.y + to.height / 2 });
    }
  });

  test("test_layout_long_edges_pass_between_boxes", () => {
    const layout = layoutWorkflow(quickstart);
    const train = layout.nodes.filter((n) => n.id.startsWith("train_"));

    // scale → evaluate_* skip the training column: each runs level
    // through it, clear of every training box.
    for (const edge of layout.edges) {
      if (edge.from !== "scale" || !edge.to.startsWith("evaluate_")) continue;
      assert.equal(edge.points.length, 4);
      const [, enter, leave] = edge.points;
      assert.equal(enter.y, leave.y);
      for (const box of train) {
        assert.ok(
          enter.y < box.y || enter.y > box.y + box.height,
          `${edge.to} edge clears ${box.id}`,
        );
      }
    }
  });

  test("test_layout_is_the_same_for_the_same_document", () => {
    const first = layoutWorkflow(quickstart);
    const again = layoutWorkflow(structuredClone(quickstart));

    assert.deepEqual(again, first);
  });

  test("test_layout_draws_a_cycle_with_a_warning", () => {
    const layout = layoutWorkflow(
      workflow([
        phase("a", ["c"]),
        phase("b", ["a"]),
        phase("c", ["b"]),
        phase("d", ["c"]),
      ]),
    );
    const byId = new Map(layout.nodes.map((n) => [n.id, n]));

    assert.equal(layout.nodes.length, 4);
    assert.equal(layout.edges.length, 4);
    assert.equal(layout.warnings.length, 1);
    assert.match(layout.warnings[0], /cycle/);
    assertNoOverlap(layout);
    assertInsideDrawing(layout);
    const backwards = layout.edges.filter((edge) => {
      const from = /** @type {LayoutNode} */ (byId.get(edge.from));
      const to = /** @type {LayoutNode} */ (byId.get(edge.to));
      return from.x > to.x;
    });
    assert.equal(backwards.length, 1, "one edge drawn right to left");
    // Drawn in its true direction: from its source's left side to its
    // target's right side, so the arrow head still lands on the target.
    const [edge] = backwards;
    const from = /** @type {LayoutNode} */ (byId.get(edge.from));
    const to = /** @type {LayoutNode} */ (byId.get(edge.to));
    assert.equal(edge.points[0].x, from.x);
    assert.equal(edge.points[edge.points.length - 1].x, to.x + to.width);
  });
});

/**
 * A stand-in for a Worker that answers like layout-worker.js does, on a
 * later task, so tests can drive the client without a browser.
 */
class FakeWorker {
  constructor() {
    /** @type {Map<string, ((event: any) => void)[]>} */
    this.listeners = new Map();
    this.terminated = false;
    /** @type {unknown[]} */
    this.sent = [];
    /** Reverse the order of answers, to check each gets its own. */
    this.reverse = false;
    /** @type {any[]} */
    this.queue = [];
  }

  /**
   * @param {string} type
   * @param {(event: any) => void} listener
   */
  addEventListener(type, listener) {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }

  /**
   * @param {string} type
   * @param {any} event
   */
  emit(type, event) {
    for (const listener of this.listeners.get(type) ?? []) listener(event);
  }

  /** @param {any} message */
  postMessage(message) {
    this.sent.push(message);
    this.queue.push(structuredClone(message));
    setTimeout(() => {
      const batch = this.reverse ? this.queue.reverse() : this.queue;
      this.queue = [];
      for (const request of batch) {
        if (!this.terminated) {
          this.emit("message", { data: answerLayoutRequest(request) });
        }
      }
    }, 0);
  }

  terminate() {
    this.terminated = true;
  }
}

describe("createLayoutClient", () => {
  const small = workflow([phase("a"), phase("b", ["a"])]);
  const other = workflow([phase("x"), phase("y"), phase("z", ["x", "y"])]);

  test("test_layout_client_falls_back_to_main_thread_under_node", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const client = createLayoutClient();

    const layouts = await Promise.all([
      client.layout(small),
      client.layout(other),
    ]);

    assert.deepEqual(layouts[0], layoutWorkflow(small));
    assert.deepEqual(layouts[1], layoutWorkflow(other));
    assert.equal(warn.mock.callCount(), 1);
    assert.match(String(warn.mock.calls[0].arguments[0]), /^\[dagstudio\]/);
    client.dispose();
  });

  test("test_layout_client_answers_each_request_from_the_worker", async () => {
    const fake = new FakeWorker();
    fake.reverse = true;
    const client = createLayoutClient({
      workerSource: "/* worker */",
      createWorker: () => fake,
    });

    const [a, b] = await Promise.all([
      client.layout(small),
      client.layout(other),
    ]);

    assert.equal(fake.sent.length, 2);
    assert.deepEqual(
      a.nodes.map((n) => n.id),
      ["a", "b"],
    );
    assert.deepEqual(
      b.nodes.map((n) => n.id),
      ["x", "y", "z"],
    );
    client.dispose();
    assert.ok(fake.terminated);
  });

  test("test_layout_client_lays_out_here_when_the_worker_fails", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const fake = new FakeWorker();
    // A worker refused by a Content-Security-Policy never answers; it
    // reports an error event instead.
    fake.postMessage = () => {
      setTimeout(() => fake.emit("error", { message: "refused" }), 0);
    };
    const client = createLayoutClient({
      workerSource: "/* worker */",
      createWorker: () => fake,
    });

    const layouts = await Promise.all([
      client.layout(small),
      client.layout(other),
    ]);
    const later = await client.layout(small);

    assert.deepEqual(layouts[0], layoutWorkflow(small));
    assert.deepEqual(layouts[1], layoutWorkflow(other));
    assert.deepEqual(later, layoutWorkflow(small));
    assert.ok(fake.terminated);
    assert.equal(warn.mock.callCount(), 1);
  });

  test("test_layout_client_falls_back_when_the_worker_cannot_start", async (t) => {
    const warn = t.mock.method(console, "warn", () => {});
    const client = createLayoutClient({
      workerSource: "/* worker */",
      createWorker: () => {
        throw new Error("blocked by policy");
      },
    });

    const layout = await client.layout(small);

    assert.deepEqual(layout, layoutWorkflow(small));
    assert.match(String(warn.mock.calls[0].arguments[0]), /blocked by policy/);
  });

  test("test_layout_client_dispose_rejects_pending_layouts", async (t) => {
    t.mock.method(console, "warn", () => {});
    const client = createLayoutClient();
    const pending = client.layout(small);

    client.dispose();

    await assert.rejects(pending, { name: "AbortError" });
    await assert.rejects(client.layout(small), { name: "AbortError" });
  });

  test("test_layout_client_dispose_rejects_what_the_worker_owes", async () => {
    const fake = new FakeWorker();
    fake.postMessage = () => {};
    const client = createLayoutClient({
      workerSource: "/* worker */",
      createWorker: () => fake,
    });
    const pending = client.layout(small);

    client.dispose();

    await assert.rejects(pending, { name: "AbortError" });
    assert.ok(fake.terminated);
  });

  test("test_layout_worker_reports_a_failed_layout", () => {
    const broken = /** @type {any} */ ({
      get phases() {
        throw new Error("unreadable document");
      },
    });

    const reply = answerLayoutRequest({ id: 7, workflow: broken });

    assert.deepEqual(reply, { id: 7, error: "Error: unreadable document" });
  });

  test("test_layout_client_rejects_when_the_worker_layout_fails", async () => {
    const fake = new FakeWorker();
    const client = createLayoutClient({
      workerSource: "/* worker */",
      createWorker: () => fake,
    });
    const broken = /** @type {any} */ ({ phases: [] });
    fake.postMessage = (/** @type {any} */ message) => {
      setTimeout(() => {
        fake.emit("message", { data: { id: message.id, error: "boom" } });
      }, 0);
    };

    await assert.rejects(client.layout(broken), /layout failed: boom/);
    client.dispose();
  });
});

describe("truncateLabel", () => {
  test("test_truncate_label_keeps_short_text", () => {
    assert.equal(truncateLabel("train model"), "train model");
  });

  test("test_truncate_label_collapses_whitespace", () => {
    assert.equal(truncateLabel("  train \n model "), "train model");
  });

  test("test_truncate_label_cuts_latin_text_to_the_limit", () => {
    const text = "a".repeat(LABEL_MAX_UNITS + 5);

    const cut = truncateLabel(text);

    assert.equal(cut, `${"a".repeat(LABEL_MAX_UNITS - 1)}…`);
  });

  test("test_truncate_label_counts_wide_characters_double", () => {
    const cut = truncateLabel("漢".repeat(20), 10);

    assert.equal(cut, `${"漢".repeat(4)}…`);
  });

  test("test_truncate_label_never_splits_a_grapheme", () => {
    const family = "👨‍👩‍👧‍👦";

    const cut = truncateLabel(family.repeat(10), 7);

    assert.equal(cut, `${family.repeat(3)}…`);
  });
});
