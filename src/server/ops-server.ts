import { createServer, type Server } from 'node:http';
import type { Registry } from 'prom-client';

export interface ReadinessCheck {
  name: string;
  ready: () => boolean;
}

/**
 * The plain-HTTP operations port: liveness, readiness and metrics. It never serves admission, so the
 * unauthenticated port cannot be used to probe decisions.
 */
export function createOpsServer(options: { registry: Registry; readiness: ReadinessCheck[] }): Server {
  return createServer((request, response) => {
    const path = (request.url ?? '/').split('?')[0];
    const send = (code: number, body: string, type = 'text/plain; charset=utf-8') => {
      response.writeHead(code, { 'content-type': type, 'cache-control': 'no-store' });
      response.end(body);
    };
    if (request.method !== 'GET' && request.method !== 'HEAD') return send(405, 'method not allowed\n');
    if (path === '/healthz' || path === '/livez') return send(200, 'ok\n');
    if (path === '/readyz') {
      const waiting = options.readiness.filter((check) => !check.ready()).map((check) => check.name);
      return waiting.length === 0 ? send(200, 'ok\n') : send(503, `not ready: waiting for ${waiting.join(', ')}\n`);
    }
    if (path === '/metrics') {
      options.registry
        .metrics()
        .then((text) => send(200, text, options.registry.contentType))
        .catch(() => send(500, 'metrics unavailable\n'));
      return;
    }
    send(404, 'not found\n');
  });
}
