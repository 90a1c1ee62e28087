import { defineConfig } from "vitest/config";

// `npm run test:containers`: builds the images and runs them. Kept out of `npm test`, which needs no container engine.
export default defineConfig({
  test: {
    include: ["test/containers/**/*.test.ts"],
    testTimeout: 120_000,
    // Building both images from cold takes a few minutes on 2 cores.
    hookTimeout: 30 * 60_000,
    maxWorkers: 1,
  },
});
