import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import { generate } from 'selfsigned';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SubjectAccessReviewAuthorizer } from '../../src/kube/sar-authorizer.js';
import { deadlineIn } from '../support/deadlines.js';

const user = { username: 'alice', groups: [], extra: {} };
const access = { verb: 'restore', group: 'node.k8s.io', version: 'v1alpha1', resource: 'podcheckpoints', namespace: 'n', name: 'c' };

describe('SubjectAccessReviewAuthorizer over TLS', () => {
  let server: Server;
  let handshakes = 0;
  let kubeConfig: KubeConfig;

  beforeEach(async () => {
    const pems = await generate([{ name: 'commonName', value: '127.0.0.1' }], {
      extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }],
    });
    handshakes = 0;
    server = createServer({ key: pems.private, cert: pems.cert }, (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(201, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify({ status: { allowed: true } }));
      });
    });
    server.on('secureConnection', () => handshakes++);
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    kubeConfig = new KubeConfig();
    kubeConfig.loadFromOptions({
      clusters: [
        {
          name: 'tls',
          server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
          caData: Buffer.from(pems.cert).toString('base64'),
          skipTLSVerify: false,
        },
      ],
      users: [{ name: 'u', token: 't' }],
      contexts: [{ name: 'tls', cluster: 'tls', user: 'u' }],
      currentContext: 'tls',
    });
  });

  afterEach(async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  it('reuses one TLS connection across reviews', async () => {
    const authorizer = new SubjectAccessReviewAuthorizer({ kubeConfig });
    try {
      for (let i = 0; i < 10; i++) {
        expect((await authorizer.authorize(user, access, deadlineIn(5_000))).allowed).toBe(true);
      }
      // Plain client-node makes a new undici Agent, hence a handshake, per call (10 here). Back-to-back
      // calls may open a second pooled connection before the first is idle again.
      expect(handshakes).toBeLessThanOrEqual(2);
    } finally {
      authorizer.close();
    }
  });
});
