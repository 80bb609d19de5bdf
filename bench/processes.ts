// Processes under test: the webhook (the built dist/cli/main.js) and the baseline server, each in its own
// process, optionally pinned to one core; plus what /proc says about them (CPU time, RSS).
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { get } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { dirname, join } from 'node:path';
import type { ApiAccess } from './fake-api.js';

/** The project root, from bench/ (tests) or from the compiled .cache/bench/bench/. */
export const ROOT = findRoot(import.meta.dirname);
/** The built webhook; the benchmark measures what users run. */
export const WEBHOOK_MAIN = join(ROOT, 'dist', 'cli', 'main.js');

function findRoot(from: string): string {
  let dir = from;
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

export interface ServerProcess {
  name: string;
  port: number;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

/** `['taskset', '-c', cpu]` when taskset exists and the CPU is ours, else no pinning. */
export function pinPrefix(cpu: number | undefined): string[] {
  if (cpu === undefined) return [];
  try {
    execFileSync('taskset', ['-c', String(cpu), 'true'], { stdio: 'ignore' });
    return ['taskset', '-c', String(cpu)];
  } catch {
    return [];
  }
}

/** Pins every thread of this process (the load generator) to `cpu`; false when it cannot. */
export function pinSelf(cpu: number | undefined): boolean {
  if (cpu === undefined) return false;
  try {
    execFileSync('taskset', ['-a', '-p', '-c', String(cpu), String(process.pid)], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

function spawnWith(prefix: string[], args: string[], stdio: Parameters<typeof spawn>[2]['stdio'], env: Record<string, string> = {}): ChildProcess {
  const [command, ...rest] = prefix.length > 0 ? [...prefix, process.execPath, ...args] : [process.execPath, ...args];
  return spawn(command as string, rest, { stdio, env: { ...process.env, KUBECONFIG: '', ...env } });
}

function stopper(child: ChildProcess): () => Promise<void> {
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(timer);
  };
}

export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export async function startBaselineProcess(options: {
  script: string;
  certFile: string;
  keyFile: string;
  prefix?: string[];
  nodeFlags?: string[];
}): Promise<ServerProcess> {
  const child = spawnWith(
    options.prefix ?? [],
    [...(options.nodeFlags ?? []), options.script, options.certFile, options.keyFile],
    ['ignore', 'inherit', 'inherit', 'ipc'],
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`baseline server exited with ${code}`)));
    child.on('message', (message: { type?: string; port?: number }) => {
      if (message.type === 'ready' && typeof message.port === 'number') resolve(message.port);
    });
  });
  return { name: 'baseline', port, pid: child.pid ?? 0, child, stop: stopper(child) };
}

function httpStatus(port: number, path: string): Promise<number> {
  return new Promise((resolve) => {
    const req = get({ host: '127.0.0.1', port, path, timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', () => resolve(0));
    req.on('timeout', () => req.destroy());
  });
}

/**
 * Starts `restore-guard serve` with its default log level (info: one line per restore decision, written to
 * /dev/null here) and waits until /readyz says the watches have synced.
 */
export async function startWebhookProcess(options: {
  certFile: string;
  keyFile: string;
  /** How it reaches the API server (flags and environment). */
  access: ApiAccess;
  policyFile?: string;
  logLevel?: string;
  prefix?: string[];
  nodeFlags?: string[];
  main?: string;
  /** How long to wait for /readyz (default 30 s; a list of 100,000 checkpoints takes longer). */
  readyTimeoutMs?: number;
}): Promise<ServerProcess & { metricsPort: number }> {
  const [port, metricsPort] = [await freePort(), await freePort()];
  const args = [
    ...(options.nodeFlags ?? []),
    options.main ?? WEBHOOK_MAIN,
    'serve',
    '--port',
    String(port),
    '--metrics-port',
    String(metricsPort),
    '--bind-address',
    '127.0.0.1',
    '--tls-cert-file',
    options.certFile,
    '--tls-private-key-file',
    options.keyFile,
    ...options.access.args,
    '--log-level',
    options.logLevel ?? 'info',
    ...(options.policyFile ? ['--policy-file', options.policyFile] : []),
  ];
  const child = spawnWith(options.prefix ?? [], args, ['ignore', 'ignore', 'pipe'], options.access.env);
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + String(chunk)).slice(-4000);
  });
  const deadline = Date.now() + (options.readyTimeoutMs ?? 30_000);
  for (;;) {
    if (child.exitCode !== null) throw new Error(`restore-guard exited with ${child.exitCode}: ${stderr}`);
    if ((await httpStatus(metricsPort, '/readyz')) === 200) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`restore-guard did not become ready: ${stderr}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return { name: 'restore-guard', port, metricsPort, pid: child.pid ?? 0, child, stop: stopper(child) };
}

const CLOCK_TICKS = 100;

/** User + system CPU seconds of a process so far (from /proc; undefined where there is none). */
export function cpuSeconds(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may hold spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** A /proc/PID/status field in MiB (VmRSS, RssAnon, RssFile), undefined where /proc is not available. */
function statusMiB(pid: number, field: string): number | undefined {
  try {
    const match = new RegExp(`^${field}:\\s+(\\d+)\\s+kB`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

/** Resident set size in MiB (VmRSS). */
export const rssMiB = (pid: number): number | undefined => statusMiB(pid, 'VmRSS');
/** The anonymous part of the RSS (heap, malloc) in MiB; the rest is mostly the node binary, shared. */
export const rssAnonMiB = (pid: number): number | undefined => statusMiB(pid, 'RssAnon');

/** The values of some metrics on the webhook's /metrics (each summed over labels; absent ones left out), in one scrape. */
export async function scrapeMetrics(metricsPort: number, names: readonly string[]): Promise<Map<string, number>> {
  const text = await new Promise<string>((resolve) => {
    const req = get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve(body));
    });
    req.on('error', () => resolve(''));
    req.on('timeout', () => req.destroy());
  });
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const name = /^[A-Za-z_:][\w:]*/.exec(line)?.[0];
    if (name === undefined || !names.includes(name)) continue;
    values.set(name, (values.get(name) ?? 0) + Number(line.slice(line.lastIndexOf(' ') + 1)));
  }
  return values;
}

/** prom-client's event-loop monitor: a timer every 10 ms, so an idle loop measures 10 ms between turns. */
const EVENT_LOOP_RESOLUTION_MS = 10;

export interface EventLoopDelay {
  /** The longest and the 99th-percentile wait of a due timer, in ms, since the previous scrape. */
  maxMs: number;
  p99Ms: number;
}

/**
 * How long the webhook's event loop kept work waiting since the previous scrape (prom-client resets its
 * histogram at every scrape, so a first call starts a window): what a review queued behind a list page or a
 * garbage collection waited, measured inside the webhook, whatever the load generator's own lag.
 */
export async function eventLoopDelay(metricsPort: number): Promise<EventLoopDelay | undefined> {
  const [max, p99] = ['restore_guard_nodejs_eventloop_lag_max_seconds', 'restore_guard_nodejs_eventloop_lag_p99_seconds'];
  const values = await scrapeMetrics(metricsPort, [max, p99]);
  const ms = (name: string) => Math.max(0, (values.get(name) ?? Number.NaN) * 1000 - EVENT_LOOP_RESOLUTION_MS);
  return values.has(max) ? { maxMs: ms(max), p99Ms: ms(p99) } : undefined;
}

/** Times the main thread was preempted (nonvoluntary context switches): other tenants of a shared core. */
export function preemptions(pid: number): number | undefined {
  try {
    const match = /^nonvoluntary_ctxt_switches:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}
