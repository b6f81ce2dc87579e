// @ts-check
/**
 * The readable, focusable SVG nodes of the graph view: one `<g>` per node
 * that has a DOM element at the moment, recycled through a pool as nodes
 * come into and leave the view.
 */
import { setAttr, setText, svg } from "./dom.js";
import {
  GROUP_MARKER,
  NODE_TEXT,
  nodeLine,
  nodeSpokenText,
  nodeTooltip,
} from "./paint.js";
import { statusIcon } from "./state.js";

/** @typedef {import("./layout.js").LayoutNode} LayoutNode */
/** @typedef {import("./paint.js").NodeState} NodeState */

/**
 * @typedef {object} NodeParts
 * @property {LayoutNode} node
 * @property {SVGGElement} group
 * @property {SVGTitleElement} title
 * @property {SVGRectElement} stack the card behind a group node
 * @property {SVGRectElement} box
 * @property {SVGTextElement} icon
 * @property {SVGTextElement} label
 * @property {SVGTextElement} status
 * @property {SVGTextElement} marker the ▸ of a group node
 */

/**
 * @typedef {object} NodeLayerOptions
 * @property {(node: LayoutNode) => NodeState} stateOf
 * @property {(node: LayoutNode) => string} labelOf the label as drawn
 * @property {() => string | null} selected the selected node's id
 * @property {number} poolSize most detached groups kept for reuse
 */

/**
 * @typedef {object} NodeLayer
 * @property {SVGGElement} element
 * @property {(id: string) => boolean} has
 * @property {(id: string) => SVGGElement | undefined} groupOf
 * @property {() => number} size how many nodes have a group
 * @property {(nodes: Iterable<LayoutNode>, patchAll: boolean) => void}
 *   keepOnly give exactly these nodes a group; patch every group, or only
 *   the new ones
 * @property {(node: LayoutNode) => SVGGElement} ensure give one node a
 *   group now
 * @property {(byId: Map<string, LayoutNode>, order: Map<string, number>)
 *   => void} relayout point the groups at a new layout: nodes still in it
 *   keep theirs (and keyboard focus), the others are dropped
 * @property {() => void} markSelected move the selected class
 */

/**
 * Build the SVG group of a node, not yet bound to one.
 * @param {Document} doc
 * @returns {Omit<NodeParts, "node">}
 */
function createParts(doc) {
  const group = svg(doc, "g", "dagstudio-node", {
    tabindex: -1,
    role: "button",
  });
  const title = svg(doc, "title");
  const stack = svg(doc, "rect", "dagstudio-node-box dagstudio-node-stack", {
    x: NODE_TEXT.stack,
    y: NODE_TEXT.stack,
    rx: 6,
  });
  const box = svg(doc, "rect", "dagstudio-node-box", { rx: 6 });
  const icon = svg(doc, "text", "dagstudio-node-icon", {
    x: NODE_TEXT.iconX,
    "aria-hidden": "true",
  });
  const label = svg(doc, "text", "dagstudio-node-label", {
    x: NODE_TEXT.labelX,
    y: NODE_TEXT.labelY,
  });
  const status = svg(doc, "text", "dagstudio-node-status", {
    x: NODE_TEXT.labelX,
    y: NODE_TEXT.statusY,
  });
  const marker = svg(doc, "text", "dagstudio-node-marker", {
    y: NODE_TEXT.labelY,
    "aria-hidden": "true",
  });
  marker.textContent = GROUP_MARKER;
  group.append(title, stack, box, icon, label, status, marker);
  return { group, title, stack, box, icon, label, status, marker };
}

/**
 * Point a node's SVG group at a layout node: position, size and kind.
 * @param {NodeParts} parts
 * @param {LayoutNode} node
 */
function bindParts(parts, node) {
  parts.node = node;
  const { group } = parts;
  setAttr(group, "transform", `translate(${node.x},${node.y})`);
  setAttr(group, "data-phase-id", node.id);
  setAttr(group, "data-kind", node.kind || "");
  for (const rect of [parts.box, parts.stack]) {
    setAttr(rect, "width", String(node.width));
    setAttr(rect, "height", String(node.height));
  }
  setAttr(parts.icon, "y", String(node.height / 2));
  setAttr(parts.marker, "x", String(node.width - NODE_TEXT.rightPad));
  const isGroup = node.kind === "group";
  for (const part of [parts.stack, parts.marker]) {
    if (isGroup) part.removeAttribute("display");
    else setAttr(part, "display", "none");
  }
}

/**
 * Apply a node's state to its SVG group, touching only what changed.
 * @param {NodeParts} parts
 * @param {NodeState} state
 * @param {string} label the label as drawn
 * @param {boolean} selected
 */
function patchParts(parts, state, label, selected) {
  const { node, group } = parts;
  const { status, attempt, error } = state;
  if (group.getAttribute("data-status") !== status) {
    for (const name of Array.from(group.classList)) {
      if (name.startsWith("dagstudio-status-")) group.classList.remove(name);
    }
    group.classList.add(`dagstudio-status-${status}`);
    group.setAttribute("data-status", status);
  }
  setAttr(group, "data-attempt", String(attempt));
  group.classList.toggle("dagstudio-has-error", Boolean(error));
  group.classList.toggle("dagstudio-selected", selected);
  const line = nodeLine(node, state);
  setText(parts.icon, statusIcon(status));
  setText(parts.label, label);
  setText(parts.status, line);
  setText(
    parts.title,
    nodeTooltip(node, status, attempt, error, state.fromExecution),
  );
  setAttr(group, "aria-label", nodeSpokenText(node, state));
}

/**
 * Create the node layer, empty until `keepOnly` or `ensure` is called.
 * @param {Document} doc
 * @param {NodeLayerOptions} options
 * @returns {NodeLayer}
 */
export function createNodeLayer(doc, options) {
  const element = svg(doc, "g", "dagstudio-nodes");
  /** @type {Map<string, NodeParts>} */
  const parts = new Map();
  /** @type {NodeParts[]} */
  const pool = [];
  /** @type {Map<string, number>} */
  let order = new Map();

  /** @param {LayoutNode} node */
  function take(node) {
    const item = pool.pop() ?? { node, ...createParts(doc) };
    bindParts(item, node);
    parts.set(node.id, item);
    return item;
  }

  /** @param {NodeParts} item */
  function patch(item) {
    const { node } = item;
    const selected = node.id === options.selected();
    patchParts(item, options.stateOf(node), options.labelOf(node), selected);
  }

  /**
   * Put new groups in layout order, so Tab follows the workflow. Groups
   * already in place are never moved: moving the focused one would blur
   * it.
   * @param {NodeParts[]} added
   */
  function insertInOrder(added) {
    const position = (/** @type {string} */ id) => order.get(id) ?? -1;
    added.sort((a, b) => position(a.node.id) - position(b.node.id));
    let cursor = element.firstElementChild;
    for (const item of added) {
      const at = position(item.node.id);
      while (
        cursor !== null &&
        position(cursor.getAttribute("data-phase-id") ?? "") < at
      ) {
        cursor = cursor.nextElementSibling;
      }
      element.insertBefore(item.group, cursor);
    }
  }

  return {
    element,
    has: (id) => parts.has(id),
    groupOf: (id) => parts.get(id)?.group,
    size: () => parts.size,
    keepOnly(nodes, patchAll) {
      /** @type {Map<string, LayoutNode>} */
      const keep = new Map();
      for (const node of nodes) keep.set(node.id, node);
      for (const [id, item] of parts) {
        if (keep.has(id)) continue;
        item.group.remove();
        parts.delete(id);
        if (pool.length < options.poolSize) pool.push(item);
      }
      /** @type {NodeParts[]} */
      const added = [];
      for (const [id, node] of keep) {
        if (!parts.has(id)) added.push(take(node));
      }
      if (added.length > 0) insertInOrder(added);
      for (const item of patchAll ? parts.values() : added) patch(item);
    },
    ensure(node) {
      const existing = parts.get(node.id);
      if (existing) return existing.group;
      const item = take(node);
      insertInOrder([item]);
      patch(item);
      return item.group;
    },
    relayout(byId, nextOrder) {
      // Known limitation: kept groups stay where they were in the DOM, so
      // until they are recycled Tab follows the old layout's order.
      order = nextOrder;
      for (const [id, item] of parts) {
        const node = byId.get(id);
        if (node) {
          bindParts(item, node);
          continue;
        }
        item.group.remove();
        parts.delete(id);
      }
      pool.length = 0;
    },
    markSelected() {
      const selected = options.selected();
      for (const [id, { group }] of parts) {
        group.classList.toggle("dagstudio-selected", id === selected);
      }
    },
  };
}
