// @ts-check
/**
 * The JupyterLab extension of DAG Studio: the executions sidebar.
 */
import { PageConfig } from "@jupyterlab/coreutils";
import { LabIcon } from "@jupyterlab/ui-components";
import { ExecutionsPanel } from "./executions-panel.js";
import "./style.css";

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

/** @type {import("@jupyterlab/application").JupyterFrontEndPlugin<void>} */
const executionsPlugin = {
  id: "dagstudio-jupyter:executions",
  description: "A left-sidebar list of DAG Studio executions.",
  autoStart: true,
  activate: (app) => {
    // The API lives under the page's base path; a path keeps requests
    // same-origin whatever host name the page was opened with.
    const base = new URL(PageConfig.getBaseUrl()).pathname;
    const panel = new ExecutionsPanel({ baseUrl: base });
    panel.title.icon = dagstudioIcon;
    app.shell.add(panel, "left", { rank: 600 });
  },
};

export default [executionsPlugin];
