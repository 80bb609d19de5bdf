import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * stdout, written in batches of up to 4 KiB and at least every 100 ms: one write per line was a fifth of
 * the CPU of a restore review (one decision line each). pino flushes what is left when the process exits.
 */
function batchedStdout(): pino.DestinationStream {
  return pino.destination({ dest: 1, sync: false, minLength: 4096, periodicFlush: 100 });
}

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = { name: 'restore-guard', level, base: { component: 'restore-guard' } };
  return pino(options, destination ?? batchedStdout());
}
