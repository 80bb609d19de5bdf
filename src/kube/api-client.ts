import { Agent as HttpAgent, request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { LineSplitter } from './json-stream.js';

/** How to reach the API server for the next request: a pooled agent and the auth headers. */
export interface Transport {
  readonly agent: HttpAgent;
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * Where the API server is and how to talk to it. `transport()` is called before every request and is
 * cheap when nothing changed; it is where rotated tokens and certificates are picked up.
 */
export interface ApiTarget {
  readonly server: URL;
  transport(): Promise<Transport>;
  /** Closes pooled connections; requests in flight are not interrupted. */
  close(): void;
}

/** TLS and auth material, as a kubeconfig or the in-cluster service account provide them. */
export interface ConnectionMaterial {
  ca?: string | Buffer;
  cert?: string | Buffer;
  key?: string | Buffer;
  /** false for insecure-skip-tls-verify. */
  rejectUnauthorized?: boolean;
  servername?: string;
  headers: Record<string, string>;
}

/**
 * One keep-alive agent per distinct TLS material: the same material reuses the pool, new material
 * (a rotated CA or client certificate) gets a new pool and the old one is closed once idle.
 */
class AgentPool {
  private current: { agent: HttpAgent; fingerprint: string } | undefined;

  constructor(private readonly server: URL) {}

  agentFor(material: ConnectionMaterial): HttpAgent {
    const fingerprint = [material.ca, material.cert, material.key, material.rejectUnauthorized, material.servername]
      .map((part) => (part === undefined ? '' : String(part)))
      .join('\u0000');
    if (this.current?.fingerprint === fingerprint) return this.current.agent;
    if (this.current) retire(this.current.agent);
    const options = { keepAlive: true, keepAliveMsecs: 30_000, maxFreeSockets: 16, scheduling: 'lifo' as const };
    const agent =
      this.server.protocol === 'https:'
        ? new HttpsAgent({
            ...options,
            ...(material.ca !== undefined && { ca: material.ca }),
            ...(material.cert !== undefined && { cert: material.cert }),
            ...(material.key !== undefined && { key: material.key }),
            ...(material.rejectUnauthorized !== undefined && { rejectUnauthorized: material.rejectUnauthorized }),
            ...(material.servername !== undefined && { servername: material.servername }),
          })
        : new HttpAgent(options);
    this.current = { agent, fingerprint };
    return agent;
  }

  close(): void {
    if (this.current) retire(this.current.agent);
    this.current = undefined;
  }
}

/**
 * Closes an agent without cutting requests in flight (agent.destroy() would): idle sockets close now,
 * busy ones when their request ends, since an agent that no longer keeps alive does not pool them.
 */
function retire(agent: HttpAgent): void {
  // Node's Agent reads this field when a socket is freed (it is not in the type definitions).
  Reflect.set(agent, 'keepAlive', false);
  for (const sockets of Object.values(agent.freeSockets)) for (const socket of sockets ?? []) socket.destroy();
}

/**
 * A target whose material is fetched by `load` and kept for `refreshMs`: tokens that rotate on disk
 * (bound service account tokens, about hourly) or expire (exec plugins) are re-read in time. A failed
 * re-read keeps the last good material until the next try, as client-go does.
 */
export class RefreshingTarget implements ApiTarget {
  private readonly pool: AgentPool;
  private cached: { transport: Promise<Transport>; at: number } | undefined;
  private lastGood: Transport | undefined;

  constructor(
    readonly server: URL,
    private readonly load: () => Promise<ConnectionMaterial>,
    private readonly refreshMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {
    this.pool = new AgentPool(server);
  }

  transport(): Promise<Transport> {
    const now = this.now();
    if (this.cached && now - this.cached.at < this.refreshMs) return this.cached.transport;
    const previous = this.lastGood;
    const transport = this.load().then(
      (material) => {
        this.lastGood = { agent: this.pool.agentFor(material), headers: material.headers };
        return this.lastGood;
      },
      (err: unknown) => {
        if (previous) return previous;
        throw err;
      },
    );
    this.cached = { transport, at: now };
    // A failed first load is not kept: the next request tries again.
    transport.catch(() => {
      if (this.cached?.transport === transport) this.cached = undefined;
    });
    return transport;
  }

  close(): void {
    this.pool.close();
    this.cached = undefined;
    this.lastGood = undefined;
  }
}

/** A non-2xx answer of the API server; `message` is the Status message when it sent one. */
export class ApiStatusError extends Error {
  constructor(
    readonly status: number,
    readonly statusMessage: string | undefined,
  ) {
    super(`HTTP ${status}${statusMessage ? `: ${statusMessage}` : ''}`);
    this.name = 'ApiStatusError';
  }
}

export type Query = Record<string, string | number | boolean | undefined>;

export interface RequestOptions {
  query?: Query;
  body?: unknown;
  signal?: AbortSignal;
  /** The answer may not be longer than this (default MAX_BODY_BYTES). */
  maxBytes?: number;
}

export interface StreamOptions {
  query?: Query;
  signal?: AbortSignal;
  /** Each piece of the answer's body as it arrives; may throw to abandon the answer. */
  onChunk: (chunk: Buffer) => void;
}

export interface WatchOptions {
  query?: Query;
  signal: AbortSignal;
  /** Ends the watch with an IdleTimeoutError when no answer, then no data (bookmarks count), arrives for this long. */
  idleTimeoutMs: number;
  /** Called once the server has accepted the watch (HTTP 200). */
  onConnected?: () => void;
  onEvent: (type: string, object: unknown) => void;
  /** A watch line may not be longer than this (default MAX_WATCH_LINE_BYTES). */
  maxLineBytes?: number;
  /**
   * A line over the bound: its first bytes (HEAD_BYTES) and its length. The watch goes on; without
   * this handler such a line ends it with an OversizedLineError.
   */
  onOversized?: (head: Buffer, bytes: number) => void;
}

/** A watch line that is not one JSON event: what it held cannot be known, only that it was missed. */
export class MalformedLineError extends Error {
  constructor(cause: unknown) {
    super(`a watch line is not JSON: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = 'MalformedLineError';
  }
}

export class OversizedLineError extends Error {
  constructor(bytes: number) {
    super(`a watch line of ${bytes} bytes is over the bound`);
    this.name = 'OversizedLineError';
  }
}

export class IdleTimeoutError extends Error {
  constructor(ms: number) {
    super(`no data for ${ms} ms`);
    this.name = 'IdleTimeoutError';
  }
}

// Caps an answer read whole (SubjectAccessReviews, single objects): the API server stores no object
// over about 1.5 MiB (etcd's request limit), so 16 MiB is far more than any honest answer.
export const MAX_BODY_BYTES = 16 * 1024 * 1024;
// Caps one watch event: one object and its envelope.
export const MAX_WATCH_LINE_BYTES = 2 * 1024 * 1024;

/**
 * A small JSON client for the few Kubernetes calls restore-guard makes, on node:http(s) with one
 * keep-alive pool. It replaces @kubernetes/client-node's generated APIs on the hot path: those cost
 * about 85 MiB of RSS to load and several times the CPU per SubjectAccessReview (see README, Benchmarks).
 */
export class ApiClient {
  constructor(
    readonly target: ApiTarget,
    private readonly userAgent = 'restore-guard',
  ) {}

  /** Sends one request and returns the parsed JSON answer. Throws ApiStatusError for non-2xx answers. */
  async request(method: 'GET' | 'POST', path: string, options: RequestOptions = {}): Promise<unknown> {
    const body = options.body === undefined ? undefined : Buffer.from(JSON.stringify(options.body));
    const response = await this.open(method, path, options.query, body, options.signal);
    const text = await readBody(response, options.maxBytes ?? MAX_BODY_BYTES);
    return JSON.parse(text) as unknown;
  }

  /**
   * A GET whose answer is handed over piece by piece as it arrives and never held whole (list pages).
   * Resolves when the answer has ended; rejects when it fails, is cut short, or onChunk throws.
   */
  async stream(path: string, options: StreamOptions): Promise<void> {
    const response = await this.open('GET', path, options.query, undefined, options.signal);
    await new Promise<void>((resolve, reject) => {
      response.on('data', (chunk: Buffer) => {
        try {
          options.onChunk(chunk);
        } catch (err) {
          response.destroy();
          reject(err);
          return;
        }
        // One piece per turn of the event loop: a relist of 100,000 objects takes seconds of CPU, and
        // reviews must not wait behind the megabytes one socket read can deliver at once.
        response.pause();
        setImmediate(() => response.resume());
      });
      response.once('end', () => resolve());
      response.on('error', reject);
      response.once('close', () => {
        if (!response.complete) reject(options.signal?.aborted ? options.signal.reason : new Error('the connection was closed before the answer was complete'));
      });
    });
  }

  /**
   * Runs one watch until the server ends it (resolves), or it fails, goes idle or is aborted (rejects).
   * Events arrive in order through `onEvent`.
   */
  async watch(path: string, options: WatchOptions): Promise<void> {
    // The idle limit also bounds the wait for the answer's headers: a server that accepts the connection
    // and never answers must not hold the watch forever.
    const connect = new AbortController();
    const connectTimer = setTimeout(() => connect.abort(new IdleTimeoutError(options.idleTimeoutMs)), options.idleTimeoutMs);
    let response: IncomingMessage;
    try {
      const signal = AbortSignal.any([options.signal, connect.signal]);
      response = await this.open('GET', path, { ...options.query, watch: true }, undefined, signal);
    } finally {
      clearTimeout(connectTimer);
    }
    options.onConnected?.();
    await new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      let failed = false;
      const fail = (err: unknown): void => {
        if (failed) return;
        failed = true;
        clearTimeout(timer);
        response.destroy();
        reject(err);
      };
      const arm = (): void => {
        clearTimeout(timer);
        timer = setTimeout(() => fail(new IdleTimeoutError(options.idleTimeoutMs)), options.idleTimeoutMs);
      };
      arm();
      const lines = new LineSplitter(
        options.maxLineBytes ?? MAX_WATCH_LINE_BYTES,
        (line) => {
          if (failed) return;
          let event: unknown;
          try {
            event = JSON.parse(line.toString('utf8'));
          } catch (err) {
            fail(new MalformedLineError(err));
            return;
          }
          const type = isRecord(event) && typeof event.type === 'string' ? event.type : 'UNKNOWN';
          options.onEvent(type, isRecord(event) ? event.object : undefined);
        },
        (head, bytes) => {
          if (failed) return;
          if (options.onOversized) options.onOversized(head, bytes);
          else fail(new OversizedLineError(bytes));
        },
      );
      response.on('data', (chunk: Buffer) => {
        arm();
        lines.push(chunk);
      });
      response.once('end', () => {
        clearTimeout(timer);
        lines.end();
        if (!failed) resolve();
      });
      response.on('error', fail);
      response.once('close', () => {
        // A connection cut mid-stream closes without 'end'.
        if (!response.complete) fail(options.signal.aborted ? options.signal.reason : new Error('the watch connection was closed'));
      });
    });
  }

  close(): void {
    this.target.close();
  }

  private async open(
    method: string,
    path: string,
    query: Query | undefined,
    body: Buffer | undefined,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    const url = new URL(path, this.target.server);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const transport = await this.target.transport();
    signal?.throwIfAborted();
    const headers: OutgoingHttpHeaders = {
      ...transport.headers,
      accept: 'application/json',
      'user-agent': this.userAgent,
    };
    if (body) {
      headers['content-type'] = 'application/json';
      headers['content-length'] = body.length;
    }
    try {
      return await this.send(url, method, headers, body, transport.agent, signal);
    } catch (err) {
      // A pooled connection the server closed while idle fails on first use; the request never got
      // there, so one retry on a fresh connection is safe (SubjectAccessReviews have no side effects).
      if (err instanceof StaleConnectionError) return this.send(url, method, headers, body, transport.agent, signal);
      throw err;
    }
  }

  private send(
    url: URL,
    method: string,
    headers: OutgoingHttpHeaders,
    body: Buffer | undefined,
    agent: HttpAgent,
    signal: AbortSignal | undefined,
  ): Promise<IncomingMessage> {
    return new Promise<IncomingMessage>((resolve, reject) => {
      const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
      let answer: IncomingMessage | undefined;
      const req = send(url, { method, headers, agent }, (response) => {
        answer = response;
        const status = response.statusCode ?? 0;
        if (status >= 200 && status < 300) {
          resolve(response);
          return;
        }
        readBody(response).then(
          (text) => reject(new ApiStatusError(status, statusMessageOf(text))),
          () => reject(new ApiStatusError(status, undefined)),
        );
      });
      // Wired by hand rather than with the `signal` option: that one destroys the socket even after the
      // whole answer has arrived, when the socket is back in the pool and nobody listens for its error.
      const abort = (): void => {
        const reason = signal?.reason instanceof Error ? signal.reason : new DOMException('aborted', 'AbortError');
        if (!answer) req.destroy(reason);
        else if (!answer.complete) answer.destroy(reason);
      };
      signal?.addEventListener('abort', abort, { once: true });
      req.once('close', () => signal?.removeEventListener('abort', abort));
      req.on('error', (err: NodeJS.ErrnoException) => {
        const stale = req.reusedSocket && (err.code === 'ECONNRESET' || err.code === 'EPIPE') && !signal?.aborted;
        reject(stale ? new StaleConnectionError(err) : err);
      });
      req.end(body);
    });
  }
}

class StaleConnectionError extends Error {
  constructor(cause: Error) {
    super('a pooled connection was closed by the server', { cause });
  }
}

function readBody(response: IncomingMessage, maxBytes = MAX_BODY_BYTES): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    response.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        response.destroy(new Error(`the answer is larger than ${maxBytes} bytes`));
        return;
      }
      chunks.push(chunk);
    });
    response.once('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    response.on('error', reject);
    response.once('close', () => {
      if (!response.complete) reject(new Error('the connection was closed before the answer was complete'));
    });
  });
}

/** `message` of a Kubernetes Status body, shortened. */
function statusMessageOf(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (isRecord(parsed) && typeof parsed.message === 'string') {
      return parsed.message.length > 300 ? `${parsed.message.slice(0, 300)}...` : parsed.message;
    }
  } catch {
    // Not a Status: no detail.
  }
  return undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
