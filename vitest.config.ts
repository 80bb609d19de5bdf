import { defineConfig } from 'vitest/config';

// npm test: everything that needs only Node.js. Tests of src/x/y.ts are test/x/y.test.ts (y.wire.test.ts when
// they go over TLS or run the built binary); drills, deploy and bench tests have folders of their own.
// *.tools.test.ts need tools built from Go modules (npm run test:tools); test/e2e needs the control plane.
export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', '**/*.tools.test.ts', '**/node_modules/**'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
