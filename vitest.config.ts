import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["services/**/*.test.ts", "cli/**/*.test.ts", "test/**/*.test.ts"],
    // The container tests build images: they have their own command, `npm run test:containers`.
    exclude: ["test/containers/**", "**/node_modules/**"],
    // End-to-end tests start real claude processes; give them room on a 2-core machine.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    maxWorkers: 2,
    // A test that leaves a stream or process behind should fail, not hang the run.
    teardownTimeout: 20_000,
    // Routers started as processes keep their tasks in memory unless a test gives them a store: the default
    // (SQLite in the per-user state directory) would be one file shared by every test.
    env: { CC_STORE: "memory" },
  },
});
