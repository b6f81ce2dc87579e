// @ts-check
/**
 * Pointer gestures on the graph's scroll container: a drag pans, two
 * fingers zoom around their midpoint, Ctrl/⌘ + wheel (what a touchpad
 * pinch sends too) zooms around the pointer. A plain wheel and one finger
 * scroll natively.
 */

/**
 * @typedef {object} Point
 * @property {number} x
 * @property {number} y
 */

/**
 * @typedef {object} GestureOptions
 * @property {AbortSignal} signal aborting it removes every listener
 * @property {() => number} getScale
 * @property {(scale: number, at: Point | undefined) => void} zoomTo zoom,
 *   keeping the view point `at` in place
 * @property {(event: PointerEvent) => void} [onHover] the pointer moved
 *   with no button down
 */

/**
 * @typedef {object} Gestures
 * @property {() => boolean} endedDrag whether the click being handled ends
 *   a drag (and so is no click on a node); reading it resets it
 */

/** Pointer travel (px) before a press on the graph becomes a drag. */
const DRAG_THRESHOLD = 4;
/** How fast the wheel zooms: the scale changes by e^(-deltaY × this). */
const WHEEL_ZOOM_RATE = 0.0015;

/**
 * Return where an event happened in the viewport's content box, or null
 * on its border or scrollbars.
 * @param {HTMLElement} viewport
 * @param {{ clientX: number, clientY: number }} event
 * @returns {Point | null}
 */
export function viewportPoint(viewport, event) {
  const box = viewport.getBoundingClientRect();
  const x = event.clientX - box.left - viewport.clientLeft;
  const y = event.clientY - box.top - viewport.clientTop;
  const inside =
    x >= 0 && y >= 0 && x <= viewport.clientWidth && y <= viewport.clientHeight;
  return inside ? { x, y } : null;
}

/**
 * Listen for the gestures on `viewport` until the signal aborts.
 * @param {HTMLElement} viewport
 * @param {GestureOptions} options
 * @returns {Gestures}
 */
export function attachGestures(viewport, options) {
  const { signal } = options;
  const drag = { pointerId: -1, x: 0, y: 0, left: 0, top: 0, moved: false };
  /** @type {Map<number, Point>} */
  const touches = new Map();
  let pinchDistance = 0;

  /** @param {PointerEvent} event */
  function pinch(event) {
    touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (touches.size !== 2) return;
    const [a, b] = [...touches.values()];
    const distance = Math.hypot(a.x - b.x, a.y - b.y);
    const mid = viewportPoint(viewport, {
      clientX: (a.x + b.x) / 2,
      clientY: (a.y + b.y) / 2,
    });
    if (pinchDistance > 0 && distance > 0 && mid) {
      options.zoomTo((options.getScale() * distance) / pinchDistance, mid);
    }
    pinchDistance = distance;
  }

  viewport.addEventListener(
    "pointerdown",
    (event) => {
      if (event.pointerType === "touch") {
        touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
        pinchDistance = 0;
        return;
      }
      if (event.button !== 0) return;
      Object.assign(drag, {
        pointerId: event.pointerId,
        x: event.clientX,
        y: event.clientY,
        left: viewport.scrollLeft,
        top: viewport.scrollTop,
        moved: false,
      });
    },
    { signal },
  );
  viewport.addEventListener(
    "pointermove",
    (event) => {
      if (touches.has(event.pointerId)) {
        pinch(event);
        return;
      }
      if (event.pointerId !== drag.pointerId) {
        options.onHover?.(event);
        return;
      }
      const dx = event.clientX - drag.x;
      const dy = event.clientY - drag.y;
      if (!drag.moved && Math.hypot(dx, dy) < DRAG_THRESHOLD) return;
      if (!drag.moved) {
        // Capture only once it is a drag: a captured press would retarget
        // the click and a node could no longer be clicked.
        drag.moved = true;
        viewport.setPointerCapture(event.pointerId);
        viewport.classList.add("dagstudio-dragging");
      }
      viewport.scrollLeft = drag.left - dx;
      viewport.scrollTop = drag.top - dy;
    },
    { signal },
  );
  /** @param {PointerEvent} event */
  const endPointer = (event) => {
    if (touches.delete(event.pointerId)) pinchDistance = 0;
    if (event.pointerId !== drag.pointerId) return;
    drag.pointerId = -1;
    viewport.classList.remove("dagstudio-dragging");
  };
  viewport.addEventListener("pointerup", endPointer, { signal });
  viewport.addEventListener("pointercancel", endPointer, { signal });
  viewport.addEventListener(
    "wheel",
    (event) => {
      if (!event.ctrlKey && !event.metaKey) return;
      event.preventDefault();
      const at = viewportPoint(viewport, event) ?? undefined;
      const factor = Math.exp(-event.deltaY * WHEEL_ZOOM_RATE);
      options.zoomTo(options.getScale() * factor, at);
    },
    { signal, passive: false },
  );

  return {
    endedDrag() {
      const moved = drag.moved;
      drag.moved = false;
      return moved;
    },
  };
}
