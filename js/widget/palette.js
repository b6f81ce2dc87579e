// @ts-check
/**
 * The colours of the graph, read from the widget's CSS variables, so the
 * canvas, the PNG and the SVG export look like the DOM nodes in every
 * theme. Only `resolvePalette` touches the DOM.
 */

/** @typedef {{ r: number, g: number, b: number, a: number }} Rgba */

/**
 * @typedef {object} NodeStyle
 * @property {string} fill box fill
 * @property {string} stroke box outline
 * @property {string} solid fill of a box too small for an outline
 * @property {string} icon status glyph
 * @property {string} label
 * @property {string} text status line
 * @property {number[]} dash outline dashes, empty for a solid line
 */

/**
 * @typedef {object} Palette
 * @property {Record<string, string>} base the theme colours, as CSS text
 * @property {Record<string, NodeStyle>} styles per status
 * @property {string} background
 * @property {string} edge
 * @property {string} focus ring of the selected node
 * @property {string} font font family of the node text
 */

/** The CSS variables the palette is made of (see widget.css). */
const BASE_VARIABLES = Object.freeze({
  bg: "--dagstudio-bg",
  bgAlt: "--dagstudio-bg-alt",
  fg: "--dagstudio-fg",
  fgMuted: "--dagstudio-fg-muted",
  fgFaint: "--dagstudio-fg-faint",
  border: "--dagstudio-border",
  brand: "--dagstudio-brand",
  brandLight: "--dagstudio-brand-light",
  info: "--dagstudio-info",
  success: "--dagstudio-success",
  error: "--dagstudio-error",
  warn: "--dagstudio-warn",
});

/** The light fallbacks of widget.css, for when no style can be read. */
export const DEFAULT_BASE = Object.freeze({
  bg: "#ffffff",
  bgAlt: "#eeeeee",
  fg: "rgba(0, 0, 0, 0.87)",
  fgMuted: "rgba(0, 0, 0, 0.54)",
  fgFaint: "rgba(0, 0, 0, 0.38)",
  border: "#bdbdbd",
  brand: "#1976d2",
  brandLight: "#90caf9",
  info: "#0097a7",
  success: "#388e3c",
  error: "#d32f2f",
  warn: "#f57c00",
});
export const DEFAULT_FONT = "system-ui, sans-serif";

/**
 * Parse the CSS colours a computed style gives: hex, rgb() and rgba() in
 * both the comma and the space syntax. Null for anything else.
 * @param {string} text
 * @returns {Rgba | null}
 */
export function parseColor(text) {
  const value = text.trim().toLowerCase();
  const hex = /^#([0-9a-f]{3,8})$/.exec(value);
  if (hex) {
    let digits = hex[1];
    if (digits.length === 3 || digits.length === 4) {
      digits = Array.from(digits, (d) => d + d).join("");
    }
    if (digits.length !== 6 && digits.length !== 8) return null;
    const n = (/** @type {number} */ i) => parseInt(digits.slice(i, i + 2), 16);
    return {
      r: n(0),
      g: n(2),
      b: n(4),
      a: digits.length === 8 ? n(6) / 255 : 1,
    };
  }
  const fn = /^rgba?\(([^)]*)\)$/.exec(value);
  if (!fn) return null;
  const parts = fn[1].split(/[\s,/]+/).filter(Boolean);
  if (parts.length < 3 || parts.length > 4) return null;
  const channel = (/** @type {string} */ p) =>
    p.endsWith("%") ? (parseFloat(p) * 255) / 100 : parseFloat(p);
  const alpha = (/** @type {string | undefined} */ p) =>
    p === undefined ? 1 : p.endsWith("%") ? parseFloat(p) / 100 : parseFloat(p);
  const color = {
    r: channel(parts[0]),
    g: channel(parts[1]),
    b: channel(parts[2]),
    a: alpha(parts[3]),
  };
  return Object.values(color).every(Number.isFinite) ? color : null;
}

/**
 * Mix two colours as CSS `color-mix(in srgb, a p%, b)` does (premultiplied
 * by alpha).
 * @param {Rgba} a
 * @param {Rgba} b
 * @param {number} p weight of `a`, 0 to 1
 * @returns {Rgba}
 */
export function mixColors(a, b, p) {
  const alpha = a.a * p + b.a * (1 - p);
  if (alpha === 0) return { r: 0, g: 0, b: 0, a: 0 };
  const channel = (/** @type {"r" | "g" | "b"} */ k) =>
    (a[k] * a.a * p + b[k] * b.a * (1 - p)) / alpha;
  return { r: channel("r"), g: channel("g"), b: channel("b"), a: alpha };
}

/**
 * Write a colour as "#rrggbb" when opaque, else "rgba(r, g, b, a)".
 * @param {Rgba} color
 * @returns {string}
 */
export function cssColor(color) {
  const c = (/** @type {number} */ v) =>
    Math.min(255, Math.max(0, Math.round(v)));
  if (color.a >= 1) {
    const hex = (/** @type {number} */ v) => c(v).toString(16).padStart(2, "0");
    return `#${hex(color.r)}${hex(color.g)}${hex(color.b)}`;
  }
  const a = Math.round(Math.max(0, color.a) * 1000) / 1000;
  return `rgba(${c(color.r)}, ${c(color.g)}, ${c(color.b)}, ${a})`;
}

/**
 * Build the palette from the theme colours, with the same mixes as the
 * status rules of widget.css (keep the two in step).
 * @param {Record<keyof typeof DEFAULT_BASE, Rgba>} base
 * @param {string} font
 * @returns {Palette}
 */
export function createPalette(base, font) {
  const css = cssColor;
  const tint = (/** @type {Rgba} */ c, /** @type {number} */ p) =>
    css(mixColors(c, base.bg, p));
  const toward = (/** @type {Rgba} */ c) => css(mixColors(c, base.fg, 0.7));
  /** @type {NodeStyle} */
  const plain = {
    fill: css(base.bg),
    stroke: css(base.border),
    solid: css(base.border),
    icon: css(base.fgMuted),
    label: css(base.fg),
    text: css(base.fgMuted),
    dash: [],
  };
  /**
   * @param {Rgba} color
   * @param {Partial<NodeStyle>} [extra]
   * @returns {NodeStyle}
   */
  const coloured = (color, extra = {}) => ({
    ...plain,
    fill: tint(color, 0.14),
    stroke: css(color),
    solid: css(color),
    icon: css(color),
    text: toward(color),
    ...extra,
  });
  const muted = {
    ...plain,
    stroke: css(base.fgFaint),
    solid: css(base.fgFaint),
    fill: css(base.bgAlt),
    label: css(base.fgMuted),
    dash: [5, 4],
  };
  return {
    base: Object.fromEntries(
      Object.entries(base).map(([key, value]) => [key, css(value)]),
    ),
    styles: {
      pending: plain,
      none: plain,
      queued: {
        ...plain,
        fill: tint(base.brandLight, 0.15),
        stroke: css(base.brandLight),
        solid: css(base.brandLight),
        icon: css(base.brand),
      },
      running: coloured(base.brand),
      completed: coloured(base.success),
      failed: coloured(base.error),
      skipped: muted,
      cancelled: muted,
      // Not run here: its own colour and a dotted outline, so it reads
      // apart from completed without colour too.
      cached: coloured(base.info, { dash: [2, 3] }),
      interrupted: {
        ...plain,
        stroke: css(base.warn),
        solid: css(base.warn),
        icon: css(base.warn),
      },
    },
    background: css(base.bg),
    edge: css(base.fgFaint),
    focus: css(base.brand),
    font,
  };
}

/** @returns {Palette} the palette of widget.css's light fallbacks */
export function defaultPalette() {
  const base = /** @type {Record<keyof typeof DEFAULT_BASE, Rgba>} */ (
    Object.fromEntries(
      Object.entries(DEFAULT_BASE).map(([key, value]) => [
        key,
        /** @type {Rgba} */ (parseColor(value)),
      ]),
    )
  );
  return createPalette(base, DEFAULT_FONT);
}

/**
 * Read the palette from the CSS variables in effect at `element`. Reading
 * takes a style recalculation per colour, so callers keep the result until
 * the theme changes. Null while the element is not in a page.
 * @param {Element} element
 * @returns {Palette | null}
 */
export function resolvePalette(element) {
  const doc = element.ownerDocument;
  const view = doc.defaultView;
  if (!view || !element.isConnected) return null;
  const probe = doc.createElement("span");
  probe.style.display = "none";
  element.append(probe);
  /** @type {CanvasRenderingContext2D | null} */
  let pixel = null;
  /** @type {Record<string, Rgba>} */
  const base = {};
  const keys = /** @type {(keyof typeof DEFAULT_BASE)[]} */ (
    Object.keys(BASE_VARIABLES)
  );
  for (const key of keys) {
    const fallback = DEFAULT_BASE[key];
    probe.style.color = `var(${BASE_VARIABLES[key]}, ${fallback})`;
    const value = view.getComputedStyle(probe).color;
    let color = parseColor(value);
    if (color === null) {
      // Colours of other spaces (color(), oklch()) are drawn on one pixel
      // and read back as sRGB.
      pixel ??= doc.createElement("canvas").getContext("2d", {
        willReadFrequently: true,
      });
      color = pixel ? readPixel(pixel, value) : null;
    }
    base[key] = color ?? /** @type {Rgba} */ (parseColor(fallback));
  }
  probe.remove();
  const font = view.getComputedStyle(element).fontFamily || DEFAULT_FONT;
  return createPalette(
    /** @type {Record<keyof typeof DEFAULT_BASE, Rgba>} */ (base),
    font,
  );
}

/**
 * @param {CanvasRenderingContext2D} ctx
 * @param {string} value
 * @returns {Rgba | null}
 */
function readPixel(ctx, value) {
  ctx.clearRect(0, 0, 1, 1);
  ctx.fillStyle = "#000000";
  ctx.fillStyle = value;
  ctx.fillRect(0, 0, 1, 1);
  const [r, g, b, a] = ctx.getImageData(0, 0, 1, 1).data;
  return { r, g, b, a: a / 255 };
}
