// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  arrowHead,
  cleanNodeState,
  fitLabel,
  groupBadge,
  nodeLine,
  paintScene,
} from "../widget/paint.js";
import {
  cssColor,
  defaultPalette,
  mixColors,
  parseColor,
} from "../widget/palette.js";
import { layoutNode } from "./helpers/layout-node.js";

/**
 * @param {string} id
 * @param {number} x
 * @param {string} [kind]
 */
function node(id, x, kind = "python") {
  return layoutNode(id, { kind, x });
}

/** A stand-in 2D context that records what is drawn. */
function recorder() {
  /** @type {{ op: string, style?: string, text?: string }[]} */
  const ops = [];
  const ctx = {
    fillStyle: "",
    strokeStyle: "",
    lineWidth: 1,
    font: "",
    textAlign: "",
    textBaseline: "",
    beginPath() {},
    closePath() {},
    moveTo() {},
    lineTo() {},
    bezierCurveTo() {},
    rect() {},
    roundRect() {},
    setLineDash() {},
    fill() {
      ops.push({ op: "fill", style: ctx.fillStyle });
    },
    stroke() {
      ops.push({ op: "stroke", style: ctx.strokeStyle });
    },
    /** @param {string} text */
    fillText(text) {
      ops.push({ op: "text", text });
    },
  };
  return {
    ops,
    ctx: /** @type {CanvasRenderingContext2D} */ (/** @type {unknown} */ (ctx)),
  };
}

describe("colours", () => {
  test("test_parse_color_reads_computed_style_forms", () => {
    assert.deepEqual(parseColor("#1976d2"), { r: 25, g: 118, b: 210, a: 1 });
    assert.deepEqual(parseColor("rgba(0, 0, 0, 0.5)"), {
      r: 0,
      g: 0,
      b: 0,
      a: 0.5,
    });
    assert.deepEqual(parseColor("rgb(10 20 30 / 25%)"), {
      r: 10,
      g: 20,
      b: 30,
      a: 0.25,
    });
    assert.equal(parseColor("oklch(0.5 0.1 120)"), null);
  });

  test("test_mix_matches_css_color_mix_in_srgb", () => {
    const white = { r: 255, g: 255, b: 255, a: 1 };
    const green = { r: 56, g: 142, b: 60, a: 1 };

    // color-mix(in srgb, #388e3c 14%, #ffffff) is rgb(227, 239, 228)
    assert.equal(cssColor(mixColors(green, white, 0.14)), "#e3efe4");
    const clear = { r: 0, g: 0, b: 0, a: 0 };
    assert.equal(
      cssColor(mixColors(green, clear, 0.5)),
      "rgba(56, 142, 60, 0.5)",
    );
  });

  test("test_palette_status_colours_differ_and_are_concrete", () => {
    const { styles } = defaultPalette();

    const solids = ["pending", "running", "completed", "failed"].map(
      (s) => styles[s].solid,
    );
    assert.equal(new Set(solids).size, 4);
    for (const style of Object.values(styles)) {
      for (const value of [style.fill, style.stroke, style.icon]) {
        assert.match(value, /^(#[0-9a-f]{6}|rgba\()/);
      }
    }
    assert.deepEqual(styles.skipped.dash, [5, 4]);
  });
});

describe("node text", () => {
  test("test_clean_node_state_makes_a_resolver_answer_drawable", () => {
    assert.deepEqual(cleanNodeState({ status: "running", attempt: 2.7 }), {
      status: "running",
      attempt: 2,
      error: null,
    });
    assert.deepEqual(cleanNodeState({ status: "", attempt: "x", error: 3 }), {
      status: "pending",
      attempt: 0,
      error: null,
    });
    assert.deepEqual(cleanNodeState(null), {
      status: "pending",
      attempt: 0,
      error: null,
    });
  });

  test("test_fit_label_cuts_with_an_ellipsis_until_it_fits", () => {
    const measure = (/** @type {string} */ t) => Array.from(t).length * 10;

    assert.equal(fitLabel("short", 100, measure), "short");
    assert.equal(fitLabel("abcdefghijklmnop", 60, measure), "abcde…");
    assert.equal(fitLabel("abcdefgh…", 40, measure), "abc…");
    assert.equal(fitLabel("abcdef", 5, measure), "a…");
  });

  test("test_group_node_line_leads_with_its_size", () => {
    const group = { ...node("g", 0, "group"), members: ["a", "b", "c"] };
    const state = { status: "running", attempt: 3, error: null };

    assert.equal(groupBadge(group), "3 phases");
    assert.equal(nodeLine(group, state), "3 phases · running");
    assert.equal(nodeLine(node("a", 0), state), "running · attempt 3");
    assert.equal(groupBadge(node("a", 0)), "");
    const fromPhase = node("h", 0, "group");
    const phase = { id: "h", kind: "group", members: ["x", "y"] };
    fromPhase.phase = phase;
    assert.equal(groupBadge(fromPhase), "2 phases");
    assert.equal(groupBadge(node("k", 0, "group")), "group");
  });

  test("test_arrow_head_tip_is_the_route_end", () => {
    const head = arrowHead([
      { x: 0, y: 0 },
      { x: 50, y: 0 },
      { x: 100, y: 0 },
    ]);

    assert.deepEqual(head?.[0], [100, 0]);
    assert.ok(head && head[1][0] < 100 && head[2][0] < 100);
    assert.equal(arrowHead([{ x: 1, y: 1 }]), null);
  });
});

describe("paintScene", () => {
  const nodes = [node("a", 0), node("b", 200), node("c", 400)];
  /** @param {import("../widget/layout.js").LayoutNode} n */
  const stateOf = (n) => ({
    status: n.id === "c" ? "failed" : "completed",
    attempt: 1,
    error: null,
  });
  const edges = [
    {
      from: "a",
      to: "b",
      points: [
        { x: 176, y: 26 },
        { x: 200, y: 26 },
      ],
    },
  ];

  test("test_boxes_are_filled_once_per_status_with_its_colour", () => {
    const palette = defaultPalette();
    const { ctx, ops } = recorder();

    paintScene(ctx, {
      nodes,
      edges,
      stateOf,
      labelOf: (n) => n.text,
      palette,
      scale: 0.05,
      text: false,
    });

    const fills = ops.filter((o) => o.op === "fill").map((o) => o.style);
    assert.deepEqual(fills, [
      palette.styles.completed.solid,
      palette.styles.failed.solid,
    ]);
    assert.equal(ops.filter((o) => o.op === "text").length, 0);
  });

  test("test_readable_scale_draws_icon_label_and_status", () => {
    const { ctx, ops } = recorder();

    paintScene(ctx, {
      nodes,
      edges,
      stateOf,
      labelOf: (n) => `label ${n.id}`,
      palette: defaultPalette(),
      scale: 1,
      text: true,
    });

    const texts = ops.filter((o) => o.op === "text").map((o) => o.text);
    assert.deepEqual(texts.slice(0, 3), ["✓", "label a", "completed"]);
    assert.ok(texts.includes("✕"));
    assert.ok(texts.includes("failed"));
  });
});
