// @ts-check
/**
 * The header of an execution's tab, above the widget's own view: the
 * "↳ from abcd1234 · ran 'b'" link of a re-run, and the phases whose
 * result came from an earlier execution, each with its own status
 * ("cached" is not "completed") and the execution its result is from.
 * Hidden when there is neither.
 */
import { element } from "./execution-row.js";
import {
  REUSED_LIST_MAX,
  derivedFrom,
  reusedPhases,
  reusedSummary,
  sourceLink,
} from "./derived.js";

/** @typedef {import("./sources.js").SourceTracker} SourceTracker */
/** @typedef {import("./derived.js").ReusedPhase} ReusedPhase */

/**
 * @typedef {object} ITabHeaderOptions
 * @property {Document} doc
 * @property {{ get(name: string): any, on(event: string, callback: () => void): void, off(event: string, callback: () => void): void }} model
 *   the tab's model: `workflow`, `execution` and `phases`
 * @property {SourceTracker} sources
 * @property {(id: string) => void} open opens an execution's tab
 * @property {() => void} resized the header's height may have changed
 * @property {AbortSignal} signal ends every listener
 */

/** The source link and the reused phases of one execution's tab. */
export class TabHeader {
  /** @param {ITabHeaderOptions} options */
  constructor(options) {
    const { doc, model, sources, signal } = options;
    this._doc = doc;
    this._model = model;
    this._sources = sources;
    this._open = options.open;
    this._resized = options.resized;
    /** @type {unknown} `derived_from` of the execution document */
    this._derived = null;
    this.node = element(doc, "div", "dagstudio-execution-header");
    this.node.hidden = true;
    this._source = element(doc, "div", "dagstudio-execution-source");
    this._reused = /** @type {HTMLDetailsElement} */ (
      element(doc, "details", "dagstudio-execution-reused")
    );
    this._summary = element(doc, "summary", "");
    this._list = element(doc, "ul", "dagstudio-execution-reused-list");
    this._reused.append(this._summary, this._list);
    this.node.append(this._source, this._reused);
    this.node.addEventListener("click", (event) => this._onClick(event), {
      signal,
    });
    this._reused.addEventListener("toggle", () => this._resized(), {
      signal,
    });
    /** @type {number | null} */
    this._frame = null;
    const schedule = () => this._schedule();
    for (const name of ["workflow", "execution", "phases"]) {
      model.on(`change:${name}`, schedule);
      signal.addEventListener("abort", () =>
        model.off(`change:${name}`, schedule),
      );
    }
    signal.addEventListener("abort", sources.onChange(schedule));
    signal.addEventListener("abort", () => {
      if (this._frame !== null) {
        doc.defaultView?.cancelAnimationFrame(this._frame);
      }
    });
    this._draw();
  }

  /**
   * The execution's `derived_from`, from its document.
   * @param {unknown} value
   */
  setDerivedFrom(value) {
    this._derived = value;
    this._draw();
  }

  /** Draw in the next frame: phase changes come in bursts. */
  _schedule() {
    const win = this._doc.defaultView;
    if (this._frame !== null || !win) return;
    this._frame = win.requestAnimationFrame(() => {
      this._frame = null;
      this._draw();
    });
  }

  _draw() {
    const before = this.node.offsetHeight;
    // The widget's own trait, should it carry the link, else the document.
    const derived =
      derivedFrom(this._model.get("execution")?.derived_from) ??
      derivedFrom(this._derived);
    const hasSource = this._drawSource(derived);
    const reused = reusedPhases(
      this._model.get("workflow"),
      this._model.get("phases"),
    );
    this._drawReused(reused);
    this.node.hidden = !hasSource && reused.length === 0;
    const ids = reused.flatMap((phase) => (phase.from ? [phase.from] : []));
    if (derived !== null) ids.push(derived.execution_id);
    this._sources.check(new Set(ids));
    if (this.node.offsetHeight !== before) this._resized();
  }

  /**
   * @param {import("./derived.js").DerivedFrom | null} derived
   * @returns {boolean} whether there is a source to show
   */
  _drawSource(derived) {
    const gone = derived !== null && this._sources.isGone(derived.execution_id);
    const link = sourceLink(derived, gone);
    this._source.hidden = link === null;
    if (link === null) {
      this._source.replaceChildren();
      return false;
    }
    this._source.dataset.sourceId = link.sourceId;
    this._source.title = link.title;
    if (link.gone) {
      this._source.dataset.gone = "true";
      this._source.replaceChildren(link.text);
    } else {
      delete this._source.dataset.gone;
      this._source.replaceChildren(
        this._openButton(link.sourceId, link.text, link.title),
      );
    }
    return true;
  }

  /** @param {ReusedPhase[]} reused */
  _drawReused(reused) {
    this._reused.hidden = reused.length === 0;
    this._summary.textContent = reusedSummary(reused);
    const items = reused.slice(0, REUSED_LIST_MAX).map((phase) => {
      const item = element(this._doc, "li", "dagstudio-execution-reused-phase");
      item.dataset.phaseId = phase.id;
      item.dataset.status = phase.status;
      item.append(
        element(
          this._doc,
          "span",
          "dagstudio-execution-reused-label",
          phase.label,
        ),
        element(
          this._doc,
          "span",
          "dagstudio-execution-reused-status",
          `${phase.icon} ${phase.statusText}`,
        ),
      );
      if (phase.from !== null) item.append(this._fromPart(phase));
      return item;
    });
    const more = reused.length - items.length;
    if (more > 0) {
      items.push(
        element(
          this._doc,
          "li",
          "dagstudio-execution-reused-more",
          `and ${more} more`,
        ),
      );
    }
    this._list.replaceChildren(...items);
  }

  /**
   * "result from abcd1234": a button opening that execution, or text with
   * "(deleted)" once it is known gone.
   * @param {ReusedPhase} phase
   * @returns {HTMLElement}
   */
  _fromPart(phase) {
    const from = /** @type {string} */ (phase.from);
    const title = `The result comes from execution ${from}`;
    if (this._sources.isGone(from)) {
      const text = element(
        this._doc,
        "span",
        "dagstudio-execution-reused-from",
        `${phase.fromText} (deleted)`,
      );
      text.title = `${title}, which was deleted`;
      return text;
    }
    const button = this._openButton(from, phase.fromText, `${title}. Open it.`);
    button.classList.add("dagstudio-execution-reused-from");
    return button;
  }

  /**
   * @param {string} id the execution to open
   * @param {string} text
   * @param {string} title
   * @returns {HTMLButtonElement}
   */
  _openButton(id, text, title) {
    const button = /** @type {HTMLButtonElement} */ (
      element(this._doc, "button", "dagstudio-execution-source-link", text)
    );
    button.type = "button";
    button.title = title;
    button.dataset.executionId = id;
    return button;
  }

  /** @param {MouseEvent} event */
  _onClick(event) {
    const target = event.target;
    if (!(target instanceof Element)) return;
    const button = target.closest("button[data-execution-id]");
    if (button instanceof HTMLElement && button.dataset.executionId) {
      this._open(button.dataset.executionId);
    }
  }
}
