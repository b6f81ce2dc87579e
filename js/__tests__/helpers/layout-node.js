// @ts-check
/** A layout node for tests: a 176 × 52 box, label and drawn text alike. */

/** @typedef {import("../../widget/layout.js").LayoutNode} LayoutNode */

/**
 * Build a layout node; `fields` overrides any field (an extra one such as
 * a group's `count` included).
 * @param {string} id
 * @param {Partial<LayoutNode> & Record<string, unknown>} [fields]
 * @returns {LayoutNode}
 */
export function layoutNode(id, fields = {}) {
  const label = fields.label ?? id;
  const kind = fields.kind ?? "noop";
  return {
    id,
    label,
    text: label,
    truncated: false,
    kind,
    phase: { id, kind },
    x: 0,
    y: 0,
    width: 176,
    height: 52,
    rank: 0,
    order: 0,
    ...fields,
  };
}
