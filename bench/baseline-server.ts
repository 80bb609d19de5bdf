// The limit of the runtime: a bare Node HTTPS server that reads the AdmissionReview, parses it and answers
// `allowed: true` with its uid. No Node webhook can beat it. Run as its own process by the benchmark
// (`node baseline-server.js CERT KEY`, with an IPC channel), or in-process by tests.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';

export interface ServingPair {
  cert: string;
  key: string;
}

/** Same transport settings as the webhook: TLS 1.2+, keep-alive 120 s, HTTP/1.1. */
export function createBaselineServer(tls: ServingPair): Server {
  const server = createServer({ cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2' }, (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      let uid = '';
      let apiVersion = 'admission.k8s.io/v1';
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { apiVersion?: unknown; request?: { uid?: unknown } };
        if (typeof body.request?.uid === 'string') uid = body.request.uid;
        if (typeof body.apiVersion === 'string') apiVersion = body.apiVersion;
      } catch {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"kind":"Status","code":400}');
        return;
      }
      const text = JSON.stringify({ apiVersion, kind: 'AdmissionReview', response: { uid, allowed: true } });
      res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.keepAliveTimeout = 120_000;
  return server;
}

export async function listen(server: Server, host = '127.0.0.1', port = 0): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return (server.address() as AddressInfo).port;
}

// As a child process: serve until SIGTERM / disconnect, report the port over IPC.
if (process.argv[1] && import.meta.filename === process.argv[1]) {
  const [certFile, keyFile] = process.argv.slice(2);
  if (!certFile || !keyFile) throw new Error('usage: baseline-server CERT KEY');
  const server = createBaselineServer({ cert: readFileSync(certFile, 'utf8'), key: readFileSync(keyFile, 'utf8') });
  const port = await listen(server);
  process.send?.({ type: 'ready', port });
  const stop = (): void => {
    server.closeAllConnections();
    server.close(() => process.exit(0));
  };
  process.once('SIGTERM', stop);
  process.once('disconnect', stop);
}
