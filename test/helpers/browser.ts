// A real Chromium for the web UI's tests: Debian's /usr/bin/chromium driven by playwright-core (which downloads no
// browser of its own). Every page it opens records its script errors and every request it makes, so a test can
// assert that the page threw nothing and asked nothing of any other site.
import { existsSync, mkdirSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";

export const CHROMIUM = process.env["CC_CHROMIUM"] ?? "/usr/bin/chromium";

export interface TestBrowser {
  browser: Browser;
  /** A fresh context (its own sessionStorage) at this size. */
  context(viewport?: { width: number; height: number }): Promise<BrowserContext>;
  /** Uncaught errors and console errors, from every page. */
  errors: string[];
  /** Every URL requested, from every page. */
  requests: string[];
  close(): Promise<void>;
}

export async function launchBrowser(): Promise<TestBrowser> {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (apt-get install chromium), as .ci/run does`);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--disable-gpu", "--disable-dev-shm-usage"] });
  const errors: string[] = [];
  const requests: string[] = [];
  const contexts: BrowserContext[] = [];
  return {
    browser,
    errors,
    requests,
    async context(viewport = { width: 1280, height: 860 }) {
      const context = await browser.newContext({ viewport, deviceScaleFactor: 1, colorScheme: "light", reducedMotion: "reduce" });
      context.on("page", (page: Page) => {
        page.on("pageerror", (err) => errors.push(`${page.url()}: ${err.message}`));
        page.on("console", (msg) => {
          // The browser's own line for every failed or refused request (a 401 for a wrong token, a router that is
          // down) is network noise, not a script error.
          if (msg.type() === "error" && !/^Failed to load resource/.test(msg.text())) errors.push(`${page.url()}: console: ${msg.text()}`);
        });
        page.on("request", (req) => requests.push(req.url()));
      });
      contexts.push(context);
      return context;
    },
    async close() {
      for (const c of contexts) await c.close().catch(() => undefined);
      await browser.close();
    },
  };
}

/**
 * Where screenshots go: the README's (`readme`) to docs/screenshots with UPDATE_SCREENSHOTS=1, where they are
 * committed; every other one, and every one without it, to .cache/screenshots.
 */
export function screenshotPath(name: string, options: { readme?: boolean } = {}): string {
  const committed = options.readme === true && Boolean(process.env["UPDATE_SCREENSHOTS"]);
  const dir = new URL(committed ? "../../docs/screenshots/" : "../../.cache/screenshots/", import.meta.url).pathname;
  mkdirSync(dir, { recursive: true });
  return `${dir}${name}.png`;
}
