import { readdir, stat } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import type { Webhook } from '../admission/request.js';
import { deadlineAfter } from '../admission/deadline.js';
import type { RestoreDecision } from '../restore/messages.js';
import { restoreDeciders } from '../restore/webhooks.js';
import { InputError } from './input-error.js';
import { offlinePorts } from './offline-ports.js';
import { UsageError } from './options.js';
import { styleFor, type Style } from './style.js';
import { loadTestFile, TEST_KIND, type TestCase, type WebhookExpectation } from './test-file.js';
import { podReview, runWebhooks } from './webhook-chain.js';

export const TEST_USAGE = `restore-guard test: run restore-guard's decision code on test files, offline (no cluster)

Usage:
  restore-guard test PATH...

Each PATH is a ${TEST_KIND} file (YAML) or a directory of them (*.yaml, *.yml, read recursively). A file
names a policy, the checkpoints and snapshots that exist, RuntimeClasses, who may restore what, and cases:
a Pod (and an old Pod for an update), a user, and what each webhook is expected to answer. The format is in
README ("Checking before applying"); examples/tests/ has one per restore source.

Prints one line per case and a summary. Exit status: 0 every case passed, 1 a case did not answer as
expected, 2 a file could not be read or is not a valid ${TEST_KIND}.
`;

export interface TestOptions {
  paths: string[];
}

export function parseTestOptions(args: string[]): TestOptions {
  let positionals: string[];
  try {
    ({ positionals } = parseArgs({ args, strict: true, allowPositionals: true, options: {} }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (positionals.length === 0) throw new UsageError('test needs a directory or a file of test cases');
  return { paths: positionals };
}

/** The test files under a path (itself, when it is a file), sorted. */
async function filesOf(path: string): Promise<string[]> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    throw new InputError(`cannot read ${path}: ${(error as Error).message}`);
  }
  if (!info.isDirectory()) return [path];
  const entries = await readdir(path, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/.test(e.name))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

function describe(decision: RestoreDecision | undefined): string {
  if (!decision) return 'not reached';
  const patched = decision.patch && decision.patch.length > 0 ? ' (patch)' : '';
  return `${decision.allowed ? 'allowed' : 'denied'}/${decision.outcome}${patched}`;
}

/** What differs between the expectation and the answer; empty when they agree. */
export function mismatches(webhook: Webhook, expected: WebhookExpectation | 'not-reached' | undefined, decision: RestoreDecision | undefined): string[] {
  if (expected === undefined) return [];
  if (expected === 'not-reached') return decision ? [`${webhook}: expected not reached, got ${describe(decision)}`] : [];
  if (!decision) return [`${webhook}: expected an answer, but it was not reached (the mutating webhook denied)`];
  const problems: string[] = [];
  if (expected.allowed !== undefined && expected.allowed !== decision.allowed) problems.push(`allowed ${String(expected.allowed)}`);
  if (expected.outcome !== undefined && expected.outcome !== decision.outcome) problems.push(`outcome ${expected.outcome}`);
  const patched = (decision.patch?.length ?? 0) > 0;
  if (expected.patched !== undefined && expected.patched !== patched) problems.push(expected.patched ? 'a patch' : 'no patch');
  if (expected.message !== undefined && !(decision.status?.message ?? '').includes(expected.message))
    problems.push(`a message with ${JSON.stringify(expected.message)}`);
  if (problems.length === 0) return [];
  const message = decision.status?.message ? `: ${decision.status.message}` : '';
  return [`${webhook}: expected ${problems.join(', ')}; got ${describe(decision)}${message}`];
}

export interface TestIo {
  stdout: { write(text: string): unknown; isTTY?: boolean };
  env?: Record<string, string | undefined>;
}

async function runCase(ports: ReturnType<typeof offlinePorts>, testCase: TestCase): Promise<{ line: string; problems: string[] }> {
  const request = podReview({
    pod: testCase.pod,
    namespace: testCase.namespace,
    user: testCase.user,
    uid: 'restore-guard-test',
    ...(testCase.oldPod ? { oldPod: testCase.oldPod } : {}),
    ...(testCase.resource ? { resource: testCase.resource } : {}),
  });
  const chain = await runWebhooks(restoreDeciders(ports), request, deadlineAfter(10_000));
  const problems = [...mismatches('mutate', testCase.expect.mutate, chain.mutate), ...mismatches('validate', testCase.expect.validate, chain.validate)];
  return { line: `mutate ${describe(chain.mutate)}, validate ${describe(chain.validate)}`, problems };
}

/** `restore-guard test`: every case of every file, one line each, then a summary; returns the exit status. */
export async function runTests(options: TestOptions, io: TestIo): Promise<number> {
  const style: Style = styleFor(io.stdout, io.env);
  const files = (await Promise.all(options.paths.map(filesOf))).flat();
  if (files.length === 0) throw new InputError(`no test files (*.yaml, *.yml) in ${options.paths.join(', ')}`);
  let passed = 0;
  let failed = 0;
  let broken = 0;
  for (const file of files) {
    const shown = relative(process.cwd(), file) || file;
    let test;
    try {
      test = await loadTestFile(file);
      const ports = offlinePorts(test);
      for (const testCase of test.cases) {
        const { line, problems } = await runCase(ports, testCase);
        if (problems.length === 0) {
          passed++;
          io.stdout.write(`${style.ok('PASS')}  ${shown}: ${testCase.name} ${style.dim(`(${line})`)}\n`);
        } else {
          failed++;
          io.stdout.write(`${style.bad('FAIL')}  ${shown}: ${testCase.name}\n${problems.map((p) => `      ${p}\n`).join('')}`);
        }
      }
    } catch (error) {
      if (!(error instanceof InputError)) throw error;
      broken++;
      io.stdout.write(`${style.bad('ERROR')} ${error.message}\n`);
    }
  }
  const summary = `${passed + failed} cases in ${files.length} files: ${passed} passed, ${failed} failed${broken > 0 ? `, ${broken} files unreadable` : ''}`;
  io.stdout.write(`\n${failed > 0 || broken > 0 ? style.bad(summary) : style.ok(summary)}\n`);
  return broken > 0 ? 2 : failed > 0 ? 1 : 0;
}
