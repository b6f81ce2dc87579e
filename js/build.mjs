// @ts-check
/**
 * Bundle the widget for the Python package: everything, dagre included,
 * goes into dagstudio_jupyter/static/, so nothing is fetched at run time.
 *
 *   node js/build.mjs          minified
 *   node js/build.mjs --dev    readable, with an inline source map
 *   node js/build.mjs --watch  rebuild on change (with --dev for HMR work)
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as esbuild from "esbuild";

const root = fileURLToPath(new URL("..", import.meta.url));
const dev = process.argv.includes("--dev");
const watch = process.argv.includes("--watch");

/**
 * The bundle carries dagre (with graphlib inside it), so it carries
 * dagre's MIT notice too; its own build only points at a side file.
 */
function thirdPartyNotice() {
  const license = readFileSync(
    new URL("../node_modules/@dagrejs/dagre/LICENSE", import.meta.url),
    "utf8",
  );
  return `/*! Bundled: @dagrejs/dagre and @dagrejs/graphlib\n\n${license
    .replaceAll("*/", "* /")
    .trim()}\n*/`;
}

/** @type {esbuild.BuildOptions} */
const common = {
  absWorkingDir: root,
  bundle: true,
  minify: !dev,
  sourcemap: dev ? "inline" : false,
  logLevel: "info",
  target: ["es2022", "chrome100", "firefox100", "safari16"],
};

/** @type {esbuild.BuildOptions[]} */
const builds = [
  {
    ...common,
    entryPoints: ["js/widget/index.js"],
    outfile: "dagstudio_jupyter/static/widget.js",
    format: "esm",
    platform: "browser",
    footer: { js: thirdPartyNotice() },
  },
  {
    ...common,
    entryPoints: ["js/widget/widget.css"],
    outfile: "dagstudio_jupyter/static/widget.css",
  },
];

if (watch) {
  for (const options of builds) {
    const context = await esbuild.context(options);
    await context.watch();
  }
} else {
  await Promise.all(builds.map((options) => esbuild.build(options)));
}
