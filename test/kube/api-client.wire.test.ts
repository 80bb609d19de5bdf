import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ApiClient, ApiStatusError, IdleTimeoutError, RefreshingTarget } from '../../src/kube/api-client.js';

type Handler = (req: IncomingMessage, res: ServerResponse, requestOnSocket: number) => void;

interface TestServer {
  client: ApiClient;
  connections: () => number;
  close: () => Promise<void>;
}

const servers: TestServer[] = [];

async function serve(handler: Handler): Promise<TestServer> {
  const sockets = new Set<Socket>();
  const perSocket = new WeakMap<Socket, number>();
  let connections = 0;
  const server: Server = createServer((req, res) => {
    const n = (perSocket.get(req.socket) ?? 0) + 1;
    perSocket.set(req.socket, n);
    handler(req, res, n);
  });
  server.on('connection', (socket) => {
    connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const client = new ApiClient(new RefreshingTarget(url, () => Promise.resolve({ headers: { authorization: 'Bearer t' } })));
  const handle: TestServer = {
    client,
    connections: () => connections,
    close: async () => {
      client.close();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  servers.push(handle);
  return handle;
}

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
}

describe('ApiClient', () => {
  it('sends JSON with the auth header and reads JSON back over one pooled connection', async () => {
    const seen: string[] = [];
    const { client, connections } = await serve((req, res) => {
      let body = '';
      req.setEncoding('utf8');
      req.on('data', (chunk: string) => (body += chunk));
      req.on('end', () => {
        seen.push(`${req.method} ${req.url} ${req.headers.authorization} ${body}`);
        json(res, 201, { echoed: body ? (JSON.parse(body) as unknown) : null });
      });
    });
    expect(await client.request('POST', '/apis/x', { body: { a: 1 } })).toEqual({ echoed: { a: 1 } });
    expect(await client.request('GET', '/api/v1/namespaces/n', { query: { limit: 5, continue: undefined } })).toEqual({ echoed: null });
    expect(seen).toEqual(['POST /apis/x Bearer t {"a":1}', 'GET /api/v1/namespaces/n?limit=5 Bearer t ']);
    expect(connections()).toBe(1);
  });

  it('turns a non-2xx answer into ApiStatusError with the Status message', async () => {
    const { client } = await serve((_req, res) => json(res, 403, { kind: 'Status', code: 403, message: 'forbidden: no' }));
    const err: unknown = await client.request('GET', '/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ApiStatusError);
    expect(err).toMatchObject({ status: 403, statusMessage: 'forbidden: no' });
  });

  it('retries once on a fresh connection when the server dropped a pooled one', async () => {
    const { client, connections } = await serve((_req, res, requestOnSocket) => {
      // The server gave up on the idle connection just as the second request arrived on it.
      if (requestOnSocket === 2) res.socket?.destroy();
      else json(res, 200, { ok: requestOnSocket });
    });
    expect(await client.request('GET', '/x')).toEqual({ ok: 1 });
    expect(await client.request('GET', '/x')).toEqual({ ok: 1 });
    expect(connections()).toBe(2);
  });

  it('does not retry a connection that fails fresh', async () => {
    const { client } = await serve((_req, res) => res.socket?.destroy());
    const err: unknown = await client.request('GET', '/x').catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'ECONNRESET' });
  });

  it('aborts a request in flight with the signal reason', async () => {
    const { client } = await serve(() => undefined);
    const controller = new AbortController();
    const pending = client.request('GET', '/slow', { signal: controller.signal });
    setTimeout(() => controller.abort(new DOMException('late', 'TimeoutError')), 20);
    await expect(pending).rejects.toMatchObject({ name: 'TimeoutError' });
  });

  it('lets requests in flight finish when closed', async () => {
    const { client } = await serve((_req, res) => setTimeout(() => json(res, 200, { done: true }), 100));
    const pending = client.request('GET', '/x');
    await new Promise((resolve) => setTimeout(resolve, 20));
    client.close();
    expect(await pending).toEqual({ done: true });
  });

  describe('watch', () => {
    it('delivers events split across chunks in order, then resolves when the server ends', async () => {
      const { client } = await serve((req, res) => {
        expect(new URL(req.url ?? '', 'http://x').searchParams.get('watch')).toBe('true');
        res.writeHead(200, { 'content-type': 'application/json' });
        const text = ['ADDED', 'MODIFIED', 'BOOKMARK'].map((type, i) => JSON.stringify({ type, object: { i } })).join('\n') + '\n';
        res.write(text.slice(0, 17));
        setTimeout(() => res.end(text.slice(17)), 10);
      });
      const events: string[] = [];
      let connected = false;
      await client.watch('/apis/g/v/r', {
        signal: new AbortController().signal,
        idleTimeoutMs: 5_000,
        onConnected: () => (connected = true),
        onEvent: (type, object) => events.push(`${type} ${JSON.stringify(object)}`),
      });
      expect(connected).toBe(true);
      expect(events).toEqual(['ADDED {"i":0}', 'MODIFIED {"i":1}', 'BOOKMARK {"i":2}']);
    });

    it('ends a silent watch with IdleTimeoutError', async () => {
      const { client } = await serve((_req, res) => {
        res.writeHead(200);
        res.flushHeaders();
      });
      const err: unknown = await client
        .watch('/w', { signal: new AbortController().signal, idleTimeoutMs: 50, onEvent: () => undefined })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IdleTimeoutError);
    });

    it('ends with IdleTimeoutError when the server never answers the watch', async () => {
      const { client } = await serve(() => undefined);
      const err: unknown = await client
        .watch('/w', { signal: new AbortController().signal, idleTimeoutMs: 50, onEvent: () => undefined })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(IdleTimeoutError);
    });

    it('can be aborted from an event, also when the answer is already complete', async () => {
      const { client } = await serve((_req, res) => {
        res.writeHead(200);
        // The whole answer in one write: the socket is back in the pool when the event is handled.
        res.end(`${JSON.stringify({ type: 'ERROR', object: { code: 410 } })}\n`);
      });
      const controller = new AbortController();
      await client.watch('/w', { signal: controller.signal, idleTimeoutMs: 5_000, onEvent: () => controller.abort() });
      // The pool still works afterwards.
      const open = await serve((_req, res) => {
        res.writeHead(200);
        res.write(`${JSON.stringify({ type: 'ADDED', object: {} })}\n`);
      });
      const second = new AbortController();
      const watching = open.client.watch('/w', { signal: second.signal, idleTimeoutMs: 5_000, onEvent: () => second.abort() });
      await expect(watching).rejects.toMatchObject({ name: 'AbortError' });
    });

    it('reports a refused watch as ApiStatusError', async () => {
      const { client } = await serve((_req, res) => json(res, 410, { kind: 'Status', code: 410, message: 'too old' }));
      const err: unknown = await client
        .watch('/w', { signal: new AbortController().signal, idleTimeoutMs: 5_000, onEvent: () => undefined })
        .catch((e: unknown) => e);
      expect(err).toMatchObject({ status: 410, statusMessage: 'too old' });
    });
  });
});
