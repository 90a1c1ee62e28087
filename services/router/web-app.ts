// The web UI's files, served by the router on its own port beside the RPCs (no second server, no CDN). The bundle
// (scripts/bundle-web.mjs, from web/) is small, so it is read into memory once at start, gzipped once when first
// asked for, and served from there. Every file but index.html has a content hash in its name and is cached for a year; index.html is
// revalidated on every load (its ETag), so a new deploy is picked up at once. The app's pages (`/tasks/ID`) get
// index.html, whose script routes them; any other path that is not an RPC, an asset or /metrics gets it too, with
// status 404, and the app says there is no such page.
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";
import { METRICS_PATH } from "../common/metrics.js";
import type { RequestHandler } from "../common/serve.js";

/** Written by the bundler beside the files: marks a built bundle (web/ itself holds the sources). */
export const BUNDLE_MANIFEST = "bundle.json";
/** A bundle larger than this is refused rather than held in memory. */
const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;

const TYPES: Record<string, string> = {
  html: "text/html; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  css: "text/css; charset=utf-8",
  map: "application/json; charset=utf-8",
  json: "application/json; charset=utf-8",
  svg: "image/svg+xml",
  png: "image/png",
  woff2: "font/woff2",
};
const COMPRESSIBLE = new Set(["html", "js", "css", "map", "json", "svg"]);

/** The app's pages (web/src/app/routes.ts); other paths are answered 404, with the app's "no such page". */
const PAGES = /^\/(?:tasks(?:\/[^/]+)?|workers)?$/;

/**
 * What a page of the app may do: scripts, styles and connections to this origin only (no external requests of any
 * kind). Inline styles are allowed because the terminal (xterm.js) writes its theme and cell sizes into <style>
 * elements and style attributes at run time (without 'unsafe-inline' Chromium blocks hundreds of them and the
 * terminal breaks); scripts stay strictly same-origin.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "manifest-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join("; ");

const SECURITY_HEADERS: Record<string, string> = {
  "content-security-policy": CONTENT_SECURITY_POLICY,
  "x-content-type-options": "nosniff",
  "referrer-policy": "no-referrer",
  "x-frame-options": "DENY",
  "cross-origin-opener-policy": "same-origin",
};

interface WebFile {
  type: string;
  body: Buffer;
  /** Compressed on first request, then kept. */
  gzip: Buffer | undefined;
  compressible: boolean;
  etag: string;
  cacheControl: string;
}

export interface WebApp {
  /** Serves the app's files and pages; everything else (RPCs) goes to `next`. */
  handler(next: RequestHandler): RequestHandler;
  /** Files served and their bytes, for the start-up log line. */
  readonly files: number;
  readonly bytes: number;
}

/**
 * Where the built bundle is: dist/web beside dist/services when running built code, beside dist/cc when bundled into
 * `cc` (its `cc up`), or from the sources.
 */
export function defaultWebDir(): string | undefined {
  const candidates = ["../../web/", "../web/", "../../dist/web/"].map((p) => fileURLToPath(new URL(p, import.meta.url)));
  return candidates.find((dir) => existsSync(join(dir, BUNDLE_MANIFEST)));
}

function* walk(dir: string): Generator<string> {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) yield* walk(path);
    else if (entry.isFile()) yield path;
  }
}

/** Reads a built bundle into memory. */
export function loadWebApp(dir: string): WebApp {
  const files = new Map<string, WebFile>();
  let bytes = 0;
  for (const path of walk(dir)) {
    const name = relative(dir, path).split("\\").join("/");
    if (name === BUNDLE_MANIFEST) continue;
    bytes += statSync(path).size;
    if (bytes > MAX_BUNDLE_BYTES) throw new Error(`the web bundle in ${dir} is over ${MAX_BUNDLE_BYTES} bytes`);
    const body = readFileSync(path);
    const ext = name.slice(name.lastIndexOf(".") + 1);
    const hashed = name.startsWith("assets/");
    files.set(`/${name}`, {
      type: TYPES[ext] ?? "application/octet-stream",
      body,
      gzip: undefined,
      compressible: COMPRESSIBLE.has(ext),
      etag: `"${createHash("sha256").update(body).digest("base64url").slice(0, 22)}"`,
      // Hashed names never change content; index.html must be checked on every load to pick up a new bundle.
      cacheControl: hashed ? "public, max-age=31536000, immutable" : "no-cache",
    });
  }
  const index = files.get("/index.html");
  if (!index) throw new Error(`the web bundle in ${dir} has no index.html; run npm run build`);
  files.delete("/index.html");

  const send = (req: Parameters<RequestHandler>[0], res: Parameters<RequestHandler>[1], file: WebFile, status = 200) => {
    for (const [k, v] of Object.entries(SECURITY_HEADERS)) res.setHeader(k, v);
    res.setHeader("cache-control", file.cacheControl);
    res.setHeader("etag", file.etag);
    res.setHeader("vary", "accept-encoding");
    if (status === 200 && req.headers["if-none-match"] === file.etag) {
      res.statusCode = 304;
      res.end();
      return;
    }
    const gzip = file.compressible && /\bgzip\b/.test(String(req.headers["accept-encoding"] ?? "")) ? (file.gzip ??= gzipSync(file.body, { level: 9 })) : undefined;
    const body = gzip ?? file.body;
    res.statusCode = status;
    res.setHeader("content-type", file.type);
    res.setHeader("content-length", body.length);
    if (gzip) res.setHeader("content-encoding", "gzip");
    if (req.method === "HEAD") res.end();
    else res.end(body);
  };

  const notFound = (res: Parameters<RequestHandler>[1]) => {
    res.statusCode = 404;
    res.setHeader("content-type", "text/plain; charset=utf-8");
    res.setHeader("x-content-type-options", "nosniff");
    res.end("not found\n");
  };

  return {
    files: files.size + 1,
    bytes,
    handler(next) {
      return (req, res) => {
        if (req.method !== "GET" && req.method !== "HEAD") return next(req, res);
        const path = (req.url ?? "/").split("?", 1)[0]!;
        // RPCs are /package.Service/Method: a dot in the first segment.
        const first = path.split("/", 2)[1] ?? "";
        if (first.includes(".") || path === METRICS_PATH) return next(req, res);
        if (path.startsWith("/assets/")) {
          const file = files.get(path);
          return file ? send(req, res, file) : notFound(res);
        }
        send(req, res, index, PAGES.test(path) ? 200 : 404);
      };
    },
  };
}
