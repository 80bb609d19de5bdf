import { request } from 'node:https';
import { createServer } from 'node:net';

/** A port that was free a moment ago on 127.0.0.1 (the OS picks it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

export interface HttpAnswer {
  status: number;
  body: string;
}

/** One HTTPS request on loopback; never throws for HTTP statuses, only for transport failures. */
export async function httpsRequest(
  url: string,
  options: { ca: string; method?: string; token?: string; body?: string; headers?: Record<string, string>; cert?: string; key?: string },
): Promise<HttpAnswer> {
  return new Promise((resolve, reject) => {
    const req = request(
      url,
      {
        method: options.method ?? 'GET',
        ca: options.ca,
        ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
        headers: {
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...(options.body !== undefined ? { 'content-type': 'application/json' } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => (body += chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(options.body);
  });
}

/**
 * Polls `probe` until it returns a value (not undefined), then returns it. The limit only bounds a hang
 * (cleanup and diagnosis); nothing is asserted about how long it took.
 */
export async function eventually<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  options: { limitMs?: number; intervalMs?: number; diagnose?: () => string } = {},
): Promise<T> {
  const limit = Date.now() + (options.limitMs ?? 60_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    if (Date.now() > limit) {
      const cause = lastError instanceof Error ? `: ${lastError.message}` : '';
      throw new Error(`gave up waiting for ${what}${cause}${options.diagnose ? `\n${options.diagnose()}` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 250));
  }
}
