import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/**
 * stdout, written in batches of up to 4 KiB, at most 100 ms after a line: one write per line was a tenth
 * of the CPU of a restore review (one decision line each). The flush is armed by a write, not by a
 * periodic timer, which would write an empty buffer ten times a second forever. pino flushes what is
 * left when the process exits.
 */
function batchedStdout(): pino.DestinationStream {
  const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  let flush: NodeJS.Timeout | undefined;
  return {
    write(line: string) {
      stdout.write(line);
      flush ??= setTimeout(() => {
        flush = undefined;
        stdout.flush();
      }, 100).unref();
    },
  };
}

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = { name: 'restore-guard', level, base: { component: 'restore-guard' } };
  return pino(options, destination ?? batchedStdout());
}
