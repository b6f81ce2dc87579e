// @ts-check
/**
 * Finding phases by name: the matching rule (`findPhases`, no DOM) and a
 * small search box that steps through the matches.
 */
import { html, setText } from "./dom.js";

/** @typedef {import("./layout.js").Layout} Layout */
/** @typedef {import("./layout.js").LayoutNode} LayoutNode */

/**
 * @typedef {object} SearchBox
 * @property {HTMLElement} element the box: input and match count
 * @property {HTMLInputElement} input
 * @property {() => void} refresh search again, e.g. after a new layout,
 *   updating the count without moving the view
 * @property {() => void} clear empty the box and forget the matches
 */

/**
 * @typedef {object} SearchBoxOptions
 * @property {AbortSignal} signal aborting it removes every listener
 * @property {(query: string) => number} onSearch run the search; returns
 *   how many matches there are (0 for an empty query)
 * @property {(index: number) => void} onPick show match number `index`
 *   (from 0); called for the first match as the user types, then for the
 *   next or previous one on Enter or Shift+Enter
 */

/**
 * Find the nodes whose label or id contains `query`, ignoring case: exact
 * matches first, then those that start with it, then the rest, each group
 * in layout order. An empty query finds nothing.
 * @param {Layout | null | undefined} layout
 * @param {string} query
 * @param {number} [limit] most matches returned
 * @returns {LayoutNode[]}
 */
export function findPhases(layout, query, limit = Infinity) {
  const wanted = query.trim().toLowerCase();
  if (wanted === "" || !layout || limit <= 0) return [];
  /** @type {LayoutNode[][]} */
  const tiers = [[], [], []];
  for (const node of layout.nodes) {
    const label = node.label.toLowerCase();
    const id = node.id.toLowerCase();
    if (label === wanted || id === wanted) tiers[0].push(node);
    else if (label.startsWith(wanted) || id.startsWith(wanted)) {
      tiers[1].push(node);
    } else if (label.includes(wanted) || id.includes(wanted)) {
      tiers[2].push(node);
    }
    // Exact matches can still come later, so only stop once the first
    // tier alone is full.
    if (tiers[0].length >= limit) break;
  }
  return tiers.flat().slice(0, limit);
}

/**
 * Return the text of the match counter: "3 of 12", "No match" or "".
 * @param {string} query
 * @param {number} total
 * @param {number} current from 0
 * @returns {string}
 */
export function matchCountText(query, total, current) {
  if (query.trim() === "") return "";
  if (total === 0) return "No match";
  return `${current + 1} of ${total}`;
}

/**
 * Create the search box. Typing shows the first match; Enter the next,
 * Shift+Enter the previous, both wrapping around; Escape empties the box.
 * @param {Document} doc
 * @param {SearchBoxOptions} options
 * @returns {SearchBox}
 */
export function createSearchBox(doc, options) {
  const { signal } = options;
  const element = html(doc, "span", "dagstudio-search-box", {
    role: "search",
  });
  const input = html(doc, "input", "dagstudio-search", {
    type: "search",
    placeholder: "Find phase…",
    "aria-label": "Find a phase by name",
    autocomplete: "off",
    spellcheck: "false",
  });
  const count = html(doc, "span", "dagstudio-search-count", {
    "aria-live": "polite",
  });
  element.append(input, count);
  let total = 0;
  let current = -1;

  function show() {
    setText(count, matchCountText(input.value, total, current));
    count.hidden = count.textContent === "";
  }

  /**
   * @param {boolean} again a repeated search (new layout): keep the match
   *   number and leave the view where it is
   */
  function run(again) {
    total = Math.max(0, Math.floor(options.onSearch(input.value)));
    current = total === 0 ? -1 : again ? Math.min(current, total - 1) : 0;
    if (current < 0 && total > 0) current = 0;
    show();
    if (current >= 0 && !again) options.onPick(current);
  }

  /** @param {number} step */
  function move(step) {
    if (total === 0) return;
    current = (current + step + total) % total;
    show();
    options.onPick(current);
  }

  function clear() {
    input.value = "";
    total = 0;
    current = -1;
    options.onSearch("");
    show();
  }

  input.addEventListener("input", () => run(false), { signal });
  input.addEventListener(
    "keydown",
    (event) => {
      if (event.key === "Enter") {
        event.preventDefault();
        move(event.shiftKey ? -1 : 1);
      } else if (event.key === "Escape" && input.value !== "") {
        // An empty box lets Escape through to whatever else uses it.
        event.preventDefault();
        event.stopPropagation();
        clear();
      }
    },
    { signal },
  );
  show();

  return {
    element,
    input,
    refresh: () => {
      if (input.value.trim() === "") return;
      run(true);
    },
    clear,
  };
}
