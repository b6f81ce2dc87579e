// @ts-check
/** Small DOM builders shared by the widget and the sidebar. */

export const SVG_NS = "http://www.w3.org/2000/svg";

/**
 * Create an HTML element with a class and attributes.
 * @template {keyof HTMLElementTagNameMap} K
 * @param {Document} doc
 * @param {K} tag
 * @param {string} [className]
 * @param {Record<string, string>} [attrs]
 * @returns {HTMLElementTagNameMap[K]}
 */
export function html(doc, tag, className, attrs = {}) {
  const el = doc.createElement(tag);
  if (className) el.className = className;
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, value);
  }
  return el;
}

/**
 * Create an SVG element with a class and attributes.
 * @template {keyof SVGElementTagNameMap} K
 * @param {Document} doc
 * @param {K} tag
 * @param {string} [className]
 * @param {Record<string, string | number>} [attrs]
 * @returns {SVGElementTagNameMap[K]}
 */
export function svg(doc, tag, className, attrs = {}) {
  const el = /** @type {SVGElementTagNameMap[K]} */ (
    doc.createElementNS(SVG_NS, tag)
  );
  if (className) el.setAttribute("class", className);
  for (const [name, value] of Object.entries(attrs)) {
    el.setAttribute(name, String(value));
  }
  return el;
}

/**
 * Create a button with visible text and an accessible name.
 * @param {Document} doc
 * @param {string} className
 * @param {string} text
 * @param {string} label
 * @returns {HTMLButtonElement}
 */
export function button(doc, className, text, label) {
  const el = html(doc, "button", className, {
    type: "button",
    title: label,
    "aria-label": label,
  });
  el.textContent = text;
  return el;
}

/**
 * Set an element's text only when it changed, sparing needless layouts.
 * @param {Element} el
 * @param {string} text
 */
export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/**
 * Set an attribute only when it changed.
 * @param {Element} el
 * @param {string} name
 * @param {string} value
 */
export function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}
