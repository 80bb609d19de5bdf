import { defineConfig } from 'vitest/config';

// npm run test:tools: the tests that need tools built from Go modules (kustomize, the CEL checker, helm) or
// fetched from Debian's archive (promtool); the first run builds them into .cache/bin (a few minutes) and
// downloads promtool into ~/.cache/restore-guard/promtool (seconds), later runs reuse them.
export default defineConfig({
  test: {
    include: ['test/**/*.tools.test.ts'],
    testTimeout: 30_000,
    hookTimeout: 900_000,
  },
});
