// @ts-check
/**
 * Bundle the widget for the Python package into dagstudio_jupyter/static/,
 * so nothing is fetched at run time. The layout worker is bundled first and
 * its code inlined into the widget bundle as text (the global
 * `__DAGSTUDIO_LAYOUT_WORKER__`), because anywidget loads the widget from a
 * blob URL and a worker file beside it could not be fetched.
 *
 *   node js/build.mjs          minified
 *   node js/build.mjs --dev    readable, with an inline source map
 *   node js/build.mjs --watch  rebuild on change (with --dev for HMR work)
 */
import { mkdir, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dev = process.argv.includes("--dev");
const watch = process.argv.includes("--watch");

/** @type {esbuild.BuildOptions} */
const common = {
  absWorkingDir: root,
  bundle: true,
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  logLevel: "info",
  target: ["es2022", "chrome100", "firefox100", "safari16"],
};

/** @type {esbuild.BuildOptions} */
const worker = {
  ...common,
  entryPoints: ["js/widget/layout-worker.js"],
  // A classic script: module workers from blob URLs are not everywhere.
  format: "iife",
  platform: "browser",
  write: false,
};

/**
 * The widget bundle, with the worker's code inlined.
 * @param {string} workerSource
 * @returns {esbuild.BuildOptions}
 */
function widget(workerSource) {
  return {
    ...common,
    entryPoints: ["js/widget/index.js"],
    outfile: "dagstudio_jupyter/static/widget.js",
    format: "esm",
    platform: "browser",
    define: { __DAGSTUDIO_LAYOUT_WORKER__: JSON.stringify(workerSource) },
  };
}

/** @type {esbuild.BuildOptions} */
const styles = {
  ...common,
  entryPoints: ["js/widget/widget.css"],
  outfile: "dagstudio_jupyter/static/widget.css",
};

/**
 * @param {esbuild.BuildResult} result
 * @returns {string}
 */
function workerText(result) {
  const file = result.outputFiles?.[0];
  if (!file) throw new Error("[dagstudio] the layout worker built no output");
  return file.text;
}

if (watch) {
  /** @type {esbuild.BuildContext | null} */
  let widgetContext = null;
  // The inlined text is fixed when a context is made, so each worker
  // rebuild makes a new widget context.
  const workerContext = await esbuild.context({
    ...worker,
    plugins: [
      {
        name: "inline-layout-worker",
        setup(build) {
          build.onEnd(async (result) => {
            if (result.errors.length > 0) return;
            await widgetContext?.dispose();
            widgetContext = await esbuild.context(widget(workerText(result)));
            await widgetContext.watch();
          });
        },
      },
    ],
  });
  await workerContext.watch();
  await (await esbuild.context(styles)).watch();
} else {
  const source = workerText(await esbuild.build(worker));
  await Promise.all([esbuild.build(widget(source)), esbuild.build(styles)]);
  // The JupyterLab extension inlines the same worker (js/lab/webpack.config.cjs).
  await mkdir(`${root}build`, { recursive: true });
  await writeFile(`${root}build/layout-worker.js`, source);
}
