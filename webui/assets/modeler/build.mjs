// `npm run build` (run by `make install`): the modeler's and the form and decision editors' scripts and styles,
// the dashboards' charts (Apache ECharts, webui/assets/dashboard/),
// bundled from npm packages by esbuild into webui/static/build/ (git-ignored), with the BPMN and DMN icon fonts
// beside them. Nothing is fetched at run time: the page loads only what Whistle serves.
import * as esbuild from "esbuild";

const fonts = Object.fromEntries(["eot", "svg", "ttf", "woff", "woff2"].map((ext) => ["." + ext, "file"]));

await esbuild.build({
  entryPoints: { modeler: "webui/assets/modeler/main.js", editor: "webui/assets/modeler/editor.js",
                 dashboard: "webui/assets/dashboard/main.js" },
  outdir: "webui/static/build",
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: "es2020",
  loader: fonts,
  // One preact for every bundle: form-js-editor pins an older copy of its own, and its components render the
  // viewer's (which use the top one) — two copies of preact's hooks break each other.
  alias: { preact: "./node_modules/preact" },
  assetNames: "assets/[name]-[hash]",
  legalComments: "linked",
  logLevel: "warning",
});
