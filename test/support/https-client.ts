import { Agent, request } from 'node:https';

export interface Reply {
  status: number;
  contentType: string;
  body: unknown;
}

/** POSTs raw bytes over HTTPS the way kube-apiserver does (HTTP/1.1, keep-alive agent). */
export function post(
  port: number,
  path: string,
  body: string | Buffer,
  options: { ca: string; agent?: Agent; contentType?: string; timeoutMs?: number },
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        method: 'POST',
        ca: options.ca,
        agent: options.agent,
        servername: 'localhost',
        headers: { 'content-type': options.contentType ?? 'application/json', 'content-length': Buffer.byteLength(body) },
        timeout: options.timeoutMs ?? 10_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString();
          let parsed: unknown = text;
          try {
            parsed = JSON.parse(text);
          } catch {
            // leave as text
          }
          resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type'] ?? ''), body: parsed });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}
