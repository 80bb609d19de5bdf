#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { parseServeOptions, USAGE, UsageError } from './options.js';
import { serve } from './serve.js';
import { StartupError } from './startup-error.js';

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
  if (command !== 'serve') throw new UsageError(`unknown command ${JSON.stringify(command)}`);
  if (rest.includes('--help') || rest.includes('-h')) {
    process.stdout.write(USAGE);
    return 0;
  }
  await serve(parseServeOptions(rest));
  return 0;
}

main(process.argv.slice(2)).then(
  (code) => {
    if (code !== 0) process.exitCode = code;
  },
  (error: unknown) => {
    if (error instanceof UsageError) {
      process.stderr.write(`restore-guard: ${error.message}\n\n${USAGE}`);
      process.exitCode = 2;
    } else if (error instanceof StartupError) {
      process.stderr.write(`restore-guard: ${error.message}\n`);
      process.exitCode = 1;
    } else {
      process.stderr.write(`restore-guard: ${(error as Error).stack ?? String(error)}\n`);
      process.exitCode = 1;
    }
  },
);
