import { Agent, request } from 'node:https';
import type { TLSSocket } from 'node:tls';

/**
 * A small load generator for the hardening drills: N workers, each with one call in flight at a time,
 * over HTTPS on loopback, the way kube-apiserver calls a webhook (HTTP/1.1, keep-alive). Bounded by a
 * number of calls, and stoppable; it counts outcomes and never judges time.
 */

/** One call: where to POST, what, and what the caller wants back with the outcome. */
export interface LoadCall<M> {
  path: string;
  body: string;
  meta: M;
}

export interface LoadOutcome<M> {
  meta: M;
  worker: number;
  seq: number;
  /** The HTTP status; undefined when the call failed in transport (refused, reset, client timeout). */
  status: number | undefined;
  /** The answer, parsed as JSON when it is JSON. */
  body: unknown;
  /** Why the call failed in transport. */
  error: string | undefined;
  /** The call went over a kept-alive connection that had carried an earlier call. */
  reusedSocket: boolean;
  /** SHA-256 fingerprint of the serving certificate of the connection that carried the call. */
  peer: string | undefined;
}

/** `keep-alive`: one connection per worker, reused for all its calls. `new`: a new connection (and handshake) per call. */
export type Connection = 'keep-alive' | 'new';

export interface LoadOptions<M> {
  port: number;
  /** CAs the client trusts. */
  ca: string | string[];
  /** SNI and the name the certificate must hold; default localhost. */
  servername?: string;
  /** A client certificate, for servers that require one. */
  clientCert?: { cert: string; key: string };
  workers: number;
  connection: (worker: number) => Connection;
  /** The call to make next; undefined ends that worker. */
  next: (seq: number, worker: number) => LoadCall<M> | undefined;
  onOutcome?: (outcome: LoadOutcome<M>) => void;
  /** Hard bound on calls over the whole run; the run ends when it is reached. */
  maxCalls: number;
  /** Pause between the calls of one worker (a steady stream that leaves the machine some air). Default 0. */
  pauseMs?: number;
  /** Client-side timeout of one call; passing it counts as a transport failure. Default 10 s. */
  timeoutMs?: number;
}

export interface LoadSummary {
  calls: number;
  /** Calls that got an HTTP answer. */
  answered: number;
  /** Calls without one (refused, reset, timed out). */
  transportFailures: number;
  /** The first transport errors, for the failure message. */
  errors: string[];
  /** Calls carried by a connection that had carried an earlier one. */
  reused: number;
  /** Calls that opened a connection (a TLS handshake). */
  handshakes: number;
}

export interface LoadRun {
  /** Live counts. */
  readonly summary: LoadSummary;
  /** Lets every worker finish the call it has in flight, then ends the run. */
  stop(): Promise<LoadSummary>;
  /** Resolves when every worker has ended (stopped, out of calls, or at maxCalls). */
  readonly finished: Promise<LoadSummary>;
}

export function startLoad<M>(options: LoadOptions<M>): LoadRun {
  const summary: LoadSummary = { calls: 0, answered: 0, transportFailures: 0, errors: [], reused: 0, handshakes: 0 };
  const agents: Agent[] = [];
  let stopped = false;
  let seq = 0;

  const one = (worker: number, agent: Agent | false, call: LoadCall<M>, n: number): Promise<LoadOutcome<M>> =>
    new Promise((resolve) => {
      let peer: string | undefined;
      const req = request(
        {
          host: '127.0.0.1',
          port: options.port,
          path: call.path,
          method: 'POST',
          agent,
          ca: options.ca,
          servername: options.servername ?? 'localhost',
          ...(options.clientCert ?? {}),
          headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(call.body) },
          timeout: options.timeoutMs ?? 10_000,
        },
        (res) => {
          // Read before the end: a keep-alive agent takes the socket back once the body is consumed.
          peer = (res.socket as TLSSocket).getPeerCertificate().fingerprint256;
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('error', (error) => done(undefined, undefined, error.message));
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown = text;
            try {
              body = JSON.parse(text);
            } catch {
              // not JSON: kept as text
            }
            done(res.statusCode ?? 0, body, undefined);
          });
        },
      );
      let settled = false;
      const done = (status: number | undefined, body: unknown, error: string | undefined) => {
        if (settled) return;
        settled = true;
        resolve({ meta: call.meta, worker, seq: n, status, body, error, reusedSocket: req.reusedSocket, peer });
      };
      req.on('timeout', () => req.destroy(new Error('client timeout')));
      req.on('error', (error: NodeJS.ErrnoException) => done(undefined, undefined, `${error.code ?? ''} ${error.message}`.trim()));
      req.end(call.body);
    });

  const workerLoop = async (worker: number): Promise<void> => {
    const kind = options.connection(worker);
    const agent = kind === 'keep-alive' ? new Agent({ keepAlive: true, maxSockets: 1 }) : false;
    if (agent) agents.push(agent);
    while (!stopped && seq < options.maxCalls) {
      const n = seq++;
      const call = options.next(n, worker);
      if (call === undefined) break;
      summary.calls++;
      const outcome = await one(worker, agent, call, n);
      if (outcome.status === undefined) {
        summary.transportFailures++;
        if (summary.errors.length < 20) summary.errors.push(outcome.error ?? 'unknown');
      } else {
        summary.answered++;
      }
      if (outcome.reusedSocket) summary.reused++;
      else summary.handshakes++;
      options.onOutcome?.(outcome);
      if (options.pauseMs) await new Promise((resolve) => setTimeout(resolve, options.pauseMs));
    }
  };

  const finished = Promise.all(Array.from({ length: options.workers }, (_, worker) => workerLoop(worker))).then(() => {
    for (const agent of agents) agent.destroy();
    return summary;
  });
  return {
    summary,
    finished,
    stop: () => {
      stopped = true;
      return finished;
    },
  };
}

export interface AdmissionAnswer {
  uid: string;
  allowed: boolean;
  status?: { code?: number; message?: string; reason?: string };
  patch?: string;
  warnings?: string[];
  auditAnnotations?: Record<string, string>;
}

/** The `response` of a well-formed AdmissionReview answer (HTTP 200) for `uid`, else undefined. */
export function admissionAnswer(outcome: { status?: number | undefined; body?: unknown }, uid: string): AdmissionAnswer | undefined {
  if (outcome.status !== 200 || typeof outcome.body !== 'object' || outcome.body === null) return undefined;
  const body = outcome.body as { apiVersion?: unknown; kind?: unknown; response?: Partial<AdmissionAnswer> };
  const response = body.response;
  if (body.kind !== 'AdmissionReview' || body.apiVersion !== 'admission.k8s.io/v1') return undefined;
  if (typeof response !== 'object' || response === null || response.uid !== uid || typeof response.allowed !== 'boolean') return undefined;
  return response as AdmissionAnswer;
}

/** Sums the samples of a Prometheus metric on the ops port whose labels include `labels`. */
export async function scrapeMetric(metricsPort: number, name: string, labels: Record<string, string> = {}): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
  let sum = 0;
  for (const line of text.split('\n')) {
    const match = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!match || match[1] !== name) continue;
    const present = (match[2] ?? '').split(',');
    if (Object.entries(labels).every(([key, value]) => present.includes(`${key}="${value}"`))) sum += Number(match[3]);
  }
  return sum;
}
