#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { CHECK_USAGE, parseCheckOptions } from './check-options.js';
import { runCheck } from './check.js';
import { InputError } from './input-error.js';
import { parseServeOptions, USAGE, UsageError } from './options.js';
import { serve } from './serve.js';
import { StartupError } from './startup-error.js';
import { parseTestOptions, runTests, TEST_USAGE } from './test-command.js';

function version(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (command === '--version') {
    process.stdout.write(`${version()}\n`);
    return 0;
  }
  const help = rest.includes('--help') || rest.includes('-h');
  switch (command) {
    case 'serve':
      if (help) return usage(USAGE);
      await serve(parseServeOptions(rest));
      return 0;
    case 'check':
      if (help) return usage(CHECK_USAGE);
      usageOnError = CHECK_USAGE;
      return runCheck(parseCheckOptions(rest), { stdout: process.stdout });
    case 'test':
      if (help) return usage(TEST_USAGE);
      usageOnError = TEST_USAGE;
      return runTests(parseTestOptions(rest), { stdout: process.stdout });
    default:
      throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  }
}

/** The usage printed after a usage error: the command's own once the command is known. */
let usageOnError = USAGE;

function usage(text: string): number {
  process.stdout.write(text);
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`restore-guard: ${error.message}\n\n${usageOnError}`);
      process.exitCode = 2;
    } else if (error instanceof InputError) {
      process.stderr.write(`restore-guard: ${error.message}\n`);
      process.exitCode = 2;
    } else if (error instanceof StartupError) {
      process.stderr.write(`restore-guard: ${error.message}\n`);
      process.exitCode = 1;
    } else if (usageOnError !== USAGE) {
      // check and test answer with a reason, never a stack trace: exit 2, could not decide.
      process.stderr.write(`restore-guard: could not decide: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exitCode = 2;
    } else {
      process.stderr.write(`restore-guard: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
