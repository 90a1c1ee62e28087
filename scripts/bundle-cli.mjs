// Bundles the CLI (cli/main.ts and everything it imports) into dist/cc/: main.js plus chunks for what commands load
// lazily. Node spends most of an unbundled `cc run` resolving and loading a few hundred ESM files (clipanion,
// connect, protobuf-es, the generated code): bundled, `cc run` starts about 100 ms sooner (docs/benchmarks.md).
// Native and worker-side packages stay external; only the embedded local cluster loads them.
import { chmodSync, rmSync } from "node:fs";
import { build } from "esbuild";

const OUT = "dist/cc";

rmSync(OUT, { recursive: true, force: true });
await build({
  entryPoints: ["cli/main.ts"],
  outdir: OUT,
  bundle: true,
  splitting: true,
  format: "esm",
  platform: "node",
  target: "node22",
  chunkNames: "chunks/[name]-[hash]",
  external: ["node-pty", "pino", "prom-client", "@anthropic-ai/claude-code"],
  // CommonJS dependencies (yaml) require Node built-ins; an ESM bundle has no `require` of its own to give them.
  banner: { js: "import { createRequire as __ccCreateRequire } from 'node:module'; const require = __ccCreateRequire(import.meta.url);" },
  sourcemap: true,
  legalComments: "none",
  logLevel: "warning",
});
chmodSync(`${OUT}/main.js`, 0o755);
