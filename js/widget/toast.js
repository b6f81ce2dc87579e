// @ts-check
/**
 * Toasts: short, non-blocking notices stacked at the bottom right of the
 * page. One container serves every widget on the page; a toast whose id
 * was already shown is not shown again, so several views of one model, or
 * several widgets told the same thing, raise it once.
 */
import { button, html } from "./dom.js";

/**
 * @typedef {"success" | "error" | "warning" | "info"} ToastLevel
 * @typedef {{ level: ToastLevel, text: string, id: string }} Toast
 */

export const TOAST_LEVELS = Object.freeze([
  "success",
  "error",
  "warning",
  "info",
]);
export const TOAST_DURATION_MS = 4500;
export const ERROR_TOAST_DURATION_MS = 6000;
/** Older toasts leave when more than this many are on screen. */
const MAX_VISIBLE = 5;
/** How long a shown id is remembered for de-duplication. */
const REMEMBER_MS = 10 * 60 * 1000;
const REMEMBER_MAX = 200;
/** Hover or focus pauses the countdown; it resumes with at least this. */
const RESUME_MIN_MS = 1500;

/** @type {Readonly<Record<ToastLevel, string>>} */
const LEVEL_ICONS = Object.freeze({
  success: "✓",
  error: "✕",
  warning: "⚠",
  info: "ℹ",
});

/**
 * Ids shown per container. Views loaded from separate copies of this
 * module also find each other's toasts in the DOM (see `isDuplicate`).
 * @type {WeakMap<Element, Map<string, number>>}
 */
const shownIds = new WeakMap();

/**
 * Check a kernel message and return the toast it asks for, or null.
 * Unknown levels become "info"; a missing id falls back to level + text.
 * @param {unknown} message
 * @returns {Toast | null}
 */
export function parseToastMessage(message) {
  if (typeof message !== "object" || message === null) return null;
  const { type, level, text, id } = /** @type {Record<string, unknown>} */ (
    message
  );
  if (type !== "toast" || typeof text !== "string" || text === "") {
    return null;
  }
  const known = TOAST_LEVELS.find((name) => name === level);
  const safeLevel = /** @type {ToastLevel} */ (known ?? "info");
  const key = typeof id === "string" && id !== "" ? id : `${safeLevel}:${text}`;
  return { level: safeLevel, text, id: key };
}

/**
 * Return how long a toast of this level stays on screen.
 * @param {ToastLevel} level
 * @returns {number}
 */
export function toastDuration(level) {
  return level === "error" ? ERROR_TOAST_DURATION_MS : TOAST_DURATION_MS;
}

/**
 * Return the page's toast container, creating it on first use.
 * @param {Document} doc
 * @returns {HTMLElement}
 */
export function toastContainer(doc) {
  const found = doc.body.querySelector(":scope > .dagstudio-toasts");
  if (found instanceof HTMLElement) return found;
  const container = html(doc, "div", "dagstudio-toasts", {
    role: "status",
    "aria-live": "polite",
  });
  doc.body.append(container);
  return container;
}

/**
 * Tell whether a toast with this id is on screen or was shown lately, and
 * remember it otherwise.
 * @param {HTMLElement} container
 * @param {string} id
 * @returns {boolean}
 */
function isDuplicate(container, id) {
  const now = Date.now();
  let seen = shownIds.get(container);
  if (!seen) {
    seen = new Map();
    shownIds.set(container, seen);
  }
  for (const [key, at] of seen) {
    if (now - at > REMEMBER_MS || seen.size > REMEMBER_MAX) seen.delete(key);
  }
  const onScreen = Array.from(container.children).some(
    (el) => el.getAttribute("data-toast-id") === id,
  );
  if (onScreen || seen.has(id)) return true;
  seen.set(id, now);
  return false;
}

/**
 * Remove a toast, letting its leave transition play first.
 * @param {HTMLElement} toast
 */
function removeToast(toast) {
  if (toast.classList.contains("dagstudio-toast-leaving")) return;
  toast.classList.add("dagstudio-toast-leaving");
  setTimeout(() => toast.remove(), 200);
}

/**
 * Count a toast down to its removal, pausing while it is hovered or holds
 * focus so it can be read or closed in time.
 * @param {HTMLElement} toast
 * @param {number} duration
 */
function startCountdown(toast, duration) {
  let remaining = duration;
  let startedAt = Date.now();
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer = setTimeout(() => removeToast(toast), remaining);
  const pause = () => {
    if (timer === undefined) return;
    clearTimeout(timer);
    timer = undefined;
    remaining -= Date.now() - startedAt;
  };
  const resume = () => {
    if (timer !== undefined || toast.matches(":hover, :focus-within")) return;
    startedAt = Date.now();
    remaining = Math.max(RESUME_MIN_MS, remaining);
    timer = setTimeout(() => removeToast(toast), remaining);
  };
  // These listeners die with the toast element; nothing else holds them.
  toast.addEventListener("pointerenter", pause);
  toast.addEventListener("focusin", pause);
  toast.addEventListener("pointerleave", resume);
  toast.addEventListener("focusout", () => setTimeout(resume, 0));
}

/**
 * Show a toast unless one with the same id was already shown. Never moves
 * focus. Returns the toast element, or null when it was a duplicate.
 * @param {Document} doc
 * @param {Toast} toast
 * @returns {HTMLElement | null}
 */
export function showToast(doc, toast) {
  const container = toastContainer(doc);
  if (isDuplicate(container, toast.id)) return null;
  const el = html(doc, "div", "dagstudio-toast", {
    "data-level": toast.level,
    "data-toast-id": toast.id,
  });
  const icon = html(doc, "span", "dagstudio-toast-icon", {
    "aria-hidden": "true",
  });
  icon.textContent = LEVEL_ICONS[toast.level];
  const text = html(doc, "span", "dagstudio-toast-text");
  text.textContent = toast.text;
  // Long texts are clamped to a few lines; hovering shows all of it.
  text.title = toast.text;
  const close = button(doc, "dagstudio-toast-close", "×", "Dismiss");
  close.addEventListener("click", () => removeToast(el));
  el.append(icon, text, close);
  container.append(el);
  const live = Array.from(container.children).filter(
    (child) => !child.classList.contains("dagstudio-toast-leaving"),
  );
  for (const old of live.slice(0, Math.max(0, live.length - MAX_VISIBLE))) {
    removeToast(/** @type {HTMLElement} */ (old));
  }
  startCountdown(el, toastDuration(toast.level));
  return el;
}
