// npm run test:e2e: the end-to-end suite against a real kube-apiserver and etcd (see README, "End-to-end
// tests"). Kept out of `npm test`, which stays fast. One control plane serves every file (global setup);
// files run one after another because each registers its own restore-guard in the cluster-wide webhook
// configurations.
import { resolve } from 'node:path';
import { defineConfig } from 'vitest/config';

export default defineConfig({
  root: resolve(import.meta.dirname, '..', '..'),
  test: {
    include: ['test/e2e/**/*.test.ts'],
    globalSetup: ['test/e2e/global-setup.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 180_000,
    hookTimeout: 240_000,
    teardownTimeout: 60_000,
  },
});
