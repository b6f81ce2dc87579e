// @ts-check
/**
 * The ids of the extension's commands, as `dagstudio:verb-noun`. Those
 * acting on one execution take `{ id }`; without it they act on the
 * execution selected in the sidebar.
 */
export const CommandIDs = Object.freeze({
  /** Bring the executions sidebar forward. */
  showExecutions: "dagstudio:show-executions",
  /** Fetch the list of executions again. */
  refreshExecutions: "dagstudio:refresh-executions",
  /** Open an execution's graph in a main-area tab. */
  openExecution: "dagstudio:open-execution",
  /** Cancel a running execution. */
  cancelExecution: "dagstudio:cancel-execution",
  /** Run the failed and cancelled part of an execution again, in place. */
  retryExecution: "dagstudio:retry-execution",
  /**
   * Start a new execution from the failure of a failed or cancelled one,
   * reusing its completed results, and open the new one's tab.
   */
  resumeExecution: "dagstudio:resume-execution",
  /** Open the tab of the execution a re-run derives from. */
  openSourceExecution: "dagstudio:open-source-execution",
  /** Forget a finished execution, after asking. */
  deleteExecution: "dagstudio:delete-execution",
});
