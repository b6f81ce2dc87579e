// @ts-check
/**
 * Saving the graph: a standalone SVG document of part of the drawing, a
 * safe file name, and handing a Blob to the browser as a download. Only
 * `downloadBlob` touches the DOM.
 */
import {
  arrowHead,
  edgePath,
  GROUP_MARKER,
  NODE_TEXT,
  nodeLine,
  paintScene,
} from "./paint.js";
import { statusIcon } from "./state.js";
import { edgeBox, intersects, READABLE_SCALE } from "./viewport.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {import("./layout.js").LayoutEdge} LayoutEdge */
/** @typedef {import("./paint.js").NodeState} NodeState */
/** @typedef {import("./palette.js").Palette} Palette */
/** @typedef {import("./viewport.js").Rect} Rect */

/**
 * @typedef {object} SvgExport
 * @property {Pick<Layout, "nodes" | "edges">} layout
 * @property {Rect} rect the region of the drawing to export, in layout
 *   units: the nodes and edges that meet it are included
 * @property {(node: LayoutNode) => NodeState} stateOf
 * @property {(node: LayoutNode) => string} labelOf the label as drawn
 * @property {Palette} palette concrete colours and font
 * @property {string} [title] the document's title
 * @property {number} [scale] the document's size per layout unit (default
 *   1); a zoomed-out view exported at 1 would open far larger than it
 *   looked on screen
 */

/**
 * @typedef {object} PngExport
 * @property {LayoutNode[]} nodes the nodes to draw
 * @property {LayoutEdge[]} edges the edges to draw
 * @property {Rect} rect the region of the drawing, in layout units
 * @property {(node: LayoutNode) => NodeState} stateOf
 * @property {(node: LayoutNode) => string} labelOf the label as drawn
 * @property {Palette} palette
 * @property {number} pixelRatio image pixels per layout unit wanted
 */

/** Largest PNG side and area; a larger region gets fewer pixels. */
export const PNG_MAX_SIDE = 8192;
export const PNG_MAX_PIXELS = 16e6;

/** Names Windows keeps for devices, whatever the extension. */
const RESERVED_NAMES = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])$/i;
const MAX_NAME_CHARS = 100;
/** How long the object URL of a download lives: long enough to start it. */
const REVOKE_AFTER_MS = 10_000;

/**
 * Escape text for XML content and attribute values.
 * @param {string} text
 * @returns {string}
 */
export function escapeXml(text) {
  return (
    text
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&apos;")
      // Control characters other than tab and newlines are not allowed in
      // XML 1.0 at all, not even escaped.
      .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f]/g, "")
  );
}

/** @param {number} n */
const num = (n) => String(Math.round(n * 10) / 10);

/**
 * Build a standalone SVG document of a region of the drawing at scale 1:
 * its viewBox is the region, colours are concrete values and the text is
 * escaped, so it looks the same outside the page.
 * @param {SvgExport} spec
 * @returns {string}
 */
export function svgDocument(spec) {
  const { palette, rect } = spec;
  const nodes = spec.layout.nodes.filter((n) => intersects(n, rect));
  const edges = spec.layout.edges.filter((e) => intersects(edgeBox(e), rect));
  const x = Math.floor(rect.x);
  const y = Math.floor(rect.y);
  const width = Math.max(1, Math.ceil(rect.x + rect.width) - x);
  const height = Math.max(1, Math.ceil(rect.y + rect.height) - y);
  const scale = spec.scale !== undefined && spec.scale > 0 ? spec.scale : 1;
  const out = [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<svg xmlns="http://www.w3.org/2000/svg" ` +
      `width="${Math.max(1, Math.ceil(width * scale))}" ` +
      `height="${Math.max(1, Math.ceil(height * scale))}" ` +
      `viewBox="${x} ${y} ${width} ${height}" ` +
      `font-family="${escapeXml(palette.font)}">`,
  ];
  if (spec.title) out.push(`<title>${escapeXml(spec.title)}</title>`);
  out.push(
    `<rect x="${x}" y="${y}" width="${width}" height="${height}" ` +
      `fill="${palette.background}"/>`,
    `<g fill="none" stroke="${palette.edge}" stroke-width="1.5">`,
  );
  /** @type {string[]} */
  const heads = [];
  for (const edge of edges) {
    if (edge.points.length < 2) continue;
    out.push(
      `<path d="${edgePath(edge.points)}" data-from="${escapeXml(edge.from)}"` +
        ` data-to="${escapeXml(edge.to)}"/>`,
    );
    const head = arrowHead(edge.points);
    if (head) {
      const [a, b, c] = head.map(([px, py]) => `${num(px)},${num(py)}`);
      heads.push(`<path d="M${a}L${b}L${c}Z"/>`);
    }
  }
  out.push("</g>", `<g fill="${palette.edge}">`, ...heads, "</g>", "<g>");
  for (const node of nodes) out.push(svgNode(node, spec));
  out.push("</g>", "</svg>", "");
  return out.join("\n");
}

/**
 * @param {LayoutNode} node
 * @param {SvgExport} spec
 * @returns {string}
 */
function svgNode(node, spec) {
  const state = spec.stateOf(node);
  const style =
    spec.palette.styles[state.status] ?? spec.palette.styles.pending;
  const dash =
    style.dash.length > 0 ? ` stroke-dasharray="${style.dash.join(" ")}"` : "";
  const box = (/** @type {number} */ shift) =>
    `<rect x="${shift}" y="${shift}" width="${num(node.width)}" ` +
    `height="${num(node.height)}" rx="6" fill="${style.fill}" ` +
    `stroke="${style.stroke}" stroke-width="1.5"${dash}/>`;
  const parts = [
    `<g transform="translate(${num(node.x)},${num(node.y)})" ` +
      `data-phase-id="${escapeXml(node.id)}" ` +
      `data-status="${escapeXml(state.status)}">`,
  ];
  if (node.kind === "group") parts.push(box(NODE_TEXT.stack));
  parts.push(
    box(0),
    `<text x="${NODE_TEXT.iconX}" y="${num(node.height / 2)}" ` +
      `fill="${style.icon}" font-size="16" text-anchor="middle" ` +
      `dominant-baseline="central">${escapeXml(statusIcon(state.status))}` +
      "</text>",
    `<text x="${NODE_TEXT.labelX}" y="${NODE_TEXT.labelY}" ` +
      `fill="${style.label}" font-size="13" font-weight="600">` +
      `${escapeXml(spec.labelOf(node))}</text>`,
    `<text x="${NODE_TEXT.labelX}" y="${NODE_TEXT.statusY}" ` +
      `fill="${style.text}" font-size="11">` +
      `${escapeXml(nodeLine(node, state))}</text>`,
  );
  if (node.kind === "group") {
    parts.push(
      `<text x="${num(node.width - NODE_TEXT.rightPad)}" ` +
        `y="${NODE_TEXT.labelY}" fill="${style.label}" font-size="13" ` +
        `font-weight="600" text-anchor="end">${GROUP_MARKER}</text>`,
    );
  }
  parts.push("</g>");
  return parts.join("");
}

/**
 * Return the image pixels per layout unit for a PNG of a region: the
 * wanted ratio (at least 1), lowered as far as PNG_MAX_SIDE and
 * PNG_MAX_PIXELS require.
 *
 * Known limitation: a region beyond those limits (a zoomed-out view of
 * thousands of phases) is drawn at lower density, below one pixel per
 * layout unit if need be; below READABLE_SCALE it has boxes and edges but
 * no text. The SVG export keeps every label.
 * @param {{ width: number, height: number }} rect
 * @param {number} wanted
 * @returns {number}
 */
export function pngPixelRatio(rect, wanted) {
  const width = Math.max(1, rect.width);
  const height = Math.max(1, rect.height);
  return Math.min(
    Math.max(1, wanted || 1),
    PNG_MAX_SIDE / width,
    PNG_MAX_SIDE / height,
    Math.sqrt(PNG_MAX_PIXELS / (width * height)),
  );
}

/**
 * Draw a region of the drawing with the canvas painter and encode it as
 * PNG. Nothing is loaded as an image, so a strict Content-Security-Policy
 * does not get in the way.
 * @param {Document} doc
 * @param {PngExport} spec
 * @returns {Promise<Blob>}
 */
export function pngBlob(doc, spec) {
  const { rect } = spec;
  const ratio = pngPixelRatio(rect, spec.pixelRatio);
  const canvas = doc.createElement("canvas");
  canvas.width = Math.max(1, Math.round(Math.max(1, rect.width) * ratio));
  canvas.height = Math.max(1, Math.round(Math.max(1, rect.height) * ratio));
  const ctx = canvas.getContext("2d");
  if (!ctx) {
    return Promise.reject(new Error("[dagstudio] no 2D canvas for the PNG"));
  }
  ctx.fillStyle = spec.palette.background;
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.setTransform(ratio, 0, 0, ratio, -rect.x * ratio, -rect.y * ratio);
  paintScene(ctx, {
    nodes: spec.nodes,
    edges: spec.edges,
    stateOf: spec.stateOf,
    labelOf: spec.labelOf,
    palette: spec.palette,
    scale: ratio,
    // Text below this density is a grey smear that costs seconds to draw.
    text: ratio >= READABLE_SCALE,
  });
  return new Promise((resolve, reject) => {
    canvas.toBlob((blob) => {
      if (blob) resolve(blob);
      else reject(new Error("[dagstudio] the PNG could not be encoded"));
    }, "image/png");
  });
}

/**
 * Turn a workflow's name into a file name that every common file system
 * accepts: no path separators, reserved or control characters, no leading
 * dot, at most 100 characters before the extension.
 * @param {string | null | undefined} workflowName
 * @param {string} ext without the dot, such as "svg"
 * @returns {string}
 */
export function exportFileName(workflowName, ext) {
  const cleaned = String(workflowName ?? "")
    .normalize("NFC")
    .replace(/[\u0000-\u001f\u007f<>:"/\\|?*]+/g, " ")
    .trim()
    .replace(/\s+/g, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[-.]+|[-.\s]+$/g, "");
  let base = Array.from(cleaned).slice(0, MAX_NAME_CHARS).join("");
  base = base.replace(/[-.\s]+$/g, "");
  if (base === "") base = "workflow";
  if (RESERVED_NAMES.test(base)) base = `${base}-graph`;
  const suffix =
    String(ext)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, "") || "bin";
  return `${base}.${suffix}`;
}

/**
 * Offer a Blob as a download through a temporary `<a download>`; its
 * object URL is revoked once the download has had time to start.
 * @param {Document} doc
 * @param {Blob} blob
 * @param {string} filename
 */
export function downloadBlob(doc, blob, filename) {
  const urls = doc.defaultView?.URL ?? URL;
  const url = urls.createObjectURL(blob);
  const link = doc.createElement("a");
  link.href = url;
  link.download = filename;
  link.rel = "noopener";
  link.hidden = true;
  (doc.body ?? doc.documentElement).append(link);
  link.click();
  link.remove();
  setTimeout(() => urls.revokeObjectURL(url), REVOKE_AFTER_MS);
}
