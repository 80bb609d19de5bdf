import { execFile } from 'node:child_process';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { connect, createServer, type ConnectionOptions, type TLSSocket, type TlsOptions } from 'node:tls';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { issueCa, issueClient, issueServing } from '../../src/tls/issue.js';

/** What issued certificates are good for, as OpenSSL judges them in real handshakes on loopback; and when `selfsigned` is loaded. */

const run = promisify(execFile);
const DIST = join(import.meta.dirname, '..', '..', 'dist');

/**
 * One handshake on loopback: how each side saw it, 'ok' or the error code it got. A server that asks for a
 * client certificate (and lets the handshake finish) says what OpenSSL thought of it.
 */
async function handshake(server: TlsOptions, client: ConnectionOptions): Promise<{ client: string; server: string }> {
  const listener = createServer({ minVersion: 'TLSv1.3', ...server }, (socket) => socket.end());
  const serverSide = new Promise<string>((resolve) => {
    listener.once('secureConnection', (socket: TLSSocket) => resolve(!server.requestCert || socket.authorized ? 'ok' : String(socket.authorizationError)));
    listener.once('tlsClientError', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
  });
  await new Promise<void>((resolve) => listener.listen(0, '127.0.0.1', resolve));
  const socket = connect({ host: '127.0.0.1', port: (listener.address() as AddressInfo).port, ...client });
  try {
    const clientSide = new Promise<string>((resolve) => {
      socket.once('secureConnect', () => resolve('ok'));
      socket.once('error', (error: NodeJS.ErrnoException) => resolve(error.code ?? error.message));
    });
    return { client: await clientSide, server: await serverSide };
  } finally {
    socket.destroy();
    listener.close();
  }
}

describe('issued certificates in handshakes', () => {
  it("a CA's serving certificate is accepted for its DNS names and IPs, and refused for another name", async () => {
    const ca = await issueCa({ commonName: 'ca' });
    const serving = await issueServing({ commonName: 'svc', dnsNames: ['svc.example'], ips: ['127.0.0.1'], issuer: ca });
    expect((await handshake(serving, { ca: ca.cert, servername: 'svc.example' })).client).toBe('ok');
    expect((await handshake(serving, { ca: ca.cert })).client).toBe('ok'); // checked against the IP
    expect((await handshake(serving, { ca: ca.cert, servername: 'other.example' })).client).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
  });

  it('a self-signed serving certificate is trusted as itself', async () => {
    const serving = await issueServing({ commonName: '127.0.0.1', ips: ['127.0.0.1'] });
    expect((await handshake(serving, { ca: serving.cert })).client).toBe('ok');
  });

  it('a client certificate is good for mTLS and not for serving; a serving certificate not as a client (extKeyUsage)', async () => {
    const ca = await issueCa({ commonName: 'ca' });
    const serving = await issueServing({ commonName: 'svc', ips: ['127.0.0.1'], issuer: ca });
    const client = await issueClient({ commonName: 'kube-apiserver', issuer: ca });
    const mtls = { ...serving, ca: ca.cert, requestCert: true, rejectUnauthorized: false };
    expect(await handshake(mtls, { ca: ca.cert, ...client })).toEqual({ client: 'ok', server: 'ok' });
    expect((await handshake(mtls, { ca: ca.cert, ...serving })).server).toBe('INVALID_PURPOSE');
    expect((await handshake(client, { ca: ca.cert })).client).toBe('INVALID_PURPOSE');
  });

  it('a CA signs leaves only: a leaf under a CA that it signed is refused (pathLen 0)', async () => {
    const root = await issueCa({ commonName: 'root' });
    const sub = await issueCa({ commonName: 'sub', issuer: root });
    const leaf = await issueServing({ commonName: 'svc', ips: ['127.0.0.1'], issuer: sub });
    const chain = { cert: `${leaf.cert}${sub.cert}`, key: leaf.key };
    expect((await handshake(chain, { ca: root.cert })).client).toBe('PATH_LENGTH_EXCEEDED');
  });
});

describe('selfsigned is loaded only to issue', () => {
  it('the serving path (built) does not load it until the development certificate is made', async () => {
    // A fresh process records every module it loads; this one has loaded selfsigned long ago.
    const script = `
      import { registerHooks } from 'node:module';
      const loaded = [];
      registerHooks({ load: (url, context, next) => (loaded.push(url), next(url, context)) });
      const selfsigned = () => loaded.some((url) => url.includes('/node_modules/selfsigned/'));
      await import(${JSON.stringify(pathToFileURL(join(DIST, 'cli', 'serve.js')).href)});
      const dev = await import(${JSON.stringify(pathToFileURL(join(DIST, 'server', 'dev-certificate.js')).href)});
      const before = selfsigned();
      await dev.generateServingPair();
      console.log(JSON.stringify({ before, after: selfsigned() }));
    `;
    const { stdout } = await run(process.execPath, ['--input-type=module', '--eval', script]);
    expect(JSON.parse(stdout)).toEqual({ before: false, after: true });
  });
});
