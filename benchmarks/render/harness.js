// @ts-check
/**
 * Harness page of benchmarks/render.py. It loads one renderer (DAG Studio's
 * bundle or a peer), gives it a fake anywidget model, and times it in the
 * page with performance.now(): a MutationObserver notices when the drawing
 * is done, and a probe that runs first in every animation frame records
 * when each frame starts and, through a message posted from it, when the
 * frame's work (rAF callbacks, style, layout, paint) has ended.
 *
 * "Done" is `data-layout-state="ready"` (first paint) or a larger
 * `data-draws` (status update) on the renderer's canvas element. For a
 * bundle without these attributes it falls back to counting drawn nodes
 * (first paint) or to the first DOM change in the graph (status update).
 *
 * The frame that shows a drawing is the first frame that ends after the
 * drawing was done (the same frame when the drawing happened in one of its
 * rAF callbacks); a measurement ends when the frame after that one starts.
 * Main-thread time is the `set` call plus every frame from the change up
 * to the one that shows it. Known limitation: work done in tasks between
 * frames (a worker's answer handled outside a frame) is not counted.
 *
 * Results are printed to the console as `[bench] {json}`.
 */

/**
 * @typedef {object} RendererSpec
 * @property {string} module URL of an ES module whose default export has
 *   `render` (and maybe `initialize`)
 * @property {string} canvas selector of the element that carries
 *   data-layout-state and data-draws
 * @property {string} [nodes] fallback: selector matching each drawn node
 * @property {string} [empty] fallback: selector of the element that says
 *   why nothing was drawn
 */

/** @typedef {{ start: number, end: number }} Frame */
/** @typedef {{ status: string, attempt: number, error: string | null }} PhaseState */

/**
 * @typedef {object} Session what a first paint leaves for the updates
 * @property {ReturnType<typeof createModel>} model
 * @property {HTMLElement} el
 * @property {RendererSpec} spec
 * @property {string[]} ids
 * @property {Record<string, PhaseState>} phases
 */

const NEW_STATUSES = ["running", "completed", "failed", "queued", "cached"];

/** A failure of the renderer under test, as opposed to one of the harness. */
class RenderError extends Error {}

/** @type {Session | null} */
let session = null;

/**
 * A stand-in for anywidget's model: `set` fires "change:<name>" at once,
 * as the real (Backbone) model does.
 * @param {Record<string, unknown>} state
 */
function createModel(state) {
  /** @type {Map<string, Set<(value: unknown) => void>>} */
  const listeners = new Map();
  return {
    /** @param {string} name */
    get: (name) => state[name],
    /**
     * @param {string} name
     * @param {unknown} value
     */
    set(name, value) {
      state[name] = value;
      for (const callback of [...(listeners.get(`change:${name}`) ?? [])]) {
        callback(value);
      }
    },
    /**
     * @param {string} name
     * @param {(value: unknown) => void} callback
     */
    on(name, callback) {
      const set = listeners.get(name) ?? new Set();
      set.add(callback);
      listeners.set(name, set);
    },
    /**
     * @param {string} [name]
     * @param {(value: unknown) => void} [callback]
     */
    off(name, callback) {
      if (name === undefined) listeners.clear();
      else if (callback === undefined) listeners.delete(name);
      else listeners.get(name)?.delete(callback);
    },
    send() {},
    save_changes() {},
  };
}

/**
 * A seeded random number generator (mulberry32), so every renderer gets
 * the same sequence of status updates.
 * @param {number} seed
 */
function seededRandom(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Record the start and end of every animation frame until stopped. */
function createFrameClock() {
  /** @type {Frame[]} */
  const frames = [];
  /** @type {(() => void)[]} */
  let waiters = [];
  let running = true;
  const channel = new MessageChannel();
  // A message posted during a frame's rAF callbacks runs only after the
  // whole frame task, rendering included.
  channel.port1.onmessage = (event) => {
    frames[event.data].end = performance.now();
    const woken = waiters;
    waiters = [];
    for (const wake of woken) wake();
  };
  function tick() {
    if (!running) return;
    requestAnimationFrame(() => {
      // Registered during the previous frame, so it runs first in this one.
      const index = frames.push({ start: performance.now(), end: NaN }) - 1;
      channel.port2.postMessage(index);
      tick();
    });
  }
  tick();
  return {
    frames,
    /** @returns {Promise<void>} resolves when the next frame has ended */
    nextFrameEnd: () => new Promise((resolve) => waiters.push(resolve)),
    stop() {
      running = false;
      channel.port1.close();
    },
  };
}

/**
 * Wait for the frame that shows what was drawn at `at`; return the frames
 * from the first one after `since` up to that one, and the start of the
 * frame after it.
 * @param {ReturnType<typeof createFrameClock>} clock
 * @param {number} since
 * @param {number} at
 * @returns {Promise<{ frames: Frame[], nextStart: number }>}
 */
async function framesUntilShown(clock, since, at) {
  for (;;) {
    const { frames } = clock;
    const index = frames.findIndex((frame) => frame.end > at);
    if (index >= 0 && index + 1 < frames.length) {
      return {
        frames: frames.slice(0, index + 1).filter((f) => f.start > since),
        nextStart: frames[index + 1].start,
      };
    }
    await clock.nextFrameEnd();
  }
}

/**
 * Main-thread time of whole frames: their rAF callbacks and rendering.
 * @param {Frame[]} frames
 */
function frameTime(frames) {
  return frames.reduce((sum, frame) => sum + (frame.end - frame.start), 0);
}

/**
 * Resolve with the time the renderer has drawn the whole graph once.
 * @param {HTMLElement} el
 * @param {RendererSpec} spec
 * @param {number} count phases in the graph
 * @returns {{ done: Promise<{ at: number, via: string }>, stop: () => void }}
 */
function watchFirstDraw(el, spec, count) {
  /** @type {MutationObserver | undefined} */
  let observer;
  const done = new Promise((resolve, reject) => {
    function check() {
      const canvas = el.querySelector(spec.canvas);
      if (canvas?.hasAttribute("data-layout-state")) {
        const state = canvas.getAttribute("data-layout-state");
        if (state === "ready") {
          resolve({ at: performance.now(), via: "data-layout-state" });
        } else if (state === "error" || state === "failed") {
          const why = canvas.getAttribute("data-error") ?? `layout ${state}`;
          reject(new RenderError(why));
        }
        return;
      }
      if (spec.nodes && el.querySelectorAll(spec.nodes).length >= count) {
        resolve({ at: performance.now(), via: "node count" });
        return;
      }
      const empty = spec.empty ? el.querySelector(spec.empty) : null;
      if (empty instanceof HTMLElement && !empty.hidden && empty.textContent) {
        reject(new RenderError(empty.textContent));
      }
    }
    observer = new MutationObserver(check);
    observer.observe(el, {
      subtree: true,
      childList: true,
      attributes: true,
      attributeFilter: ["data-layout-state"],
    });
  });
  return { done, stop: () => observer?.disconnect() };
}

/**
 * Resolve with the time the renderer has drawn a status change: when
 * `data-draws` grows, or (fallback) at the first change in the graph.
 * @param {HTMLElement} el
 * @param {RendererSpec} spec
 * @returns {{ done: Promise<number>, stop: () => void }}
 */
function watchRedraw(el, spec) {
  const canvas = el.querySelector(spec.canvas);
  if (!canvas) throw new RenderError(`no ${spec.canvas} element`);
  const counted = canvas.hasAttribute("data-draws");
  const before = Number(canvas.getAttribute("data-draws"));
  /** @type {MutationObserver | undefined} */
  let observer;
  const done = new Promise((resolve) => {
    observer = new MutationObserver(() => {
      if (!counted || Number(canvas.getAttribute("data-draws")) > before) {
        resolve(performance.now());
      }
    });
    // Known limitation: the fallback observes every change in the graph,
    // which adds the observer's own bookkeeping to the renderer's frame.
    observer.observe(
      canvas,
      counted
        ? { attributes: true, attributeFilter: ["data-draws"] }
        : {
            subtree: true,
            attributes: true,
            childList: true,
            characterData: true,
          },
    );
  });
  return { done, stop: () => observer?.disconnect() };
}

/**
 * Bytes held by the page and its workers (after a garbage collection when
 * the page may force one), and how they were measured.
 * @returns {Promise<{ bytes: number, via: string } | null>}
 */
async function measureMemory() {
  const gc = /** @type {any} */ (globalThis).gc;
  if (typeof gc === "function") gc();
  const perf = /** @type {any} */ (performance);
  if (crossOriginIsolated && perf.measureUserAgentSpecificMemory) {
    const result = await perf.measureUserAgentSpecificMemory();
    return { bytes: result.bytes, via: "page and workers" };
  }
  if (perf.memory) {
    return { bytes: perf.memory.usedJSHeapSize, via: "page JS heap" };
  }
  return null;
}

/**
 * Render a graph and time its first paint.
 * @param {{ renderer: RendererSpec, graph: string, height: number }} config
 */
async function paint(config) {
  const spec = config.renderer;
  const workflow = await (await fetch(config.graph)).json();
  const widget = (await import(spec.module)).default;
  const ids = workflow.phases.map((/** @type {{ id: string }} */ p) => p.id);
  /** @type {Record<string, PhaseState>} */
  const phases = {};
  for (const id of ids)
    phases[id] = { status: "pending", attempt: 0, error: null };
  const model = createModel({
    workflow,
    execution: {
      id: "bench",
      status: "running",
      started_at: new Date().toISOString(),
    },
    phases,
    height: config.height,
    server: {},
  });
  const el = /** @type {HTMLElement} */ (document.getElementById("view"));
  await widget.initialize?.({ model });
  const memoryBefore = await measureMemory();
  const clock = createFrameClock();
  await clock.nextFrameEnd();

  const watch = watchFirstDraw(el, spec, ids.length);
  const t0 = performance.now();
  try {
    await widget.render({ model, el, signal: new AbortController().signal });
  } catch (error) {
    throw new RenderError(
      error instanceof Error ? error.message : String(error),
    );
  }
  const returned = performance.now();
  const { at, via } = await watch.done;
  watch.stop();
  const { frames, nextStart } = await framesUntilShown(clock, t0, at);
  clock.stop();
  const memoryAfter = await measureMemory();
  session = { model, el, spec, ids, phases };
  return {
    firstPaint: nextStart - t0,
    renderCall: returned - t0,
    frames: frames.length,
    frameTime: frameTime(frames),
    via,
    memory:
      memoryBefore && memoryAfter
        ? memoryAfter.bytes - memoryBefore.bytes
        : null,
    memoryVia: memoryAfter?.via ?? null,
  };
}

/**
 * Pick `fraction` of the phases and give each a new status.
 * @param {Session} current
 * @param {number} fraction
 * @param {() => number} random
 * @param {number[]} order a permutation of phase indices, reshuffled here
 */
function nextStates(current, fraction, random, order) {
  const count = Math.max(1, Math.round(current.ids.length * fraction));
  const next = { ...current.phases };
  for (let k = 0; k < count; k += 1) {
    const j = k + Math.floor(random() * (order.length - k));
    [order[k], order[j]] = [order[j], order[k]];
    const id = current.ids[order[k]];
    const old = next[id];
    const choices = NEW_STATUSES.filter((status) => status !== old.status);
    const status = choices[Math.floor(random() * choices.length)];
    next[id] = {
      status,
      attempt: old.attempt + (status === "running" ? 1 : 0),
      error: status === "failed" ? "exit code 1" : null,
    };
  }
  return next;
}

/**
 * Time rounds of status updates on the graph of the last first paint.
 * @param {{ rounds: number, fraction: number, seed: number }} config
 */
async function updates(config) {
  const current = session;
  if (current === null) throw new Error("no first paint to update");
  const random = seededRandom(config.seed);
  const order = current.ids.map((_, index) => index);
  const rounds = [];
  for (let round = 0; round < config.rounds; round += 1) {
    const next = nextStates(current, config.fraction, random, order);
    const clock = createFrameClock();
    await clock.nextFrameEnd();

    const watch = watchRedraw(current.el, current.spec);
    const t0 = performance.now();
    current.model.set("phases", next);
    const setDone = performance.now();
    const at = await watch.done;
    watch.stop();
    const { frames, nextStart } = await framesUntilShown(clock, t0, at);
    clock.stop();
    current.phases = next;
    rounds.push({
      toNextFrame: nextStart - t0,
      mainThread: setDone - t0 + frameTime(frames),
      frames: frames.length,
    });
  }
  return { rounds };
}

/**
 * Print the outcome of a measurement for benchmarks/render.py.
 * @param {string} kind
 * @param {() => Promise<object>} measure
 */
function report(kind, measure) {
  measure().then(
    (result) =>
      console.log(`[bench] ${JSON.stringify({ kind, ok: true, ...result })}`),
    (error) => {
      const stage = error instanceof RenderError ? "render" : "harness";
      const text =
        error instanceof RenderError || !(error instanceof Error)
          ? String(error?.message ?? error)
          : error.stack || error.message;
      console.log(
        `[bench] ${JSON.stringify({ kind, ok: false, stage, error: text })}`,
      );
    },
  );
}

Object.assign(window, {
  bench: {
    /** @param {Parameters<typeof paint>[0]} config */
    paint: (config) => report("paint", () => paint(config)),
    /** @param {Parameters<typeof updates>[0]} config */
    updates: (config) => report("updates", () => updates(config)),
  },
});
