// @ts-check
/**
 * The selected row of the executions list: the list's one Tab stop, moved
 * by the arrow, page, Home and End keys, and kept on a neighbour when its
 * execution leaves the list.
 */

/** @typedef {import("./format.js").ExecutionSummary} ExecutionSummary */

/** Rows PageUp and PageDown move the selection by. */
const PAGE_ROWS = 10;

/** The rows' selector inside the list. */
const ROWS = "li.dagstudio-execution";

/**
 * The index a navigation key moves the selection to, or null for other
 * keys.
 * @param {string} key
 * @param {number} at the selected row's index
 * @param {number} count rows in the list
 * @returns {number | null}
 */
export function movedIndex(key, at, count) {
  const last = count - 1;
  /** @type {Record<string, number>} */
  const moves = {
    ArrowDown: Math.min(at + 1, last),
    ArrowUp: Math.max(at - 1, 0),
    PageDown: Math.min(at + PAGE_ROWS, last),
    PageUp: Math.max(at - PAGE_ROWS, 0),
    Home: 0,
    End: last,
  };
  return key in moves ? moves[key] : null;
}

/** Which execution of a list is selected. */
export class RowSelection {
  /**
   * @param {HTMLElement} list holds the rows
   * @param {() => void} onChange called after every selection
   */
  constructor(list, onChange) {
    this._list = list;
    this._onChange = onChange;
    /** @type {string | null} */
    this.id = null;
    /** Where the selected row was, to select its neighbour when it goes. */
    this._index = 0;
  }

  /**
   * Select the execution `id`; its row becomes the list's Tab stop.
   * @param {string} id
   * @param {boolean} focus
   */
  select(id, focus) {
    this.id = id;
    this._list.querySelectorAll(ROWS).forEach((row, index) => {
      if (!(row instanceof HTMLElement)) return;
      const chosen = row.dataset.id === id;
      row.setAttribute("aria-selected", String(chosen));
      row.tabIndex = chosen ? 0 : -1;
      if (chosen) this._index = index;
      if (chosen && focus) row.focus();
    });
    this._onChange();
  }

  /**
   * Move the selection from the row of `id` by a navigation key.
   * @param {string} key
   * @param {string} id
   * @returns {boolean} whether the key was a navigation key
   */
  move(key, id) {
    const rows = [...this._list.querySelectorAll(ROWS)];
    const at = rows.findIndex(
      (row) => row instanceof HTMLElement && row.dataset.id === id,
    );
    const to = movedIndex(key, at, rows.length);
    if (to === null) return false;
    const row = rows[to];
    if (row instanceof HTMLElement && row.dataset.id) {
      this.select(row.dataset.id, true);
    }
    return true;
  }

  /**
   * Keep the selection on a list about to be drawn: the same execution,
   * or the neighbour of one that went (deleted, or filtered out).
   * @param {ExecutionSummary[]} executions
   */
  keep(executions) {
    const at = executions.findIndex((execution) => execution.id === this.id);
    if (at >= 0) {
      this._index = at;
      return;
    }
    const index = Math.min(this._index, executions.length - 1);
    this.id = executions[Math.max(index, 0)]?.id ?? null;
  }

  /**
   * The row of the execution `id`, or of the selected one.
   * @param {string | null} [id]
   * @returns {HTMLElement | null}
   */
  row(id = this.id) {
    if (id === null) return null;
    for (const row of this._list.querySelectorAll(ROWS)) {
      if (row instanceof HTMLElement && row.dataset.id === id) return row;
    }
    return null;
  }
}

/**
 * The execution id of the row holding `target`, or null.
 * @param {EventTarget | null} target
 * @returns {string | null}
 */
export function rowId(target) {
  if (!(target instanceof Element)) return null;
  const row = target.closest(ROWS);
  return row instanceof HTMLElement ? (row.dataset.id ?? null) : null;
}

/**
 * The source execution of the "↳ from …" link holding `target`, or null.
 * @param {EventTarget | null} target
 * @returns {string | null}
 */
export function sourceLinkId(target) {
  if (!(target instanceof Element)) return null;
  const link = target.closest(".dagstudio-execution-source-link");
  return link instanceof HTMLElement
    ? (link.dataset.executionId ?? null)
    : null;
}
