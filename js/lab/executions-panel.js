// @ts-check
/**
 * The left-sidebar panel listing the executions the user may see. It
 * fetches the list again when the page's one live socket reports an
 * execution-level event (a run submitted, started, finished), so new runs
 * and status changes show at once.
 *
 * Known limitation: the overview feed carries no phase events, so the
 * "done / total" counts of running executions are refreshed by polling
 * (every 2 s while one runs; every 30 s otherwise, as a safety net).
 *
 * The status and text filters narrow the rows at once, and ask the server
 * for the matching executions, so matches beyond the first page show too.
 */
import { Widget } from "@lumino/widgets";
import { pageConfigText } from "../widget/api.js";
import { OVERVIEW, sharedConnection } from "../widget/live-connection.js";
import { resolveBaseUrl } from "../widget/live-state.js";
import { CommandIDs } from "./command-ids.js";
import { element, executionRow } from "./execution-row.js";
import { FILTER_STATUSES, FIRST_RUN_EXAMPLE, matchesFilter } from "./format.js";
import { ApiError } from "../widget/api.js";
import { PAGE_SIZE, errorText } from "./service.js";

/** @typedef {import("./format.js").ExecutionSummary} ExecutionSummary */
/** @typedef {import("./service.js").ExecutionsService} ExecutionsService */

/**
 * @typedef {object} IExecutionsPanelOptions
 * @property {string} baseUrl the page's base URL path, ending in "/"
 * @property {ExecutionsService} service
 * @property {import("@lumino/commands").CommandRegistry} commands runs the
 *   actions of the rows' buttons and keys
 * @property {(message: string) => void} notify says why a key did nothing
 */

/** How often the list is fetched again while an execution runs... */
const POLL_RUNNING_MS = 2000;
/** ...and otherwise, should a live event have been missed. */
const POLL_IDLE_MS = 30000;
/** Live events closer together than this cost one fetch. */
const LIVE_DEBOUNCE_MS = 150;
/** Typing pauses this long before the server is asked for matches. */
const TYPING_DEBOUNCE_MS = 250;
/** Rows PageUp and PageDown move the selection by. */
const PAGE_ROWS = 10;
/** What the panel says when the server does not answer DAG Studio's API. */
const NO_EXTENSION =
  "The DAG Studio server extension is not enabled on this Jupyter server. " +
  "Enable it with `jupyter server extension enable dagstudio_jupyter` and " +
  "restart the server.";

/** The executions sidebar: a Lumino widget refreshing itself while shown. */
export class ExecutionsPanel extends Widget {
  /** @param {IExecutionsPanelOptions} options */
  constructor(options) {
    super();
    this.id = "dagstudio-executions";
    this.addClass("dagstudio-executions");
    this.title.caption = "DAG Studio executions";
    this._base = options.baseUrl;
    this._service = options.service;
    this._commands = options.commands;
    this._notify = options.notify;
    const doc = this.node.ownerDocument;
    const header = element(doc, "div", "dagstudio-executions-header");
    const refresh = /** @type {HTMLButtonElement} */ (
      element(doc, "button", "dagstudio-executions-refresh", "↻")
    );
    refresh.type = "button";
    refresh.title = "Refresh the list";
    refresh.setAttribute("aria-label", "Refresh the list");
    refresh.addEventListener("click", () => void this.refresh());
    header.append(
      element(doc, "h2", "dagstudio-executions-title", "DAG Studio executions"),
      refresh,
    );
    const filters = element(doc, "div", "dagstudio-executions-filters");
    this._text = /** @type {HTMLInputElement} */ (
      element(doc, "input", "dagstudio-executions-filter")
    );
    this._text.type = "search";
    this._text.placeholder = "Name, id or owner";
    // The server matches at most this much text.
    this._text.maxLength = 200;
    this._text.setAttribute("aria-label", "Filter executions by text");
    this._status = /** @type {HTMLSelectElement} */ (
      element(doc, "select", "dagstudio-executions-status-filter")
    );
    this._status.setAttribute("aria-label", "Filter executions by status");
    for (const value of ["", ...FILTER_STATUSES]) {
      const option = /** @type {HTMLOptionElement} */ (
        element(doc, "option", "", value === "" ? "All statuses" : value)
      );
      option.value = value;
      this._status.append(option);
    }
    filters.append(this._text, this._status);
    this._message = element(doc, "div", "dagstudio-executions-message");
    this._list = element(doc, "ul", "dagstudio-executions-list");
    this._list.setAttribute("role", "listbox");
    this._list.setAttribute("aria-label", "Executions");
    this._more = /** @type {HTMLButtonElement} */ (
      element(doc, "button", "dagstudio-executions-more", "Show older")
    );
    this._more.type = "button";
    this._more.hidden = true;
    this._more.addEventListener("click", () => {
      this._wanted += PAGE_SIZE;
      void this.refresh();
    });
    this.node.append(header, filters, this._message, this._list, this._more);
    // The rows narrow at once; the server is asked for every match after.
    const again = (/** @type {number} */ delay) => {
      this._render(this._knownNewestFirst());
      this._wanted = PAGE_SIZE;
      clearTimeout(this._typingTimer);
      this._typingTimer = setTimeout(() => void this.refresh(), delay);
    };
    this._text.addEventListener("input", () => again(TYPING_DEBOUNCE_MS));
    this._status.addEventListener("change", () => again(0));
    this._list.addEventListener("click", (event) => this._onClick(event));
    this._list.addEventListener("dblclick", (event) => this._onOpen(event));
    this._list.addEventListener("keydown", (event) => this._onKey(event));
    // The context menu acts on the row it was opened on.
    this._list.addEventListener("contextmenu", (event) => {
      const id = rowId(event.target);
      if (id !== null) this._select(id, false);
    });
    /** @type {ExecutionSummary[]} the last list fetched */
    this._all = [];
    /**
     * Every execution of the last unfiltered list and of the filtered ones
     * since, by id: a new filter narrows these at once, before the server
     * answers with its own matches.
     * @type {Map<string, ExecutionSummary>}
     */
    this._known = new Map();
    /** How many executions to list: one page, more after "Show older". */
    this._wanted = PAGE_SIZE;
    /** @type {string | null} */
    this._selected = null;
    /** Where the selected row was, to select its neighbour when it goes. */
    this._selectedIndex = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._typingTimer = undefined;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
    /** @type {AbortController | null} */
    this._request = null;
    this._running = false;
    /** @type {(() => void) | null} */
    this._release = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._liveTimer = undefined;
  }

  /** The id of the execution selected in the list, or null. */
  get selectedId() {
    return this._selected;
  }

  /**
   * The last fetched summary of an execution, if listed.
   * @param {string} id
   * @returns {ExecutionSummary | undefined}
   */
  find(id) {
    return this._all.find((execution) => execution.id === id);
  }

  /** Fetch the list now and render it; errors show in the panel. */
  async refresh() {
    this._request?.abort();
    const request = new AbortController();
    this._request = request;
    try {
      const { executions, more } = await this._service.list(
        this._wanted,
        request.signal,
        { status: this._status.value, q: this._text.value.trim() },
      );
      if (request.signal.aborted) return;
      this._more.hidden = !more;
      this._render(executions);
    } catch (error) {
      if (request.signal.aborted) return;
      console.warn("[dagstudio] cannot list executions:", String(error));
      this._message.textContent =
        error instanceof ApiError && error.status === 404
          ? NO_EXTENSION
          : `Cannot list executions: ${errorText(error)}`;
      this._message.dataset.kind = "error";
    } finally {
      if (this._request === request) {
        this._request = null;
        this._schedule();
      }
    }
  }

  /** Draw the rows again from the last list (an action's state changed). */
  redraw() {
    this._render(this._all);
  }

  /** Give the list keyboard focus, on its selected row. */
  focusList() {
    const row = this._row(this._selected) ?? this._list.querySelector("li");
    if (row instanceof HTMLElement) row.focus();
    else this._text.focus();
  }

  /** @param {import("@lumino/messaging").Message} msg */
  onAfterShow(msg) {
    super.onAfterShow(msg);
    this._poll();
    this._listen();
  }

  /** @param {import("@lumino/messaging").Message} msg */
  onBeforeHide(msg) {
    super.onBeforeHide(msg);
    this._stop();
  }

  /** @param {import("@lumino/messaging").Message} msg */
  onActivateRequest(msg) {
    super.onActivateRequest(msg);
    this.focusList();
  }

  dispose() {
    this._stop();
    super.dispose();
  }

  /** Refresh now; each answer schedules the next (see `_schedule`). */
  _poll() {
    this._stop();
    void this.refresh();
  }

  /**
   * Fetch again after a pause while shown: short while something runs,
   * long otherwise. Every answer, polled or brought by a live event,
   * restarts the wait, so a run that starts while the list is idle is
   * polled at the short pace from its first event on.
   */
  _schedule() {
    clearTimeout(this._timer);
    this._timer = undefined;
    if (!this.isVisible || this.isDisposed) return;
    const delay = this._running ? POLL_RUNNING_MS : POLL_IDLE_MS;
    this._timer = setTimeout(() => void this.refresh(), delay);
  }

  /** Follow the overview feed on the page's shared live socket. */
  _listen() {
    if (this._release !== null) return;
    const doc = this.node.ownerDocument;
    const base = resolveBaseUrl(pageConfigText(doc), this._base);
    this._release = sharedConnection(doc, base).subscribe({
      executionId: OVERVIEW,
      since: () => 0,
      onFrame: () => {
        clearTimeout(this._liveTimer);
        this._liveTimer = setTimeout(() => {
          if (this.isVisible) void this.refresh();
        }, LIVE_DEBOUNCE_MS);
      },
      // For styling and tests: "live" once the feed is subscribed.
      onState: (state) => {
        this.node.dataset.connection = state;
      },
      onRefused: () => {},
    });
  }

  _stop() {
    this._release?.();
    this._release = null;
    clearTimeout(this._liveTimer);
    clearTimeout(this._typingTimer);
    clearTimeout(this._timer);
    this._timer = undefined;
    this._request?.abort();
    this._request = null;
  }

  /** @param {MouseEvent} event */
  _onClick(event) {
    const target = /** @type {Element | null} */ (event.target);
    const id = rowId(target);
    if (id === null) return;
    this._select(id, true);
    const button = target?.closest("button[data-command]");
    if (button instanceof HTMLElement && button.dataset.command) {
      void this._commands.execute(button.dataset.command, { id });
    }
  }

  /** @param {MouseEvent} event */
  _onOpen(event) {
    const target = /** @type {Element | null} */ (event.target);
    if (target?.closest("button")) return;
    const id = rowId(target);
    if (id !== null)
      void this._commands.execute(CommandIDs.openExecution, { id });
  }

  /** @param {KeyboardEvent} event */
  _onKey(event) {
    const id = rowId(event.target);
    if (id === null) return;
    const rows = [...this._list.querySelectorAll("li.dagstudio-execution")];
    const at = rows.findIndex(
      (row) => row instanceof HTMLElement && row.dataset.id === id,
    );
    /** @type {Record<string, () => void>} */
    const keys = {
      ArrowDown: () => this._selectRow(rows[Math.min(at + 1, rows.length - 1)]),
      ArrowUp: () => this._selectRow(rows[Math.max(at - 1, 0)]),
      PageDown: () =>
        this._selectRow(rows[Math.min(at + PAGE_ROWS, rows.length - 1)]),
      PageUp: () => this._selectRow(rows[Math.max(at - PAGE_ROWS, 0)]),
      Home: () => this._selectRow(rows[0]),
      End: () => this._selectRow(rows[rows.length - 1]),
      Enter: () =>
        void this._commands.execute(CommandIDs.openExecution, { id }),
      Delete: () => {
        if (this._commands.isEnabled(CommandIDs.deleteExecution, { id })) {
          void this._commands.execute(CommandIDs.deleteExecution, { id });
        } else {
          this._notify(
            "Only a finished execution can be deleted; cancel it first.",
          );
        }
      },
    };
    const action = keys[event.key];
    if (action === undefined) return;
    event.preventDefault();
    action();
  }

  /** @param {Element | undefined} row */
  _selectRow(row) {
    if (row instanceof HTMLElement && row.dataset.id) {
      this._select(row.dataset.id, true);
    }
  }

  /**
   * Select the execution `id`; its row is the list's one Tab stop.
   * @param {string} id
   * @param {boolean} focus
   */
  _select(id, focus) {
    this._selected = id;
    const rows = this._list.querySelectorAll("li.dagstudio-execution");
    rows.forEach((row, index) => {
      if (!(row instanceof HTMLElement)) return;
      const chosen = row.dataset.id === id;
      row.setAttribute("aria-selected", String(chosen));
      row.tabIndex = chosen ? 0 : -1;
      if (chosen) this._selectedIndex = index;
      if (chosen && focus) row.focus();
    });
    this._commands.notifyCommandChanged();
  }

  /**
   * @param {string | null} id
   * @returns {HTMLElement | null}
   */
  _row(id) {
    if (id === null) return null;
    for (const row of this._list.querySelectorAll("li.dagstudio-execution")) {
      if (row instanceof HTMLElement && row.dataset.id === id) return row;
    }
    return null;
  }

  /** @returns {ExecutionSummary[]} */
  _knownNewestFirst() {
    const when = (/** @type {ExecutionSummary} */ execution) =>
      execution.created_at ?? "";
    return [...this._known.values()].sort((a, b) =>
      when(a) < when(b) ? 1 : when(a) > when(b) ? -1 : 0,
    );
  }

  /** @param {ExecutionSummary[]} all every execution fetched; the filters pick what shows */
  _render(all) {
    const doc = this.node.ownerDocument;
    if (all !== this._all) {
      const unfiltered =
        this._text.value.trim() === "" && this._status.value === "";
      if (unfiltered) this._known = new Map();
      for (const execution of all) this._known.set(execution.id, execution);
    }
    this._all = all;
    const executions = all.filter((execution) =>
      matchesFilter(execution, this._text.value, this._status.value),
    );
    this._message.replaceChildren();
    delete this._message.dataset.kind;
    const filtered =
      this._text.value.trim() !== "" || this._status.value !== "";
    if (executions.length === 0 && (all.length > 0 || filtered)) {
      this._message.append(
        element(
          doc,
          "p",
          "dagstudio-executions-empty",
          "No execution matches the filter.",
        ),
      );
    }
    if (all.length === 0 && !filtered) {
      this._message.append(
        element(
          doc,
          "p",
          "dagstudio-executions-empty",
          "No executions yet. Run a workflow on this Jupyter server from " +
            "a notebook and it shows up here:",
        ),
        element(doc, "pre", "dagstudio-executions-example", FIRST_RUN_EXAMPLE),
      );
    }
    const now = Date.now();
    this._running = all.some(
      (execution) =>
        execution.status === "running" || execution.status === "pending",
    );
    const at = executions.findIndex(
      (execution) => execution.id === this._selected,
    );
    if (at >= 0) {
      this._selectedIndex = at;
    } else {
      // The selected execution went (deleted, or filtered out): its
      // neighbour takes its place.
      const index = Math.min(this._selectedIndex, executions.length - 1);
      this._selected = executions[Math.max(index, 0)]?.id ?? null;
    }
    // Keep the focus on the selected row across the re-render.
    const focused = this._list.contains(doc.activeElement);
    this._list.replaceChildren(
      ...executions.map((execution) =>
        executionRow(
          doc,
          execution,
          now,
          execution.id === this._selected,
          (command, id) => this._commands.isEnabled(command, { id }),
        ),
      ),
    );
    if (focused) this._row(this._selected)?.focus();
    this._commands.notifyCommandChanged();
  }
}

/**
 * The execution id of the row holding `target`, or null.
 * @param {EventTarget | null} target
 * @returns {string | null}
 */
function rowId(target) {
  if (!(target instanceof Element)) return null;
  const row = target.closest("li.dagstudio-execution");
  return row instanceof HTMLElement ? (row.dataset.id ?? null) : null;
}
