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
import { ApiError } from "../widget/api.js";
import { CommandIDs } from "./command-ids.js";
import { executionRow } from "./execution-row.js";
import { matchesFilter } from "./format.js";
import { emptyListMessage, panelParts } from "./panel-parts.js";
import { RowSelection, rowId, sourceLinkId } from "./row-selection.js";
import { PAGE_SIZE, errorText } from "./service.js";

/** @typedef {import("./format.js").ExecutionSummary} ExecutionSummary */
/** @typedef {import("./service.js").ExecutionsService} ExecutionsService */
/** @typedef {import("./sources.js").SourceTracker} SourceTracker */

/**
 * @typedef {object} IExecutionsPanelOptions
 * @property {string} baseUrl the page's base URL path, ending in "/"
 * @property {ExecutionsService} service
 * @property {import("@lumino/commands").CommandRegistry} commands runs the
 *   actions of the rows' buttons and keys
 * @property {(message: string) => void} notify says why a key did nothing
 * @property {SourceTracker} sources which executions re-runs derive from
 *   are deleted, shared with the tabs
 */

/** How often the list is fetched again while an execution runs... */
const POLL_RUNNING_MS = 2000;
/** ...and otherwise, should a live event have been missed. */
const POLL_IDLE_MS = 30000;
/** Live events closer together than this cost one fetch. */
const LIVE_DEBOUNCE_MS = 150;
/** Typing pauses this long before the server is asked for matches. */
const TYPING_DEBOUNCE_MS = 250;
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
    this._sources = options.sources;
    const doc = this.node.ownerDocument;
    const parts = panelParts(doc);
    parts.refresh.addEventListener("click", () => void this.refresh());
    this._text = parts.text;
    this._status = parts.status;
    this._message = parts.message;
    this._list = parts.list;
    this._more = parts.more;
    this._more.addEventListener("click", () => {
      this._wanted += PAGE_SIZE;
      void this.refresh();
    });
    this.node.append(
      parts.header,
      parts.filters,
      this._message,
      this._list,
      this._more,
    );
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
      if (id !== null) this._selection.select(id, false);
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
    this._selection = new RowSelection(this._list, () =>
      this._commands.notifyCommandChanged(),
    );
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
    // A source found deleted turns its links into "(deleted)" text.
    this._unwatchSources = this._sources.onChange(() => this.redraw());
  }

  /** The id of the execution selected in the list, or null. */
  get selectedId() {
    return this._selection.id;
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
    const row = this._selection.row() ?? this._list.querySelector("li");
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
    this._unwatchSources();
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
      onFrame: (frame) => {
        if (frame.type === "deleted" && typeof frame.execution_id === "string")
          this._sources.markGone(frame.execution_id);
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
    this._selection.select(id, true);
    const button = target?.closest("button[data-command]");
    if (button instanceof HTMLElement && button.dataset.command) {
      // A source link names its own execution.
      const on = button.dataset.executionId ?? id;
      void this._commands.execute(button.dataset.command, { id: on });
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
    if (this._selection.move(event.key, id)) {
      event.preventDefault();
      return;
    }
    if (event.key === "Enter") {
      event.preventDefault();
      // On a row's "↳ from …" link, Enter opens the source.
      const open = sourceLinkId(event.target) ?? id;
      void this._commands.execute(CommandIDs.openExecution, { id: open });
    } else if (event.key === "Delete") {
      event.preventDefault();
      if (this._commands.isEnabled(CommandIDs.deleteExecution, { id })) {
        void this._commands.execute(CommandIDs.deleteExecution, { id });
      } else {
        this._notify(
          "Only a finished execution can be deleted; cancel it first.",
        );
      }
    }
  }

  /**
   * Ask once about sources the list does not show: listed ones are there.
   * @param {ExecutionSummary[]} all
   */
  _checkSources(all) {
    const unseen = new Set();
    for (const execution of all) {
      const source = execution.derived_from?.execution_id;
      if (typeof source === "string" && !this._known.has(source)) {
        unseen.add(source);
      }
    }
    this._sources.check(unseen);
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
      for (const execution of all) {
        this._known.set(execution.id, execution);
        this._sources.markPresent(execution.id);
      }
      this._checkSources(all);
    }
    this._all = all;
    const executions = all.filter((execution) =>
      matchesFilter(execution, this._text.value, this._status.value),
    );
    const filtered =
      this._text.value.trim() !== "" || this._status.value !== "";
    this._message.replaceChildren(
      ...emptyListMessage(doc, all.length, executions.length, filtered),
    );
    delete this._message.dataset.kind;
    const now = Date.now();
    this._running = all.some(
      (execution) =>
        execution.status === "running" || execution.status === "pending",
    );
    this._selection.keep(executions);
    // Keep the focus on the selected row across the re-render.
    const focused = this._list.contains(doc.activeElement);
    this._list.replaceChildren(
      ...executions.map((execution) =>
        executionRow(
          doc,
          execution,
          now,
          execution.id === this._selection.id,
          (command, id) => this._commands.isEnabled(command, { id }),
          (id) => this._sources.isGone(id),
        ),
      ),
    );
    if (focused) this._selection.row()?.focus();
    this._commands.notifyCommandChanged();
  }
}
