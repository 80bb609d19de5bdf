import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect } from 'node:tls';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { renewCertificates } from '../../src/certs/authority.js';
import type { JsonObject } from '../../src/common/json.js';
import { pinnedAffinity, restorePod, reviewBody } from '../support/fixtures.js';
import { admissionAnswer, scrapeMetric, startLoad, type Connection, type LoadOutcome } from '../support/load.js';
import { startWebhookProcess, type WebhookProcess } from '../support/webhook-process.js';
import { SecretVolume } from '../support/secret-volume.js';

/**
 * Certificate rotation drill: the built binary serves a steady stream of reviews, over kept-alive
 * connections and over a new connection per call, while its serving certificate is renewed ROTATIONS
 * times (same CA, new key each time, as cert-manager does) and written the way the kubelet updates a
 * mounted Secret: a new timestamped directory, then an atomic swap of the `..data` symlink.
 */

const ROTATIONS = 10;
const SERVICE = 'restore-guard.restore-guard.svc';
/** Answers each certificate must carry (on new connections, and overall) before the next rotation. */
const PER_ROTATION = 25;

/** The certificate a brand-new handshake gets. */
function newHandshake(port: number, ca: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: '127.0.0.1', port, ca, servername: SERVICE }, () => {
      resolve(socket.getPeerCertificate().fingerprint256);
      socket.destroy();
    });
    socket.once('error', reject);
  });
}

describe('certificate rotation drill (built binary)', () => {
  let webhook: WebhookProcess | undefined;
  afterAll(async () => {
    await webhook?.stop();
  });

  it(`rotates the serving certificate ${ROTATIONS} times under load: 0 failed calls, new handshakes get the new certificate`, async () => {
    const out = mkdtempSync(join(tmpdir(), 'rg-rotate-ca-'));
    const volume = new SecretVolume(mkdtempSync(join(tmpdir(), 'rg-rotate-secret-')));
    const issue = async () => {
      const issued = await renewCertificates({ outDir: out });
      const pair = { cert: readFileSync(issued.files.tlsCert, 'utf8'), key: readFileSync(issued.files.tlsKey, 'utf8') };
      return { ...pair, fingerprint: new X509Certificate(pair.cert).fingerprint256, caCreated: issued.ca.created };
    };
    const first = await issue();
    const ca = readFileSync(join(out, 'ca.crt'), 'utf8');
    volume.write({ 'tls.crt': first.cert, 'tls.key': first.key });
    webhook = await startWebhookProcess(['--tls-cert-file', volume.file('tls.crt'), '--tls-private-key-file', volume.file('tls.key')], {
      KUBECONFIG: '/nonexistent/kubeconfig',
    });
    const rg = webhook;

    /** fingerprints[g]: the certificate of generation g (0: the one it started with). */
    const fingerprints = [first.fingerprint];
    let generation = 0;
    type Meta = { uid: string; restore: boolean; generation: number; connection: Connection };
    const outcomes: Array<LoadOutcome<Meta>> = [];
    const connectionOf = (worker: number): Connection => (worker % 2 === 0 ? 'keep-alive' : 'new');
    const load = startLoad<Meta>({
      port: rg.webhookPort,
      ca,
      servername: SERVICE,
      workers: 6,
      connection: connectionOf,
      next: (seq, worker) => {
        const uid = `c-${seq}`;
        const restore = seq % 3 === 0;
        const object: JsonObject = restore
          ? restorePod({ spec: { affinity: pinnedAffinity() } })
          : { metadata: { name: `p-${seq}`, namespace: 'team-a' }, spec: { containers: [{ name: 'app', image: 'x' }] } };
        return {
          path: `/${seq % 2 ? 'mutate' : 'validate'}?timeout=5s`,
          body: JSON.stringify(reviewBody({ uid, object })),
          meta: { uid, restore, generation, connection: connectionOf(worker) },
        };
      },
      onOutcome: (outcome) => outcomes.push(outcome),
      maxCalls: 100_000,
      pauseMs: 10,
      timeoutMs: 5_000,
    });
    const servedNew = (g: number) => outcomes.filter((o) => o.meta.connection === 'new' && o.peer === fingerprints[g]).length;

    await vi.waitFor(() => expect(servedNew(0)).toBeGreaterThanOrEqual(PER_ROTATION), { timeout: 20_000, interval: 20 });
    for (let rotation = 1; rotation <= ROTATIONS; rotation++) {
      const next = await issue();
      expect(next.caCreated).toBe(false); // the CA stays: clients keep trusting what they trust
      const seen = outcomes.length;
      volume.write({ 'tls.crt': next.cert, 'tls.key': next.key });
      await vi.waitFor(() => expect(rg.logs.some((l) => l.msg === 'serving certificate reloaded' && l.fingerprint === next.fingerprint)).toBe(true), {
        timeout: 20_000,
        interval: 10,
      });
      fingerprints.push(next.fingerprint);
      generation = rotation;
      expect(await newHandshake(rg.webhookPort, ca)).toBe(next.fingerprint);
      await vi.waitFor(
        () => {
          expect(servedNew(rotation)).toBeGreaterThanOrEqual(PER_ROTATION);
          expect(outcomes.length - seen).toBeGreaterThanOrEqual(3 * PER_ROTATION);
        },
        { timeout: 20_000, interval: 20 },
      );
    }
    const summary = await load.stop();

    // 0 failed calls: every call answered with the AdmissionReview it asked for, and the expected decision
    // (no API server here: restores are denied saying so, everything else is allowed).
    expect(summary.transportFailures, summary.errors.join('\n')).toBe(0);
    const wrong = outcomes.filter((o) => {
      const answer = admissionAnswer(o, o.meta.uid);
      return !answer || (o.meta.restore ? answer.allowed || answer.status?.code !== 503 : !answer.allowed);
    });
    expect(wrong.slice(0, 3).map((o) => ({ status: o.status, body: o.body }))).toEqual([]);
    // A new connection opened after a reload was confirmed never got an older certificate.
    const newConnections = outcomes.filter((o) => o.meta.connection === 'new');
    const stale = newConnections.filter((o) => fingerprints.indexOf(o.peer ?? '') < o.meta.generation);
    expect(stale).toEqual([]);
    // Kept-alive connections carried on through every rotation: one handshake per worker, the first certificate throughout.
    const keptAlive = outcomes.filter((o) => o.meta.connection === 'keep-alive');
    expect(keptAlive.filter((o) => !o.reusedSocket)).toHaveLength(3);
    expect(new Set(keptAlive.map((o) => o.peer))).toEqual(new Set([first.fingerprint]));
    expect(keptAlive.filter((o) => o.meta.generation === ROTATIONS).length).toBeGreaterThan(0);
    expect(await scrapeMetric(rg.metricsPort, 'restore_guard_certificate_reloads_total', { result: 'success' })).toBe(ROTATIONS);
    expect(await scrapeMetric(rg.metricsPort, 'restore_guard_certificate_reloads_total', { result: 'error' })).toBe(0);
    console.info(
      `certificate rotation drill: ${ROTATIONS} rotations, ${summary.calls} calls (${newConnections.length} on new connections, ${keptAlive.length} on 3 kept-alive ones), ` +
        `${summary.transportFailures} failed, ${stale.length} new handshakes with a stale certificate`,
    );
  }, 120_000);
});
