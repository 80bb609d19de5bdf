import { defineConfig } from 'vitest/config';

// The tests that run against each mutant of the decision core (npm run test:mutation): the fast, in-process
// tests of the layers the core is made of. No network, no processes.
export default defineConfig({
  test: {
    include: ['test/{admission,common,policy,restore}/**/*.test.ts'],
    exclude: ['**/*.wire.test.ts', '**/*.tools.test.ts'],
    testTimeout: 30_000,
  },
});
