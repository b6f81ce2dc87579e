// @ts-check
/**
 * The JupyterLab extension of DAG Studio: the executions sidebar, each
 * execution's graph in a main-area tab, and commands for both.
 */
import { ILayoutRestorer } from "@jupyterlab/application";
import {
  Dialog,
  ICommandPalette,
  Notification,
  WidgetTracker,
  showDialog,
  showErrorMessage,
} from "@jupyterlab/apputils";
import { PageConfig } from "@jupyterlab/coreutils";
import { LabIcon } from "@jupyterlab/ui-components";
import "../widget/widget.css";
import { CommandIDs } from "./command-ids.js";
import { createExecutionTab } from "./execution-tab.js";
import { ExecutionsPanel } from "./executions-panel.js";
import { actionsFor, displayName, resumeAllowed } from "./format.js";
import { ExecutionsService, errorText } from "./service.js";
import { SourceTracker } from "./sources.js";
import "./style.css";

/** @typedef {import("@jupyterlab/application").JupyterFrontEnd} JupyterFrontEnd */
/** @typedef {import("@jupyterlab/apputils").MainAreaWidget<import("./execution-tab.js").ExecutionView>} ExecutionTab */

/** A small graph of three nodes, drawn in the theme's icon colour. */
const ICON_SVG = `<svg xmlns="http://www.w3.org/2000/svg" width="16" height="16" viewBox="0 0 16 16">
  <g class="jp-icon3" fill="#616161">
    <circle cx="3.5" cy="3.5" r="2.5"/>
    <circle cx="3.5" cy="12.5" r="2.5"/>
    <circle cx="12.5" cy="8" r="2.5"/>
    <path d="M5 4.5 11 7.3v1.4L5 11.5v-1.3L9.6 8 5 5.8z"/>
  </g>
</svg>`;

export const dagstudioIcon = new LabIcon({
  name: "dagstudio-jupyter:executions",
  svgstr: ICON_SVG,
});

/** The palette's category for the extension's commands. */
const CATEGORY = "DAG Studio";

/**
 * Register the commands; those on one execution act on `args.id`, else on
 * the execution selected in the panel.
 * @param {JupyterFrontEnd} app
 * @param {ExecutionsPanel} panel
 * @param {ExecutionsService} service
 * @param {WidgetTracker<ExecutionTab>} tracker
 * @param {string} base the page's base URL path
 * @param {SourceTracker} sources
 */
function addCommands(app, panel, service, tracker, base, sources) {
  const { commands, shell } = app;
  /** Actions on their way, as "command id": a second click waits for the first. */
  const busy = new Set();
  /** @param {any} args */
  const target = (args) =>
    typeof args?.id === "string" && args.id !== "" ? args.id : panel.selectedId;
  /**
   * Whether the status the panel last saw allows an action. An execution
   * the panel has not listed is left to the server to judge.
   * @param {any} args
   * @param {"cancel" | "retry" | "resume" | "remove"} action
   */
  const allowed = (args, action) => {
    const id = target(args);
    if (id === null || [...busy].some((key) => key.endsWith(` ${id}`))) {
      return false;
    }
    const known = panel.find(id);
    if (known === undefined) return true;
    return action === "resume"
      ? resumeAllowed(known.status)
      : actionsFor(known.status)[action];
  };
  /**
   * Call the server, then refresh the list; show a failure in a dialog.
   * While the call is on its way the execution takes no other action.
   * @param {string} command
   * @param {string} id
   * @param {string} title
   * @param {() => Promise<any>} call
   * @returns {Promise<any>} the server's answer, undefined after a failure
   */
  const act = async (command, id, title, call) => {
    const key = `${command} ${id}`;
    busy.add(key);
    commands.notifyCommandChanged();
    panel.redraw();
    try {
      return await call();
    } catch (error) {
      console.warn(`[dagstudio] ${title}:`, String(error));
      await showErrorMessage(title, errorText(error));
      return undefined;
    } finally {
      busy.delete(key);
      commands.notifyCommandChanged();
      await panel.refresh();
    }
  };

  commands.addCommand(CommandIDs.showExecutions, {
    label: "Show DAG Studio Executions",
    caption: "Show the list of DAG Studio executions",
    execute: () => {
      shell.activateById(panel.id);
      panel.focusList();
    },
  });
  commands.addCommand(CommandIDs.refreshExecutions, {
    label: "Refresh DAG Studio Executions",
    execute: () => panel.refresh(),
  });
  commands.addCommand(CommandIDs.openExecution, {
    label: "Open Execution Graph",
    caption: "Open the execution's graph in a tab, following it live",
    isEnabled: (args) => target(args) !== null,
    execute: async (args) => {
      const id = target(args);
      if (id === null) return;
      const open = tracker.find((tab) => tab.content.executionId === id);
      if (open) {
        shell.activateById(open.id);
        return;
      }
      const tab = createExecutionTab(id, dagstudioIcon, {
        service,
        baseUrl: base,
        sources,
        open: (source) =>
          void commands.execute(CommandIDs.openExecution, { id: source }),
      });
      await tracker.add(tab);
      shell.add(tab, "main");
      shell.activateById(tab.id);
    },
  });
  commands.addCommand(CommandIDs.cancelExecution, {
    label: "Cancel Execution",
    caption: "Cancel the running execution",
    isEnabled: (args) => allowed(args, "cancel"),
    execute: async (args) => {
      const id = target(args);
      if (id === null) return;
      await act(
        CommandIDs.cancelExecution,
        id,
        "Could not cancel the execution",
        () => service.cancel(id),
      );
    },
  });
  commands.addCommand(CommandIDs.retryExecution, {
    label: "Retry Failed Phases",
    caption: "Run the failed and cancelled phases of the execution again",
    isEnabled: (args) => allowed(args, "retry"),
    execute: async (args) => {
      const id = target(args);
      if (id === null) return;
      await act(
        CommandIDs.retryExecution,
        id,
        "Could not retry the execution",
        () => service.retry(id),
      );
    },
  });
  commands.addCommand(CommandIDs.resumeExecution, {
    label: "Run Again from Failure",
    caption:
      "Start a new execution from the failed or cancelled phases, reusing " +
      "the results that completed, and open it",
    isEnabled: (args) => allowed(args, "resume"),
    execute: async (args) => {
      const id = target(args);
      if (id === null) return;
      const started = await act(
        CommandIDs.resumeExecution,
        id,
        "Could not run the execution again",
        () => service.rerun(id, { mode: "resume" }),
      );
      // Outside `act`: a failure to open is not a failure to start.
      if (typeof started?.id === "string") {
        await commands.execute(CommandIDs.openExecution, { id: started.id });
      }
    },
  });
  /** The execution `args` (or the selection) derives from, if listed. */
  const sourceOf = (/** @type {any} */ args) => {
    const id = target(args);
    const source = id === null ? undefined : panel.find(id)?.derived_from;
    return source?.execution_id ?? null;
  };
  commands.addCommand(CommandIDs.openSourceExecution, {
    label: "Open Source Execution",
    caption: "Open the execution this re-run derives from",
    isVisible: (args) => sourceOf(args) !== null,
    isEnabled: (args) => {
      const source = sourceOf(args);
      return source !== null && !sources.isGone(source);
    },
    execute: async (args) => {
      const source = sourceOf(args);
      if (source === null) return;
      await commands.execute(CommandIDs.openExecution, { id: source });
    },
  });
  commands.addCommand(CommandIDs.deleteExecution, {
    label: "Delete Execution…",
    caption: "Delete the finished execution and its events",
    isEnabled: (args) => allowed(args, "remove"),
    execute: async (args) => {
      const id = target(args);
      if (id === null) return;
      const name = displayName(panel.find(id)?.name, id);
      const answer = await showDialog({
        title: "Delete execution?",
        body:
          `Delete “${name}” (${id}) with its phases and events? ` +
          "This cannot be undone.",
        buttons: [
          Dialog.cancelButton(),
          Dialog.warnButton({ label: "Delete" }),
        ],
      });
      if (!answer.button.accept) return;
      await act(
        CommandIDs.deleteExecution,
        id,
        "Could not delete the execution",
        () => service.remove(id),
      );
    },
  });
}

/**
 * Say once, at start, when the server does not answer DAG Studio's API:
 * the Python package is there but its server extension is not enabled.
 * @param {ExecutionsService} service
 */
async function checkServerExtension(service) {
  try {
    if (await service.available()) return;
  } catch (error) {
    // Another failure (server down, say) shows in the panel itself.
    console.warn("[dagstudio] cannot reach the server:", String(error));
    return;
  }
  console.error("[dagstudio] the server extension does not answer");
  await showErrorMessage(
    "DAG Studio server extension not found",
    "This Jupyter server does not answer DAG Studio's API, so the " +
      "executions sidebar stays empty. Enable the server extension with " +
      "`jupyter server extension enable dagstudio_jupyter` and restart " +
      "the server.",
  );
}

/** @type {import("@jupyterlab/application").JupyterFrontEndPlugin<void>} */
const executionsPlugin = {
  id: "dagstudio-jupyter:executions",
  description:
    "A left-sidebar list of DAG Studio executions and their graphs in tabs.",
  autoStart: true,
  optional: [ICommandPalette, ILayoutRestorer],
  activate: (
    /** @type {JupyterFrontEnd} */ app,
    /** @type {import("@jupyterlab/apputils").ICommandPalette | null} */ palette,
    /** @type {import("@jupyterlab/application").ILayoutRestorer | null} */ restorer,
  ) => {
    // The API lives under the page's base path; a path keeps requests
    // same-origin whatever host name the page was opened with.
    const base = new URL(PageConfig.getBaseUrl()).pathname;
    const service = new ExecutionsService(document, base);
    const sources = new SourceTracker((id) => service.exists(id));
    const panel = new ExecutionsPanel({
      baseUrl: base,
      service,
      sources,
      commands: app.commands,
      notify: (message) => {
        Notification.warning(message, { autoClose: 5000 });
      },
    });
    panel.title.icon = dagstudioIcon;
    app.shell.add(panel, "left", { rank: 600 });
    /** @type {WidgetTracker<ExecutionTab>} */
    const tracker = new WidgetTracker({ namespace: "dagstudio-execution" });
    addCommands(app, panel, service, tracker, base, sources);

    for (const command of Object.values(CommandIDs)) {
      palette?.addItem({ command, category: CATEGORY });
    }
    const rows = ".dagstudio-executions .dagstudio-execution";
    [
      CommandIDs.openExecution,
      CommandIDs.openSourceExecution,
      CommandIDs.cancelExecution,
      CommandIDs.retryExecution,
      CommandIDs.resumeExecution,
      CommandIDs.deleteExecution,
    ].forEach((command, rank) =>
      app.contextMenu.addItem({ command, selector: rows, rank }),
    );

    if (restorer) {
      restorer.add(panel, "dagstudio-executions");
      // Tabs open at a refresh come back, following their runs again.
      void restorer.restore(tracker, {
        command: CommandIDs.openExecution,
        args: (tab) => ({ id: tab.content.executionId }),
        name: (tab) => tab.content.executionId,
      });
    }
    void checkServerExtension(service);
  },
};

export default [executionsPlugin];
