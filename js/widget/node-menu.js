// @ts-check
/**
 * A node's popup menu: an accessible `role="menu"` with one `menuitem` per
 * entry. It lives in the page's body, as JupyterLab's own menus do, so the
 * output area's overflow cannot clip it. Arrow keys, Home and End move
 * among the items (disabled ones too, so their reason can be read), Enter
 * or Space chooses, Escape and Tab close it; focus then goes back to what
 * opened it. A press elsewhere, the wheel, a resize or leaving the window
 * closes it as well.
 */
import { html } from "./dom.js";

/** @typedef {import("./rerun.js").MenuItem} MenuItem */

/**
 * @typedef {object} MenuRequest
 * @property {string} label the menu's accessible name
 * @property {MenuItem[]} items
 * @property {{ x: number, y: number }} at where its top left corner goes,
 *   in client coordinates
 * @property {() => void} restoreFocus give focus back to what opened it
 * @property {(id: string) => void} onChoose an enabled item was chosen
 * @property {HTMLElement} [invoker] a button whose `aria-expanded`
 *   follows the menu
 */

/**
 * @typedef {object} NodeMenu
 * @property {(request: MenuRequest) => void} open show the menu (closing
 *   an open one) and focus its first enabled item
 * @property {() => void} close close it, giving focus back if it had it
 * @property {() => boolean} isOpen
 */

/** Room kept between the menu and the window's edges, in pixels. */
const EDGE_PX = 4;

/**
 * Create the menu of one view; aborting `signal` closes and removes it.
 * @param {Document} doc
 * @param {{ signal: AbortSignal }} options
 * @returns {NodeMenu}
 */
export function createNodeMenu(doc, { signal }) {
  const win = doc.defaultView;
  const element = html(doc, "div", "dagstudio-menu", {
    role: "menu",
    tabindex: "-1",
    // JupyterLab's notebook keys and context menu stay out of it.
    "data-lm-suppress-shortcuts": "true",
    "data-jp-suppress-context-menu": "",
  });
  /** @type {MenuRequest | null} */
  let current = null;
  /** @type {AbortController | null} */
  let watching = null;

  /** @returns {HTMLElement[]} */
  function entries() {
    return Array.from(element.querySelectorAll("[role='menuitem']"));
  }

  /** @param {number} index */
  function focusAt(index) {
    const list = entries();
    if (list.length === 0) return;
    const at = ((index % list.length) + list.length) % list.length;
    list[at].focus({ preventScroll: true });
  }

  function focusedIndex() {
    return entries().findIndex((entry) => entry === doc.activeElement);
  }

  /** @param {boolean} restore */
  function closeMenu(restore) {
    const request = current;
    if (request === null) return;
    const hadFocus = element.contains(doc.activeElement);
    current = null;
    watching?.abort();
    watching = null;
    element.remove();
    request.invoker?.setAttribute("aria-expanded", "false");
    if (restore || hadFocus) request.restoreFocus();
  }

  /** @param {HTMLElement} entry */
  function choose(entry) {
    const request = current;
    if (request === null || entry.getAttribute("aria-disabled") === "true") {
      return;
    }
    const id = entry.getAttribute("data-item") ?? "";
    closeMenu(true);
    request.onChoose(id);
  }

  /** @param {MenuItem} item */
  function entryOf(item) {
    const entry = html(doc, "div", "dagstudio-menu-item", {
      role: "menuitem",
      tabindex: "-1",
      "data-item": item.id,
      title: item.title,
    });
    if (!item.enabled) entry.setAttribute("aria-disabled", "true");
    entry.textContent = item.label;
    return entry;
  }

  /** Keep the menu inside the window. */
  function place(/** @type {{ x: number, y: number }} */ at) {
    element.style.left = `${at.x}px`;
    element.style.top = `${at.y}px`;
    if (!win) return;
    const box = element.getBoundingClientRect();
    const x = Math.min(at.x, win.innerWidth - box.width - EDGE_PX);
    const y = Math.min(at.y, win.innerHeight - box.height - EDGE_PX);
    element.style.left = `${Math.max(EDGE_PX, x)}px`;
    element.style.top = `${Math.max(EDGE_PX, y)}px`;
  }

  /** Close on a press elsewhere, the wheel, a resize, leaving the window. */
  function watchPage() {
    watching = new AbortController();
    const options = { signal: watching.signal, capture: true };
    doc.addEventListener(
      "pointerdown",
      (event) => {
        if (!element.contains(/** @type {Node} */ (event.target))) {
          closeMenu(false);
        }
      },
      options,
    );
    // A wheel, not any scroll: focusing a node scrolls it into view, and
    // the menu must survive that.
    doc.addEventListener(
      "wheel",
      (event) => {
        if (!element.contains(/** @type {Node} */ (event.target))) {
          closeMenu(false);
        }
      },
      { ...options, passive: true },
    );
    win?.addEventListener("resize", () => closeMenu(false), options);
    // Capturing on the window sees every element's blur too; only the
    // window's own counts.
    win?.addEventListener(
      "blur",
      (event) => {
        if (event.target === win) closeMenu(false);
      },
      options,
    );
  }

  element.addEventListener(
    "keydown",
    (event) => {
      const at = focusedIndex();
      let handled = true;
      if (event.key === "ArrowDown") focusAt(at + 1);
      else if (event.key === "ArrowUp") focusAt(at < 0 ? -1 : at - 1);
      else if (event.key === "Home") focusAt(0);
      else if (event.key === "End") focusAt(-1);
      else if (event.key === "Escape" || event.key === "Tab") closeMenu(true);
      else if (event.key === "Enter" || event.key === " ") {
        const entry = entries()[at];
        if (entry) choose(entry);
      } else handled = false;
      if (!handled) return;
      event.preventDefault();
      event.stopPropagation();
    },
    { signal },
  );
  element.addEventListener(
    "click",
    (event) => {
      const target = /** @type {Element} */ (event.target);
      const entry = target.closest?.("[role='menuitem']");
      if (entry instanceof HTMLElement) choose(entry);
    },
    { signal },
  );
  // The menu is the widget's, not the page's: JupyterLab's menu stays shut.
  element.addEventListener(
    "contextmenu",
    (event) => {
      event.preventDefault();
      event.stopPropagation();
    },
    { signal },
  );
  signal.addEventListener("abort", () => closeMenu(false), { once: true });

  return {
    open(request) {
      closeMenu(false);
      if (signal.aborted || !doc.body) return;
      current = request;
      element.setAttribute("aria-label", request.label);
      element.replaceChildren(...request.items.map(entryOf));
      doc.body.append(element);
      place(request.at);
      request.invoker?.setAttribute("aria-expanded", "true");
      watchPage();
      const first = request.items.findIndex((item) => item.enabled);
      focusAt(Math.max(0, first));
    },
    close: () => closeMenu(false),
    isOpen: () => current !== null,
  };
}
