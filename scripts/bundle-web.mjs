// Bundles the web UI (web/) into dist/web/, which the router serves at / (services/router/web-app.ts): index.html
// plus content-hashed files under assets/, so every asset can be cached for a year and a new build is picked up at
// once. The terminal (xterm.js) and the transcript renderer (Markdown, highlighting) are chunks of their own, loaded
// only by the pages that need them. Prints each file's size, raw and gzipped, and writes them to bundle.json.
import { createHash } from "node:crypto";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";
import { build } from "esbuild";

const OUT = "dist/web";
const ASSETS = join(OUT, "assets");

rmSync(OUT, { recursive: true, force: true });
mkdirSync(ASSETS, { recursive: true });

const result = await build({
  entryPoints: { app: "web/src/main.ts" },
  outdir: ASSETS,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "browser",
  // Browsers of the last few years: native class fields, top-level await, optional chaining.
  target: ["chrome111", "firefox114", "safari16.4"],
  entryNames: "[name]-[hash]",
  chunkNames: "[name]-[hash]",
  assetNames: "[name]-[hash]",
  minify: true,
  sourcemap: "linked",
  legalComments: "none",
  metafile: true,
  logLevel: "warning",
  define: { "process.env.NODE_ENV": '"production"' },
});

/** The entry's script and stylesheet, by their hashed names. */
const outputs = Object.entries(result.metafile.outputs);
const entry = outputs.find(([, o]) => o.entryPoint === "web/src/main.ts");
if (!entry) throw new Error("esbuild produced no entry script");
const script = basename(entry[0]);
const stylesheet = entry[1].cssBundle ? basename(entry[1].cssBundle) : undefined;

// The icon is not imported by any script, so it is hashed here.
const icon = readFileSync("web/favicon.svg");
const iconName = `favicon-${createHash("sha256").update(icon).digest("hex").slice(0, 8).toUpperCase()}.svg`;
writeFileSync(join(ASSETS, iconName), icon);

const html = readFileSync("web/index.html", "utf8")
  .replace("<!-- stylesheet -->", stylesheet ? `<link rel="stylesheet" href="/assets/${stylesheet}">` : "")
  .replace("<!-- script -->", `<script type="module" src="/assets/${script}"></script>`)
  .replace("<!-- icon -->", `<link rel="icon" type="image/svg+xml" href="/assets/${iconName}">`);
if (html.includes("<!-- ")) throw new Error("web/index.html has a placeholder the bundler does not fill");
writeFileSync(join(OUT, "index.html"), html);

// Sizes: what a browser downloads (gzip, as the router serves it), per file; source maps are not downloaded.
const files = {};
const rows = [];
const add = (name, body) => {
  const gzip = gzipSync(body, { level: 9 }).length;
  files[name] = { bytes: body.length, gzip };
  rows.push([name, body.length, gzip]);
};
add("index.html", Buffer.from(html));
for (const [path] of outputs) if (!path.endsWith(".map")) add(`assets/${basename(path)}`, readFileSync(path));
add(`assets/${iconName}`, icon);
// The first load: the page, the entry script with every chunk it imports statically, the stylesheet, the icon.
const staticImports = (path, seen = new Set()) => {
  if (seen.has(path)) return seen;
  seen.add(path);
  for (const i of result.metafile.outputs[path]?.imports ?? []) if (i.kind === "import-statement" && !i.external) staticImports(i.path, seen);
  return seen;
};
const first = ["index.html", ...[...staticImports(entry[0])].map((p) => `assets/${basename(p)}`), ...(stylesheet ? [`assets/${stylesheet}`] : []), `assets/${iconName}`];
const firstLoad = first.reduce((sum, name) => sum + files[name].gzip, 0);
writeFileSync(join(OUT, "bundle.json"), JSON.stringify({ files, firstLoad: first, firstLoadGzip: firstLoad }, null, 2) + "\n");

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
if (!process.argv.includes("--quiet")) {
  for (const [name, bytes, gzip] of rows.sort((a, b) => b[1] - a[1])) console.log(`web: ${name.padEnd(40)} ${kb(bytes).padStart(10)}  ${kb(gzip).padStart(10)} gzip`);
  console.log(`web: first load (the task list: ${first.length} files) ${kb(firstLoad)} gzip; the terminal and the transcript load with their pages`);
}
