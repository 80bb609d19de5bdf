import { writeSync } from 'node:fs';
import { pino, type Logger, type LevelWithSilent } from 'pino';

export type { Logger };

export const LOG_LEVELS: readonly LevelWithSilent[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A batch goes out once it holds this many characters (the lines are JSON, nearly all ASCII: ~bytes). */
const BATCH_CHARS = 16 * 1024;
/** The latest a line goes out after it was logged. */
const FLUSH_AFTER_MS = 100;

/** Batches not yet handed to their destination, written out when the process exits (see batchedStdout). */
const unflushed = new Set<{ exit(): void }>();
let exitHookInstalled = false;

/**
 * stdout, written in batches of about 16 KiB, at most 100 ms after a line: one write per line was a tenth
 * of the CPU of a restore review (one decision line each). The flush is armed by a write, not by a
 * periodic timer, which would write an empty buffer ten times a second forever.
 *
 * The lines of a batch are kept here and handed to pino's destination as one string. Left to the
 * destination (sonic-boom), each line was appended to its pending string and that string measured
 * (Buffer.byteLength) on every write, which flattened and copied the whole growing batch once per line:
 * ~8 KB of garbage per decision line, a quarter of what a small restore review allocated.
 *
 * On exit (no event loop left for an asynchronous write), what the destination holds is written out
 * first, then the batch, both synchronously.
 */
function batchedStdout(): pino.DestinationStream {
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.on('exit', () => {
      for (const batch of unflushed) batch.exit();
    });
  }
  // Its own buffering (sonic-boom's minLength, which must stay under its 16 KiB maxWrite) only holds what
  // the timer hands over between its flushes; full batches go out at once.
  const stdout = pino.destination({ dest: 1, sync: false, minLength: 4096 });
  let lines: string[] = [];
  let chars = 0;
  let flush: NodeJS.Timeout | undefined;
  const take = (): string => {
    unflushed.delete(batch);
    const text = lines.length === 1 ? (lines[0] as string) : lines.join('');
    lines = [];
    chars = 0;
    return text;
  };
  const batch = {
    drain() {
      if (lines.length > 0) stdout.write(take());
    },
    exit() {
      if (lines.length === 0) return;
      const text = take();
      try {
        stdout.flushSync();
        writeSync(1, text);
      } catch {
        // stdout is gone: nothing can be written any more.
      }
    },
  };
  return {
    write(line: string) {
      lines.push(line);
      chars += line.length;
      if (chars >= BATCH_CHARS) batch.drain();
      else if (lines.length === 1) unflushed.add(batch);
      flush ??= setTimeout(() => {
        flush = undefined;
        batch.drain();
        stdout.flush();
      }, FLUSH_AFTER_MS).unref();
    },
  };
}

export function createLogger(level: LevelWithSilent = 'info', destination?: NodeJS.WritableStream): Logger {
  const options = { name: 'restore-guard', level, base: { component: 'restore-guard' } };
  return pino(options, destination ?? batchedStdout());
}
