// Load generators, all over HTTPS with HTTP/1.1 keep-alive, loopback only:
// - saturate(): autocannon, closed loop, N connections: throughput at saturation;
// - fixedRate(): open loop at a fixed rate (a request every 1/rate s whether or not earlier ones have
//   answered), so a stalled server shows up in the latency instead of slowing the load down;
// - burst(): N requests fired at once over N warm connections.
import { Agent, request } from 'node:https';
import autocannon from 'autocannon';
import { cpuSeconds, preemptions } from './processes.js';

export type Body = string | Buffer | ((index: number) => string);

export interface Target {
  port: number;
  /** PEM of the serving certificate (verified against, name "localhost"). */
  ca: string;
}

export interface SaturationResult {
  /** Answers per second over the measured window. */
  rps: number;
  /** 2xx answers. */
  requests: number;
  /** Requests sent, answered or not. */
  sent: number;
  non2xx: number;
  errors: number;
  durationS: number;
  /** CPU the server process used, in cores (1 = one core fully busy); undefined without /proc. */
  serverCores: number | undefined;
  /** Server CPU microseconds per answer: the cost of one review, less sensitive to a shared machine. */
  cpuUsPerReview: number | undefined;
}

/** Closed-loop load with autocannon: `connections` keep-alive connections, each one request at a time. */
export async function saturate(options: {
  target: Target;
  path: string;
  body: Body;
  connections: number;
  durationS: number;
  pid?: number;
}): Promise<SaturationResult> {
  const { target, body } = options;
  let index = 0;
  const dynamic = typeof body === 'function';
  const cpuBefore = options.pid ? cpuSeconds(options.pid) : undefined;
  const started = performance.now();
  const result = await autocannon({
    url: `https://127.0.0.1:${target.port}${options.path}`,
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    connections: options.connections,
    pipelining: 1,
    duration: options.durationS,
    timeout: 10,
    servername: 'localhost',
    ...(dynamic
      ? { requests: [{ method: 'POST', path: options.path, setupRequest: (req) => ({ ...req, body: body(index++) }) }] }
      : { body: typeof body === 'string' ? body : body.toString('utf8') }),
  });
  const elapsedS = (performance.now() - started) / 1000;
  const cpuAfter = options.pid ? cpuSeconds(options.pid) : undefined;
  const requests = result['2xx'];
  const cpu = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : undefined;
  return {
    rps: requests / result.duration,
    requests,
    sent: result.requests.sent,
    non2xx: result.non2xx,
    errors: result.errors,
    durationS: result.duration,
    serverCores: cpu === undefined ? undefined : cpu / elapsedS,
    cpuUsPerReview: cpu === undefined || requests === 0 ? undefined : (cpu * 1e6) / requests,
  };
}

export interface Latencies {
  p50: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface RateResult extends Latencies {
  rate: number;
  /** Requests measured (after the warm-up). */
  samples: number;
  /** Requests sent, warm-up included. */
  sent: number;
  /** Answers that were not HTTP 200 with the expected `allowed`, and transport errors. */
  errors: number;
  /** p99 of how late the generator itself dispatched requests, in ms: large values mean the client lagged. */
  dispatchLagP99: number;
  /** Preemptions of the server's main thread per second while measured (undefined without /proc). */
  serverPreemptionsPerS: number | undefined;
  /** Every measured latency, in ms, when asked for (keepLatencies). */
  latencies?: number[];
}

export function percentile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] as number;
}

export function summarize(values: number[]): Latencies {
  const sorted = Float64Array.from(values).sort();
  const sum = values.reduce((a, b) => a + b, 0);
  return {
    p50: percentile(sorted, 0.5),
    p99: percentile(sorted, 0.99),
    p999: percentile(sorted, 0.999),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    mean: values.length > 0 ? sum / values.length : Number.NaN,
  };
}

export function median(values: number[]): number {
  const finite = values.filter((v) => Number.isFinite(v));
  if (finite.length === 0) return Number.NaN;
  const sorted = [...finite].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

export interface Answer {
  status: number;
  text: string;
}

/** One POST over `agent`; resolves with the status and body text. */
export function post(target: Target, agent: Agent, path: string, body: string | Buffer): Promise<Answer> {
  return postTo({ host: '127.0.0.1', port: target.port, path, agent, headers: { 'content-type': 'application/json' }, timeoutMs: 10_000 }, body);
}

/** One POST to any HTTPS server over `agent`, with the given headers (content-length is added). */
export function postTo(
  to: { host: string; port: number | string; path: string; agent: Agent; headers: Record<string, string>; timeoutMs: number },
  body: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: to.host,
        port: to.port,
        path: to.path,
        method: 'POST',
        agent: to.agent,
        headers: { ...to.headers, 'content-length': Buffer.byteLength(body) },
        timeout: to.timeoutMs,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error('client timeout')));
    req.on('error', reject);
    req.end(body);
  });
}

export function keepAliveAgent(target: Target, maxSockets: number): Agent {
  return new Agent({ keepAlive: true, maxSockets, ca: target.ca, servername: 'localhost' });
}

/** Whether an answer is a 200 AdmissionReview with the expected `allowed` (and, given, the uid). */
export function answered(answer: Answer, allowed: boolean, uid?: string): boolean {
  if (answer.status !== 200) return false;
  if (!answer.text.includes(`"allowed":${allowed}`)) return false;
  return uid === undefined || answer.text.includes(`"uid":${JSON.stringify(uid)}`);
}

/**
 * The open-loop clock: `send(index, measured, dispatched)` every 1/rate s for warmupS + durationS, never waiting
 * for answers (a slow server queues them, as real callers do). Requests dispatched during the warm-up are not
 * measured. Resolves once every request has been answered, with how late each measured one was dispatched.
 */
export async function openLoop(
  timing: { rate: number; warmupS: number; durationS: number },
  send: (index: number, measured: boolean, dispatched: number) => Promise<unknown>,
): Promise<{ sent: number; lags: number[] }> {
  const interval = 1000 / timing.rate;
  const start = performance.now();
  const measureFrom = start + timing.warmupS * 1000;
  const end = measureFrom + timing.durationS * 1000;
  const lags: number[] = [];
  let index = 0;
  let inFlight = 0;
  let next = start;
  let scheduling = true;
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => (finish = resolve));
  const fire = (scheduled: number): void => {
    const measured = scheduled >= measureFrom;
    const dispatched = performance.now();
    if (measured) lags.push(dispatched - scheduled);
    inFlight++;
    void send(index++, measured, dispatched).finally(() => {
      inFlight--;
      if (!scheduling && inFlight === 0) finish();
    });
  };
  const tick = (): void => {
    const now = performance.now();
    while (next <= now && next < end) {
      fire(next);
      next += interval;
    }
    if (next < end) setTimeout(tick, Math.max(0, next - performance.now()));
    else {
      scheduling = false;
      if (inFlight === 0) finish();
    }
  };
  tick();
  await finished;
  return { sent: index, lags };
}

/**
 * Open-loop load: a request every 1/rate s for warmupS + durationS; latency is measured from the moment a
 * request is handed to the client (so time queued behind busy connections counts) to the end of its answer.
 * Requests dispatched during the warm-up (TLS handshakes, JIT) are not measured.
 */
export async function fixedRate(options: {
  target: Target;
  path: string;
  body: Body;
  rate: number;
  durationS: number;
  warmupS: number;
  expectAllowed: boolean;
  maxSockets?: number;
  /** The server process, to count how often other processes took its core. */
  pid?: number;
  /** Return every measured latency too (to pool several runs' samples). */
  keepLatencies?: boolean;
}): Promise<RateResult> {
  const { target, body, rate } = options;
  const agent = keepAliveAgent(target, options.maxSockets ?? 64);
  const staticBody = typeof body === 'function' ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(body);
  const latencies: number[] = [];
  let errors = 0;
  let preemptedAtStart: number | undefined;
  let measureStarted = 0;

  const { sent, lags } = await openLoop(options, (index, measured, dispatched) => {
    if (measured && measureStarted === 0) {
      measureStarted = dispatched;
      preemptedAtStart = options.pid ? preemptions(options.pid) : undefined;
    }
    const payload = staticBody ?? (body as (i: number) => string)(index);
    return post(target, agent, options.path, payload).then(
      (answer) => {
        if (measured) {
          latencies.push(performance.now() - dispatched);
          if (!answered(answer, options.expectAllowed)) errors++;
        }
      },
      () => {
        if (measured) errors++;
      },
    );
  });
  const preemptedAtEnd = options.pid ? preemptions(options.pid) : undefined;
  const measuredS = (performance.now() - measureStarted) / 1000;
  agent.destroy();
  const lagSorted = Float64Array.from(lags).sort();
  return {
    rate,
    samples: latencies.length,
    sent,
    errors,
    dispatchLagP99: percentile(lagSorted, 0.99),
    serverPreemptionsPerS:
      preemptedAtStart !== undefined && preemptedAtEnd !== undefined && measuredS > 0 ? (preemptedAtEnd - preemptedAtStart) / measuredS : undefined,
    ...summarize(latencies),
    ...(options.keepLatencies ? { latencies } : {}),
  };
}

/** Fires `count` requests at once over `count` connections opened beforehand; resolves with the answers. */
export async function burst(target: Target, path: string, warmBody: string, body: string, count: number): Promise<Answer[]> {
  const agent = keepAliveAgent(target, count);
  try {
    // Open every connection first, so the burst arrives together instead of behind TLS handshakes.
    await Promise.all(Array.from({ length: count }, () => post(target, agent, path, warmBody)));
    return await Promise.all(Array.from({ length: count }, () => post(target, agent, path, body)));
  } finally {
    agent.destroy();
  }
}
