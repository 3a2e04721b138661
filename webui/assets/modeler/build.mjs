// `npm run build` (run by `make install`): the modeler page's script and styles, bundled from npm packages by
// esbuild into webui/static/build/ (git-ignored), with the BPMN icon font beside them. Nothing is fetched at
// run time: the page loads only what Whistle serves.
import * as esbuild from "esbuild";

const fonts = Object.fromEntries(["eot", "svg", "ttf", "woff", "woff2"].map((ext) => ["." + ext, "file"]));

await esbuild.build({
  entryPoints: { modeler: "webui/assets/modeler/main.js" },
  outdir: "webui/static/build",
  bundle: true,
  minify: true,
  sourcemap: true,
  format: "iife",
  target: "es2020",
  loader: fonts,
  assetNames: "assets/[name]-[hash]",
  legalComments: "linked",
  logLevel: "warning",
});
