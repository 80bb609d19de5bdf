// `--perf`: where a review's CPU goes, restore-guard against the baseline, from Linux `perf` samples taken
// during each measured saturation window (both servers run with --perf-basic-prof, so JIT frames have names).
// V8's --cpu-prof sees only the main thread's JavaScript, not TLS, the kernel or V8's helper threads (garbage
// collection, compilation), and its own cost doubled the webhook's; perf samples every thread of the process.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';

/** Samples per second and thread: one sample stands for ~1 ms of CPU. */
export const PERF_FREQUENCY = 999;

/**
 * Each sample is charged to the first of these its stack matches, walking from the innermost frame out: so
 * JSON.parse called from the body parser counts as JSON.parse, the body parser's own code as intake.
 */
const CATEGORIES: readonly (readonly [string, RegExp])[] = [
  ['GC (main thread)', /Scavenge|MarkCompact|IncrementalMarking|Heap::Collect|Heap::PerformGarbage/],
  ['JSON.parse', /Builtin_JsonParse/],
  ['JSON.stringify', /JsonStringify/],
  ['TLS write (encrypt, send)', /TLSWrap::DoWrite|TLSWrap::EncOut/],
  ['TLS read (receive, decrypt)', /TLSWrap::OnStreamRead|TLSWrap::ClearOut|LibuvStreamWrap::OnUvRead|uv__read/],
  ['logging (pino)', /pino\/lib|sonic-boom|dist\/observability\/logger/],
  ['metrics (prom-client)', /prom-client/],
  ['restore rules: spec comparison', /dist\/restore\/spec-diff/],
  ['restore rules: the rest', /dist\/restore\/|dist\/policy\//],
  ['caches (checkpoints, authorization)', /dist\/kube\//],
  ['admission contract', /dist\/admission\/|dist\/common\//],
  ['server: intake limits', /dist\/server\//],
  ['Fastify', /node_modules\/(fastify|find-my-way|avvio|light-my-request|@fastify)/],
  ['Node HTTP', /node:_http|llhttp|http_parser|Parser::/],
  ['Node streams, sockets, events', /node:internal\/streams|node:net|node:events|stream_base|node:internal\/async/],
  ['promise jobs, ticks', /processTicksAndRejections|RunMicrotasks|MicrotaskQueue/],
  ['event loop (epoll)', /uv__io_poll|epoll|uv_run/],
];

export type Breakdown = Map<string, number>;

export function perfAvailable(): boolean {
  try {
    execFileSync('perf', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Samples every thread of `pid` for `seconds` into `file`; resolves when perf has written it. */
export function recordPerf(pid: number, seconds: number, file: string): Promise<void> {
  const perf = spawn('perf', ['record', '-q', '-F', String(PERF_FREQUENCY), '-g', '-p', String(pid), '-o', file, '--', 'sleep', String(seconds)], {
    stdio: 'ignore',
  });
  return new Promise((resolve, reject) => {
    perf.once('error', reject);
    perf.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`perf record exited with ${code}`))));
  });
}

/** The category of one sample's stack (innermost frame first). */
export function categoryOf(thread: string, frames: readonly string[]): string {
  if (thread !== 'MainThread') return thread === 'V8Worker' ? "V8's helper threads (GC, compiling)" : `other threads (${thread})`;
  for (const frame of frames) {
    for (const [name, pattern] of CATEGORIES) if (pattern.test(frame)) return name;
  }
  return 'other (Node, V8)';
}

/** Samples per category in `perf script` output (`-F comm,ip,sym`): a header line per sample, then its frames. */
export function breakdownOf(script: string): Breakdown {
  const counts: Breakdown = new Map();
  let thread: string | undefined;
  let frames: string[] = [];
  const flush = (): void => {
    if (thread === undefined) return;
    const category = categoryOf(thread, frames);
    counts.set(category, (counts.get(category) ?? 0) + 1);
    thread = undefined;
    frames = [];
  };
  for (const line of script.split('\n')) {
    if (line.trim() === '') flush();
    else if (/^\S/.test(line)) {
      flush();
      thread = line.trim().split(/\s+/)[0];
    } else frames.push(line.trim());
  }
  flush();
  return counts;
}

export async function readBreakdown(file: string): Promise<Breakdown> {
  const { stdout } = await promisify(execFile)('perf', ['script', '-i', file, '-F', 'comm,ip,sym'], { maxBuffer: 1024 * 1024 * 1024 });
  return breakdownOf(stdout);
}

/** Adds `more` into `into` (several repeats of one server). */
export function addBreakdown(into: Breakdown, more: Breakdown): void {
  for (const [category, samples] of more) into.set(category, (into.get(category) ?? 0) + samples);
}

/** µs of CPU per review in each category, given the answers sent over the sampled windows. */
export function perReview(breakdown: Breakdown, reviews: number): Map<string, number> {
  const us = new Map<string, number>();
  for (const [category, samples] of breakdown) us.set(category, (samples * 1e6) / PERF_FREQUENCY / reviews);
  return us;
}

/** The table: categories by restore-guard's cost, baseline beside it, and what restore-guard adds. */
export function breakdownTable(baseline: Map<string, number>, webhook: Map<string, number>): string {
  const categories = [...new Set([...webhook.keys(), ...baseline.keys()])].sort((a, b) => (webhook.get(b) ?? 0) - (webhook.get(a) ?? 0));
  const total = (m: Map<string, number>): number => [...m.values()].reduce((a, b) => a + b, 0);
  const row = (name: string, b: number, w: number): string =>
    `| ${name} | ${b.toFixed(1)} | ${w.toFixed(1)} | ${(w - b >= 0 ? '+' : '') + (w - b).toFixed(1)} |`;
  return [
    '| where (µs of CPU per review, perf samples) | baseline | restore-guard | added |',
    '|---|---|---|---|',
    ...categories.map((c) => row(c, baseline.get(c) ?? 0, webhook.get(c) ?? 0)),
    row('**total**', total(baseline), total(webhook)),
  ].join('\n');
}
