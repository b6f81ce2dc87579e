// @ts-check
import assert from "node:assert/strict";
import { describe, test } from "node:test";

import {
  escapeXml,
  exportFileName,
  PNG_MAX_PIXELS,
  PNG_MAX_SIDE,
  pngPixelRatio,
  svgDocument,
} from "../widget/export.js";
import { defaultPalette } from "../widget/palette.js";
import { layoutNode } from "./helpers/layout-node.js";

/**
 * @param {string} id
 * @param {string} label
 * @param {number} x
 * @param {string} [kind]
 */
function node(id, label, x, kind = "python") {
  return layoutNode(id, { label, kind, x, y: 20, rank: x / 200 });
}

const layout = {
  nodes: [
    node("load", 'Load <raw> & "clean"', 0),
    node("train", "Train", 200),
    node("far", "Far away", 5000),
  ],
  edges: [
    {
      from: "load",
      to: "train",
      points: [
        { x: 176, y: 46 },
        { x: 200, y: 46 },
      ],
    },
    {
      from: "train",
      to: "far",
      points: [
        { x: 376, y: 46 },
        { x: 5000, y: 46 },
      ],
    },
  ],
  width: 5200,
  height: 100,
  warnings: [],
};

/** @param {import("../widget/layout.js").LayoutNode} n */
const stateOf = (n) =>
  n.id === "load"
    ? { status: "completed", attempt: 1, error: null }
    : { status: "failed", attempt: 2, error: "boom" };

function exportView() {
  return svgDocument({
    layout,
    rect: { x: 0, y: 0, width: 500, height: 100 },
    stateOf,
    labelOf: (n) => n.text,
    palette: defaultPalette(),
    title: "Flow <1>",
  });
}

describe("SVG export", () => {
  test("test_svg_holds_only_the_nodes_in_view", () => {
    const text = exportView();

    assert.match(text, /data-phase-id="load"/);
    assert.match(text, /data-phase-id="train"/);
    assert.doesNotMatch(text, /data-phase-id="far"/);
    assert.doesNotMatch(text, /Far away/);
  });

  test("test_svg_keeps_edges_that_cross_the_view", () => {
    const text = exportView();

    assert.match(text, /data-from="load" data-to="train"/);
    assert.match(text, /data-from="train" data-to="far"/);
  });

  test("test_svg_is_standalone_with_the_view_as_viewbox", () => {
    const text = exportView();

    assert.ok(text.startsWith('<?xml version="1.0" encoding="UTF-8"?>'));
    assert.match(text, /<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(text, /viewBox="0 0 500 100"/);
    assert.match(text, /width="500" height="100"/);
    assert.doesNotMatch(text, /var\(--/);
  });

  test("test_svg_of_a_zoomed_out_view_opens_at_its_on_screen_size", () => {
    const text = svgDocument({
      layout,
      rect: { x: 0, y: 0, width: 500, height: 100 },
      stateOf,
      labelOf: (n) => n.text,
      palette: defaultPalette(),
      scale: 0.1,
    });

    assert.match(text, /width="50" height="10" viewBox="0 0 500 100"/);
  });

  test("test_svg_escapes_labels_and_titles", () => {
    const text = exportView();

    assert.match(text, /Load &lt;raw&gt; &amp; &quot;clean&quot;/);
    assert.match(text, /<title>Flow &lt;1&gt;<\/title>/);
    assert.doesNotMatch(text, /<raw>/);
  });

  test("test_svg_shows_status_by_icon_text_and_colour", () => {
    const text = exportView();
    const palette = defaultPalette();

    assert.match(text, />✓<\/text>/);
    assert.match(text, />completed<\/text>/);
    assert.match(text, />failed · attempt 2<\/text>/);
    assert.ok(text.includes(`stroke="${palette.styles.failed.stroke}"`));
  });

  test("test_svg_group_node_shows_its_size", () => {
    const group = {
      ...node("g1", "Preparation", 0, "group"),
      count: 12,
    };

    const text = svgDocument({
      layout: { nodes: [group], edges: [] },
      rect: { x: 0, y: 0, width: 300, height: 100 },
      stateOf: () => ({ status: "running", attempt: 1, error: null }),
      labelOf: (n) => n.text,
      palette: defaultPalette(),
    });

    assert.match(text, />12 phases · running<\/text>/);
    assert.match(text, />▸<\/text>/);
  });

  test("test_escape_xml_drops_characters_xml_forbids", () => {
    assert.equal(escapeXml("a\u0001b'\n"), "ab&apos;\n");
  });
});

describe("PNG size", () => {
  test("test_png_uses_the_screen_ratio_and_at_least_one", () => {
    assert.equal(pngPixelRatio({ width: 800, height: 600 }, 2), 2);
    assert.equal(pngPixelRatio({ width: 800, height: 600 }, 0.5), 1);
  });

  test("test_png_of_a_huge_view_stays_within_the_limits", () => {
    const rect = { width: 20000, height: 8000 };

    const ratio = pngPixelRatio(rect, 2);

    assert.ok(rect.width * ratio <= PNG_MAX_SIDE);
    const pixels = rect.width * rect.height * ratio * ratio;
    assert.ok(pixels <= PNG_MAX_PIXELS * (1 + 1e-9));
  });
});

describe("exportFileName", () => {
  test("test_file_name_keeps_words_and_drops_unsafe_characters", () => {
    assert.equal(
      exportFileName("My flow: v2/final?", "svg"),
      "My-flow-v2-final.svg",
    );
    assert.equal(exportFileName("Données été", "PNG"), "Données-été.png");
  });

  test("test_file_name_never_hidden_empty_or_reserved", () => {
    assert.equal(exportFileName("...", "svg"), "workflow.svg");
    assert.equal(exportFileName("", "svg"), "workflow.svg");
    assert.equal(exportFileName(null, "svg"), "workflow.svg");
    assert.equal(exportFileName(".env", "svg"), "env.svg");
    assert.equal(exportFileName("CON", "png"), "CON-graph.png");
  });

  test("test_file_name_is_bounded", () => {
    const name = exportFileName("x".repeat(500), "svg");

    assert.equal(name, `${"x".repeat(100)}.svg`);
  });
});
