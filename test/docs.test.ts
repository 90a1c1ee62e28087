// The README's settings tables are the settings tables of the code. `UPDATE_DOCS=1 npm test -- test/docs.test.ts`
// rewrites them after a change.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { settingsMarkdown, type SettingsTable } from "../services/common/settings.js";
import { CLI_SETTINGS } from "../cli/settings.js";
import { ROUTER_SETTINGS } from "../services/router/settings.js";
import { WORKER_SETTINGS } from "../services/worker/settings.js";

const README = new URL("../README.md", import.meta.url);
const TABLES: Record<string, SettingsTable> = { cli: CLI_SETTINGS, worker: WORKER_SETTINGS, router: ROUTER_SETTINGS };

describe("README", () => {
  for (const [name, table] of Object.entries(TABLES)) {
    it(`lists every ${name} setting as the code declares it`, () => {
      const readme = readFileSync(README, "utf8");
      const start = `<!-- settings:${name} -->\n`;
      const end = `\n<!-- /settings:${name} -->`;
      const from = readme.indexOf(start);
      const to = readme.indexOf(end);
      expect(from, `README needs a "${start.trim()}" section`).toBeGreaterThanOrEqual(0);
      const actual = readme.slice(from + start.length, to);
      const expected = settingsMarkdown(table);
      if (actual !== expected && process.env["UPDATE_DOCS"]) {
        writeFileSync(README, readme.slice(0, from + start.length) + expected + readme.slice(to));
        return;
      }
      expect(actual).toBe(expected);
    });
  }
});

describe("docs/architecture.md", () => {
  const page = readFileSync(new URL("../docs/architecture.md", import.meta.url), "utf8");
  // `path/to/file.ts` · `Symbol` (or `Class.method`): the file exists and declares the symbol.
  const refs = [...page.matchAll(/`((?:services|cli|proto|web|deploy|bench|scripts|test)\/[\w./-]+)`(?: · `([\w.]+)`)?/g)];

  it("names files", () => {
    expect(refs.length).toBeGreaterThan(20);
  });

  for (const [, path, symbol] of refs) {
    it(`${path}${symbol ? ` declares ${symbol}` : " exists"}`, () => {
      const url = new URL(`../${path}`, import.meta.url);
      expect(existsSync(url), `${path} is named in docs/architecture.md but does not exist`).toBe(true);
      if (!symbol || !path!.endsWith(".ts")) return;
      const source = readFileSync(url, "utf8");
      for (const name of symbol.split(".")) {
        expect(source, `${path} does not declare ${name}`).toMatch(new RegExp(`\\b${name}\\b\\s*[(:=<{]|(?:class|function|interface|type|const|let)\\s+${name}\\b`));
      }
    });
  }
});
