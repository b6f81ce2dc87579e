// @ts-check
/**
 * Additions to JupyterLab's build of the extension: the layout worker's
 * code, bundled by js/build.mjs (which `build:all` runs first), inlined as
 * text as in the widget bundle, so big graphs in tabs are laid out off the
 * main thread too.
 */
const fs = require("node:fs");
const path = require("node:path");
// JupyterLab's builder runs rspack, whose DefinePlugin matches webpack's.
const { DefinePlugin } = require("@rspack/core");

const workerFile = path.resolve(__dirname, "../../build/layout-worker.js");
if (!fs.existsSync(workerFile)) {
  throw new Error(
    `[dagstudio] ${workerFile} is missing: run "npm run build" before "npm run build:lab"`,
  );
}

module.exports = {
  plugins: [
    new DefinePlugin({
      __DAGSTUDIO_LAYOUT_WORKER__: JSON.stringify(
        fs.readFileSync(workerFile, "utf8"),
      ),
    }),
  ],
};
