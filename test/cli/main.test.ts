import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { pinnedAffinity, restorePod, reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';
import { runCli, startWebhookProcess, type WebhookProcess } from '../support/webhook-process.js';

function exitOf(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = runCli(args);
  let stdout = '';
  let stderr = '';
  child.stdout?.on('data', (c: Buffer) => (stdout += String(c)));
  child.stderr?.on('data', (c: Buffer) => (stderr += String(c)));
  // A command that should exit but serves instead is ended, so a failing test leaves no process behind.
  const stop = setTimeout(() => child.kill('SIGKILL'), 20_000);
  return new Promise((resolve) =>
    child.once('exit', (code) => {
      clearTimeout(stop);
      resolve({ code, stdout, stderr });
    }),
  );
}

describe('restore-guard command line', () => {
  it('prints its usage with --help', async () => {
    const result = await exitOf(['--help']);
    expect(result.code).toBe(0);
    for (const flag of ['--port', '--tls-cert-file', '--tls-private-key-file', '--metrics-port', '--kubeconfig', '--policy-file', '--log-level']) {
      expect(result.stdout).toContain(flag);
    }
  });

  it('refuses unknown flags and half a certificate pair with exit code 2', async () => {
    expect((await exitOf(['serve', '--nope'])).code).toBe(2);
    const half = await exitOf(['serve', '--tls-cert-file', '/tmp/x']);
    expect(half.code).toBe(2);
    expect(half.stderr).toContain('go together');
  });

  it('refuses to start with a --policy-file that does not validate: exit 1 and the reason, no stack trace', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'rg-bad-policy-'));
    const file = join(dir, 'policy.yaml');
    writeFileSync(file, 'apiVersion: restore-guard.dev/v1alpha1\nkind: RestorePolicy\nnamespaces: {include: [team-b]}\nmodee: warn\n');
    const result = await exitOf(['serve', '--policy-file', file, '--port', '0', '--metrics-port', '0', '--dev-cert-dir', join(dir, 'certs')]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`--policy-file ${file}`);
    expect(result.stderr).toContain('unknown field "modee"');
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses --policy-file together with --policy-configmap, and a malformed ConfigMap reference', async () => {
    expect((await exitOf(['serve', '--policy-file', 'p.yaml', '--policy-configmap', 'a/b'])).code).toBe(2);
    expect((await exitOf(['serve', '--policy-configmap', 'just-a-name'])).stderr).toContain('NAMESPACE/NAME');
  });
});

describe('restore-guard serve without any API server', () => {
  let webhook: WebhookProcess;
  let ca: string;
  beforeAll(async () => {
    webhook = await startWebhookProcess([], { KUBECONFIG: '/nonexistent/kubeconfig' });
    ca = webhook.ca;
  });
  afterAll(async () => {
    await webhook.stop();
  });

  it('makes a development certificate and says where it is', () => {
    const certLog = webhook.logs.find((l) => typeof l.certFile === 'string');
    expect(certLog).toBeDefined();
    expect(readdirSync(String(certLog?.certFile).replace(/\/tls\.crt$/, '')).sort()).toEqual(['tls.crt', 'tls.key']);
  });

  it('denies restores saying the API server could not be reached, and allows everything else', async () => {
    const restore = await post(webhook.webhookPort, '/validate', JSON.stringify(reviewBody({ object: restorePod({ spec: { affinity: pinnedAffinity() } }) })), {
      ca,
    });
    expect(restore.body).toMatchObject({ response: { allowed: false, status: { code: 503 } } });
    expect(JSON.stringify(restore.body)).toContain('could not be reached');
    const plain = await post(webhook.webhookPort, '/mutate', JSON.stringify(reviewBody({ object: { metadata: { name: 'p' }, spec: { containers: [] } } })), {
      ca,
    });
    expect(plain.body).toMatchObject({ response: { allowed: true } });
  });

  it('serves health, readiness and metrics on the plain port, and no admission there', async () => {
    const base = `http://127.0.0.1:${webhook.metricsPort}`;
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toContain('restore_guard_reviews_total');
    expect(metrics).toContain('restore_guard_review_duration_seconds_bucket');
    expect((await fetch(`${base}/validate`, { method: 'POST', body: '{}' })).status).toBe(405);
  });

  it('exits cleanly on SIGTERM', async () => {
    expect(await webhook.stop()).toBe(0);
  });
});

describe('restore-guard serve on SIGTERM', () => {
  it('reports not ready, keeps answering through the shutdown delay, then drains and exits 0', async () => {
    const webhook = await startWebhookProcess(['--shutdown-delay', '2s'], { KUBECONFIG: '/nonexistent/kubeconfig' });
    const { ca } = webhook;
    const base = `http://127.0.0.1:${webhook.metricsPort}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const exited = new Promise<number | null>((resolve) => webhook.child.once('exit', resolve));
    webhook.child.kill('SIGTERM');
    await vi.waitFor(async () => expect((await fetch(`${base}/readyz`)).status).toBe(503));
    const during = await post(webhook.webhookPort, '/validate', JSON.stringify(reviewBody({ object: { metadata: { name: 'p' }, spec: {} } })), { ca });
    expect(during.body).toMatchObject({ response: { uid: 'req-1', allowed: true } });
    expect(await exited).toBe(0);
  });
});
