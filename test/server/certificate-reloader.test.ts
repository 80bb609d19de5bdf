import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { SecureContextOptions } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { renewCertificates } from '../../src/certs/authority.js';
import { createLogger } from '../../src/observability/logger.js';
import { createMetrics } from '../../src/observability/metrics.js';
import { CertificateReloader } from '../../src/server/certificate-reloader.js';
import { secureContextOptions } from '../../src/server/webhook-server.js';
import type { TlsMaterial } from '../../src/tls/check.js';

/** The reloader's decisions, driven by check() and an injected clock: no timers, no server. */

const DAY = 24 * 3600 * 1000;

async function pair(now = new Date()): Promise<TlsMaterial> {
  const out = mkdtempSync(join(tmpdir(), 'rg-unit-pair-'));
  const issued = await renewCertificates({ outDir: out, now });
  return {
    cert: readFileSync(issued.files.tlsCert, 'utf8'),
    key: readFileSync(issued.files.tlsKey, 'utf8'),
    clientCa: readFileSync(issued.files.caCert, 'utf8'),
  };
}

function setup(initial: TlsMaterial, clock: { now: number }) {
  const dir = mkdtempSync(join(tmpdir(), 'rg-unit-reload-'));
  const files = { certFile: join(dir, 'tls.crt'), keyFile: join(dir, 'tls.key') };
  const write = (m: TlsMaterial) => {
    writeFileSync(files.certFile, m.cert);
    writeFileSync(files.keyFile, m.key);
  };
  write(initial);
  const applied: SecureContextOptions[] = [];
  const metrics = createMetrics({ defaultMetrics: false });
  const reloader = new CertificateReloader({
    files,
    initial: { cert: initial.cert, key: initial.key },
    target: { setSecureContext: (options) => applied.push(options) },
    contextOptions: (m) => secureContextOptions(m, m.clientCa),
    logger: createLogger('silent'),
    metrics,
    now: () => clock.now,
  });
  const count = async (result: string) =>
    (await metrics.registry.getMetricsAsJSON())
      .find((m) => m.name === 'restore_guard_certificate_reloads_total')
      ?.values.find((v) => v.labels.result === result)?.value ?? 0;
  return { files, write, applied, reloader, metrics, count };
}

describe('CertificateReloader', () => {
  it('does nothing while the files hold what is served, and swaps a changed valid pair in with the full TLS settings', async () => {
    const clock = { now: Date.now() };
    const first = await pair();
    const { write, applied, reloader, count } = setup(first, clock);
    expect(await reloader.check()).toBe('unchanged');
    expect(applied).toEqual([]);
    const second = await pair();
    write(second);
    expect(await reloader.check()).toBe('reloaded');
    expect(applied).toEqual([{ cert: second.cert, key: second.key, minVersion: 'TLSv1.2' }]);
    expect(await reloader.check()).toBe('unchanged');
    expect(await count('success')).toBe(1);
  });

  it('reports unreadable files once, keeps the pair, and recovers when they return', async () => {
    const clock = { now: Date.now() };
    const first = await pair();
    const { files, write, applied, reloader, count } = setup(first, clock);
    rmSync(files.keyFile);
    const refused = new Promise<string>((resolve) => reloader.once('refused', ({ reason }) => resolve(reason)));
    expect(await reloader.check()).toBe('refused');
    expect(await refused).toContain('cannot read the certificate files');
    expect(await reloader.check()).toBe('unchanged');
    expect(await count('error')).toBe(1);
    const second = await pair();
    write(second);
    expect(await reloader.check()).toBe('reloaded');
    expect(applied).toHaveLength(1);
  });

  it('refuses a pair that is not valid yet, and takes the same files once their time has come', async () => {
    const clock = { now: Date.now() };
    const first = await pair();
    const { write, applied, reloader } = setup(first, clock);
    const future = await pair(new Date(clock.now + 10 * DAY));
    write(future);
    expect(await reloader.check()).toBe('refused');
    expect(applied).toEqual([]);
    clock.now += 11 * DAY;
    expect(await reloader.check()).toBe('reloaded');
    expect(applied).toHaveLength(1);
  });

  it('sets the expiry metric from the pair it starts with', async () => {
    const clock = { now: Date.now() };
    const first = await pair();
    const { metrics } = setup(first, clock);
    const value = (await metrics.registry.getMetricsAsJSON()).find((m) => m.name === 'restore_guard_serving_certificate_expiry_timestamp_seconds')?.values[0]
      ?.value;
    expect(value).toBe(Date.parse(new X509Certificate(first.cert).validTo) / 1000);
  });
});
