import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ServeOptions } from '../../src/cli/options.js';
import { startWebhook, type RunningWebhook } from '../../src/cli/serve.js';
import { createLogger } from '../../src/observability/logger.js';
import type { FakeApi } from '../../harness/fake-api.js';

/** `restore-guard serve` wired in this process against a fake API server, on free loopback ports. */
export async function startAgainst(api: FakeApi, extra: Partial<ServeOptions> = {}): Promise<{ webhook: RunningWebhook; ca: string }> {
  const dir = mkdtempSync(join(tmpdir(), 'rg-webhook-'));
  const webhook = await startWebhook(
    {
      port: 0,
      bindAddress: '127.0.0.1',
      devCertDir: join(dir, 'certs'),
      metricsPort: 0,
      kubeconfig: await api.writeKubeConfig(dir),
      logLevel: 'silent',
      shutdownDelayMs: 0,
      ...extra,
    },
    createLogger('silent'),
  );
  return { webhook, ca: readFileSync(join(dir, 'certs', 'tls.crt'), 'utf8') };
}
