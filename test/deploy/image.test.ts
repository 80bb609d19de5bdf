import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { dirname, isAbsolute, join, matchesGlob, relative } from 'node:path';
import { createInterface } from 'node:readline';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reviewBody } from '../support/fixtures.js';
import { post } from '../support/https-client.js';

/**
 * There is no container engine here, so the image is proven by replaying the Dockerfile itself, step by
 * step, into folders (one per stage, standing for the stage's root filesystem), honouring .dockerignore,
 * and starting the server from the final stage the way its ENTRYPOINT and CMD say. The replay understands
 * exactly the instructions the Dockerfile uses and refuses anything else, so the two cannot drift apart.
 * RUN steps run with this machine's Node 24 first on PATH and npm preferring the cache that `npm ci` filled
 * (on a fresh clone it holds every package, so nothing is fetched).
 */

const run = promisify(execFile);
const ROOT = join(import.meta.dirname, '..', '..');
/** The cache `npm ci` filled on this machine (npm sets npm_config_cache for the scripts it runs). */
const NPM_CACHE = process.env.npm_config_cache ?? join(homedir(), '.npm');

interface Stage {
  name: string;
  image: string;
  root: string;
  workdir: string;
  env: Record<string, string>;
  user?: string;
  expose: string[];
  entrypoint: string[];
  cmd: string[];
  runs: string[];
  copies: Array<{ from?: string; sources: string[]; dest: string }>;
}

function instructions(text: string): Array<{ op: string; rest: string }> {
  const joined = text.replace(/\\\r?\n/g, ' ');
  return joined
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => {
      const match = /^(\w+)\s+(.*)$/.exec(line);
      if (!match) throw new Error(`cannot read Dockerfile line: ${line}`);
      return { op: (match[1] as string).toUpperCase(), rest: match[2] as string };
    });
}

function keyValue(text: string): [string, string] {
  const at = text.indexOf('=');
  return at < 0 ? [text.trim(), ''] : [text.slice(0, at).trim(), text.slice(at + 1).trim()];
}

function dockerignore(): (path: string) => boolean {
  const patterns = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  return (path) => {
    let ignored = false;
    const parts = path.split('/');
    for (const pattern of patterns) {
      const negated = pattern.startsWith('!');
      const glob = negated ? pattern.slice(1) : pattern;
      // A pattern that matches a directory excludes everything below it.
      const hit = parts.some((_, i) => matchesGlob(parts.slice(0, i + 1).join('/'), glob));
      if (hit) ignored = !negated;
    }
    return ignored;
  };
}

function copyTree(source: string, dest: string, skip: (path: string) => boolean, contextPath?: string): void {
  if (contextPath !== undefined && skip(contextPath)) return;
  if (statSync(source).isDirectory()) {
    mkdirSync(dest, { recursive: true });
    for (const entry of readdirSync(source)) {
      copyTree(join(source, entry), join(dest, entry), skip, contextPath === undefined ? undefined : contextPath ? `${contextPath}/${entry}` : entry);
    }
    return;
  }
  mkdirSync(dirname(dest), { recursive: true });
  cpSync(source, dest);
}

/** Replays the Dockerfile into `into`; returns the stages in order. */
async function replay(into: string): Promise<Stage[]> {
  const args: Record<string, string> = {};
  const stages: Stage[] = [];
  const ignored = dockerignore();
  const substitute = (value: string, vars: Record<string, string>) =>
    value.replace(/\$\{(\w+)\}|\$(\w+)/g, (_, a: string | undefined, b: string | undefined) => vars[(a ?? b) as string] ?? '');
  const nodeBin = dirname(process.execPath);

  for (const { op, rest } of instructions(readFileSync(join(ROOT, 'Dockerfile'), 'utf8'))) {
    const stage = stages.at(-1);
    const inStage = (path: string) => join(stage!.root, isAbsolute(path) ? path : join(stage!.workdir, path));
    switch (op) {
      case 'ARG': {
        if (stage) throw new Error('ARG inside a stage is not replayed');
        const [key, value] = keyValue(rest);
        args[key] = value;
        break;
      }
      case 'FROM': {
        const match = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(rest);
        if (!match) throw new Error(`FROM ${rest}`);
        const name = match[2] ?? `stage${stages.length}`;
        const root = join(into, name);
        mkdirSync(root, { recursive: true });
        stages.push({
          name,
          image: substitute(match[1] as string, args),
          root,
          workdir: '/',
          env: {},
          expose: [],
          entrypoint: [],
          cmd: [],
          runs: [],
          copies: [],
        });
        break;
      }
      case 'WORKDIR':
        stage!.workdir = isAbsolute(rest) ? rest : join(stage!.workdir, rest);
        mkdirSync(join(stage!.root, stage!.workdir), { recursive: true });
        break;
      case 'ENV': {
        for (const pair of rest.split(/\s+/)) {
          const [key, value] = keyValue(pair);
          stage!.env[key] = value;
        }
        break;
      }
      case 'COPY': {
        const words = rest.split(/\s+/);
        const flags = words.filter((w) => w.startsWith('--'));
        const paths = words.filter((w) => !w.startsWith('--'));
        const fromFlag = flags.find((f) => f.startsWith('--from='));
        const unknown = flags.filter((f) => !/^--(from|chown|chmod)=/.test(f) && f !== '--link');
        if (unknown.length) throw new Error(`COPY flags not replayed: ${unknown.join(' ')}`);
        const dest = paths.pop() as string;
        const from = fromFlag ? stages.find((s) => s.name === fromFlag.slice('--from='.length)) : undefined;
        if (fromFlag && !from) throw new Error(`COPY ${fromFlag}: no such stage`);
        stage!.copies.push({ ...(from ? { from: from.name } : {}), sources: paths, dest });
        const target = inStage(dest);
        const intoDirectory = dest.endsWith('/') || paths.length > 1;
        for (const source of paths) {
          const absolute = from ? join(from.root, source) : join(ROOT, source);
          if (!from && ignored(relative(ROOT, absolute))) throw new Error(`COPY ${source}: excluded by .dockerignore`);
          const isDirectory = statSync(absolute).isDirectory();
          // Docker copies a directory's contents; a file keeps its name when the destination is a directory.
          const destination = isDirectory || !intoDirectory ? target : join(target, source.split('/').at(-1) as string);
          copyTree(absolute, destination, ignored, from ? undefined : relative(ROOT, absolute));
        }
        break;
      }
      case 'RUN': {
        if (/(^|[\s=])\//.test(rest)) throw new Error(`RUN with an absolute path cannot be replayed safely: ${rest}`);
        stage!.runs.push(rest);
        await run('sh', ['-c', rest], {
          cwd: join(stage!.root, stage!.workdir),
          // This machine's environment (npm's config and CA settings), with its Node 24 first and the image's ENV.
          env: {
            ...process.env,
            PATH: `${nodeBin}:${process.env.PATH ?? ''}`,
            ...stage!.env,
            npm_config_prefer_offline: 'true',
            npm_config_update_notifier: 'false',
            npm_config_cache: NPM_CACHE,
          },
          maxBuffer: 64 * 1024 * 1024,
        });
        break;
      }
      case 'USER':
        stage!.user = rest;
        break;
      case 'EXPOSE':
        stage!.expose.push(...rest.split(/\s+/));
        break;
      case 'ENTRYPOINT':
        stage!.entrypoint = JSON.parse(rest) as string[];
        break;
      case 'CMD':
        stage!.cmd = JSON.parse(rest) as string[];
        break;
      default:
        throw new Error(`Dockerfile instruction ${op} is not replayed by this test; teach it here`);
    }
  }
  return stages;
}

describe('the container image (Dockerfile replayed into a folder)', () => {
  let into: string;
  let stages: Stage[];
  let final: Stage;
  let child: ChildProcess | undefined;

  beforeAll(async () => {
    into = mkdtempSync(join(tmpdir(), 'rg-image-'));
    stages = await replay(into);
    final = stages.at(-1) as Stage;
  }, 600_000);
  afterAll(() => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    if (into) rmSync(into, { recursive: true, force: true });
  });

  it('is multi-stage on Node.js 24, installs production dependencies with npm ci --omit=dev, runs as a non-root user', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.image, stage.name).toMatch(/node(js)?:?24\b|nodejs24/);
    const deps = final.copies.find((c) => c.sources.some((s) => s.endsWith('node_modules')));
    const depsStage = stages.find((s) => s.name === deps?.from) as Stage;
    expect(depsStage.runs.some((r) => /\bnpm ci\b.*--omit=dev/.test(r))).toBe(true);
    expect(final.runs).toEqual([]); // nothing runs in the runtime image: no shell needed
    const [uid] = String(final.user).split(':');
    expect(Number(uid)).toBeGreaterThan(0);
    expect(final.expose.sort()).toEqual(['8080', '8443']);
  });

  it('holds the built server and production node_modules only: no sources, tests or dev tools', () => {
    const app = join(final.root, final.workdir);
    expect(existsSync(join(app, 'dist', 'cli', 'main.js'))).toBe(true);
    expect(existsSync(join(app, 'package.json'))).toBe(true);
    for (const absent of ['src', 'test', 'manifests', 'certs', '.git', 'node_modules/typescript', 'node_modules/vitest', 'node_modules/autocannon']) {
      expect(existsSync(join(app, absent)), absent).toBe(false);
    }
    for (const runtime of ['fastify', 'pino', 'prom-client', '@kubernetes/client-node', 'selfsigned', 'yaml']) {
      expect(existsSync(join(app, 'node_modules', runtime, 'package.json')), runtime).toBe(true);
    }
  });

  it('starts from its ENTRYPOINT and CMD and serves admission on HTTPS and health and metrics on HTTP', async () => {
    // The image's /nodejs/bin/node is Node 24, as this machine's; paths inside the image map into the stage folder.
    const [program, ...entryArgs] = [...final.entrypoint, ...final.cmd];
    expect(program).toMatch(/node$/);
    const mapped = entryArgs.map((arg) => (isAbsolute(arg) && existsSync(join(final.root, arg)) ? join(final.root, arg) : arg));
    const certDir = mkdtempSync(join(tmpdir(), 'rg-image-certs-'));
    child = spawn(process.execPath, [...mapped, '--port', '0', '--metrics-port', '0', '--bind-address', '127.0.0.1', '--dev-cert-dir', certDir], {
      cwd: join(final.root, final.workdir),
      env: { ...final.env, PATH: process.env.PATH ?? '', HOME: certDir, KUBECONFIG: '/nonexistent/kubeconfig' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const started = await new Promise<{ webhookPort: number; metricsPort: number }>((resolve, reject) => {
      let stderr = '';
      child!.stderr?.on('data', (chunk: Buffer) => (stderr += String(chunk)));
      child!.once('exit', (code) => reject(new Error(`the image's server exited with ${code}: ${stderr}`)));
      createInterface({ input: child!.stdout! }).on('line', (line) => {
        const entry = JSON.parse(line) as Record<string, unknown>;
        if (entry.msg === 'restore-guard is serving') resolve({ webhookPort: Number(entry.webhookPort), metricsPort: Number(entry.metricsPort) });
      });
    });
    expect((await fetch(`http://127.0.0.1:${started.metricsPort}/healthz`)).status).toBe(200);
    expect(await (await fetch(`http://127.0.0.1:${started.metricsPort}/metrics`)).text()).toContain(
      'restore_guard_serving_certificate_expiry_timestamp_seconds',
    );
    const ca = readFileSync(join(certDir, 'tls.crt'), 'utf8');
    const review = reviewBody({ object: { metadata: { name: 'p', namespace: 'team-a' }, spec: { containers: [] } } });
    const reply = await post(started.webhookPort, '/validate', JSON.stringify(review), { ca });
    expect(reply.body).toMatchObject({ response: { uid: 'req-1', allowed: true } });
    const exited = new Promise<number | null>((resolve) => child!.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });
});
