import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ApiClient, RefreshingTarget, type ConnectionMaterial } from '../../src/kube/api-client.js';
import { SubjectAccessReviewAuthorizer } from '../../src/kube/sar-authorizer.js';
import { issueServing } from '../../src/tls/issue.js';
import { deadlineIn } from '../support/deadlines.js';

/** A self-signed serving pair for 127.0.0.1: a TLS server on loopback that clients can verify. */
const loopbackServingPair = () => issueServing({ commonName: '127.0.0.1', ips: ['127.0.0.1'] });

const user = { username: 'alice', groups: [], extra: {} };
const access = { verb: 'restore', group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', namespace: 'n', name: 'c' };

describe('SubjectAccessReviewAuthorizer over TLS', () => {
  let server: Server;
  let handshakes = 0;
  let serverUrl: URL;
  let pair: { cert: string; key: string };

  beforeEach(async () => {
    pair = await loopbackServingPair();
    handshakes = 0;
    server = createServer({ key: pair.key, cert: pair.cert }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: { allowed: req.headers.authorization === 'Bearer t' } }));
      });
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    serverUrl = new URL(`https://127.0.0.1:${(server.address() as AddressInfo).port}`);
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  function clientWith(material: () => ConnectionMaterial, refreshMs?: number, now?: () => number): ApiClient {
    return new ApiClient(new RefreshingTarget(serverUrl, () => Promise.resolve(material()), refreshMs, now));
  }

  it('reuses one TLS connection across reviews', async () => {
    const client = clientWith(() => ({ ca: pair.cert, headers: { authorization: 'Bearer t' } }));
    const authorizer = new SubjectAccessReviewAuthorizer({ client });
    try {
      for (let i = 0; i < 10; i++) {
        expect((await authorizer.authorize(user, access, deadlineIn(5_000))).allowed).toBe(true);
      }
      expect(handshakes).toBe(1);
    } finally {
      client.close();
    }
  });

  it('refuses a server its CA does not vouch for, as unreachable', async () => {
    const other = await loopbackServingPair();
    const client = clientWith(() => ({ ca: other.cert, headers: { authorization: 'Bearer t' } }));
    try {
      const err: unknown = await new SubjectAccessReviewAuthorizer({ client }).authorize(user, access, deadlineIn(5_000)).catch((e: unknown) => e);
      expect(err).toMatchObject({ failure: 'unreachable', message: expect.stringMatching(/SELF_SIGNED|UNABLE_TO_VERIFY|certificate/i) });
    } finally {
      client.close();
    }
  });

  it('picks up a rotated token after the refresh interval, keeping the connection', async () => {
    let now = 0;
    let token = 'old';
    const client = clientWith(
      () => ({ ca: pair.cert, headers: { authorization: `Bearer ${token}` } }),
      60_000,
      () => now,
    );
    const authorizer = new SubjectAccessReviewAuthorizer({ client });
    try {
      expect((await authorizer.authorize(user, access, deadlineIn(5_000))).allowed).toBe(false);
      token = 't';
      now = 59_999;
      expect((await authorizer.authorize(user, access, deadlineIn(5_000))).allowed).toBe(false);
      now = 60_000;
      expect((await authorizer.authorize(user, access, deadlineIn(5_000))).allowed).toBe(true);
      // Same TLS material: the pooled connection stays.
      expect(handshakes).toBe(1);
    } finally {
      client.close();
    }
  });
});
