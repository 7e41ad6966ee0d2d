// Builds the versioned bundle dist/leadbridge-ui-<version>.js (one ES2020 script, no runtime dependency) with
// esbuild, or, with --tests, the unit tests into test-build/ for `node --test`.
import { build } from "esbuild";
import { readFileSync, readdirSync, rmSync, writeFileSync, mkdirSync } from "node:fs";

const { version } = JSON.parse(readFileSync(new URL("./package.json", import.meta.url), "utf8"));
const tests = process.argv.includes("--tests");

if (tests) {
  rmSync("test-build", { recursive: true, force: true });
  await build({
    entryPoints: readdirSync("test").filter((f) => f.endsWith(".test.ts")).map((f) => `test/${f}`),
    outdir: "test-build",
    outExtension: { ".js": ".mjs" },
    bundle: true,
    platform: "node",
    format: "esm",
    target: "node20",
    logLevel: "warning",
  });
} else {
  rmSync("dist", { recursive: true, force: true });
  const outfile = `dist/leadbridge-ui-${version}.js`;
  await build({
    entryPoints: ["src/index.ts"],
    outfile,
    bundle: true,
    format: "iife",
    globalName: "LeadbridgeUI",
    target: "es2020",
    minify: true,
    sourcemap: "linked",
    legalComments: "none",
    define: { __LEADBRIDGE_UI_VERSION__: JSON.stringify(version) },
    banner: { js: `/* leadbridge-ui ${version} */` },
    logLevel: "warning",
  });
  // The demo page and the docs name the bundle through this manifest instead of hard-coding the version.
  mkdirSync("dist", { recursive: true });
  writeFileSync("dist/manifest.json", JSON.stringify({ version, script: `leadbridge-ui-${version}.js` }, null, 2) + "\n");
  console.log(`built ${outfile}`);
}
