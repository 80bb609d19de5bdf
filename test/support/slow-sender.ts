import { connect, type TLSSocket } from 'node:tls';

/**
 * A misbehaving HTTPS client for the intake-limit tests: it sends a request's headers and then only part
 * of its body (or of its headers), at its own pace, and records what the server did with the connection.
 * Loopback only; every timer it starts stops when the connection ends.
 */

export interface SlowSenderOptions {
  port: number;
  ca: string;
  path?: string;
  /** The Content-Length declared; undefined sends `Transfer-Encoding: chunked`. */
  contentLength: number | undefined;
  /** Body bytes sent at once after the headers (default 0). */
  upfront?: number;
  /** Then one byte every this many ms, until `upfront + trickled` reaches the declared length minus one (default: no trickle). */
  trickleMs?: number;
  /** Send the headers themselves one byte every trickleMs (never completing them). */
  trickleHeaders?: boolean;
}

export interface SlowSender {
  /** Resolves when the connection is closed, with what the server answered (if anything reached us). */
  readonly ended: Promise<SlowSenderEnd>;
  /** Resolves once the TLS handshake is done and the first bytes were written. */
  readonly started: Promise<void>;
  readonly isEnded: boolean;
  /** Closes it from our side (cleanup). */
  destroy(): void;
}

export interface SlowSenderEnd {
  /** The HTTP status the server answered with, when an answer arrived before the close. */
  status: number | undefined;
  /** The answer's headers and body as text. */
  answer: string;
  /** The socket error, if the close came with one (e.g. a reset). */
  error: string | undefined;
}

const FILL = Buffer.alloc(256 * 1024, 0x20); // spaces: valid JSON whitespace, so nothing is refused for its content

export function slowSender(options: SlowSenderOptions): SlowSender {
  const socket: TLSSocket = connect({ host: '127.0.0.1', port: options.port, ca: options.ca, servername: 'localhost' });
  let answer = '';
  let error: string | undefined;
  let ended = false;
  let timer: NodeJS.Timeout | undefined;
  socket.on('data', (chunk: Buffer) => (answer += chunk.toString('latin1')));
  socket.on('error', (e: NodeJS.ErrnoException) => (error ??= e.code ?? e.message));
  const endedPromise = new Promise<SlowSenderEnd>((resolve) =>
    socket.once('close', () => {
      ended = true;
      clearInterval(timer);
      const match = /^HTTP\/1\.1 (\d{3})/.exec(answer);
      resolve({ status: match ? Number(match[1]) : undefined, answer, error });
    }),
  );
  const started = new Promise<void>((resolve) => {
    socket.once('close', () => resolve());
    socket.once('secureConnect', () => {
      const head =
        `POST ${options.path ?? '/validate?timeout=5s'} HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n` +
        (options.contentLength === undefined ? 'Transfer-Encoding: chunked\r\n' : `Content-Length: ${options.contentLength}\r\n`) +
        '\r\n';
      if (options.trickleHeaders) {
        let at = 0;
        timer = setInterval(() => {
          if (socket.destroyed || at >= head.length - 3) return clearInterval(timer);
          socket.write(head[at++] ?? '');
        }, options.trickleMs ?? 100);
        resolve();
        return;
      }
      socket.write(head);
      const total = options.contentLength ?? Number.POSITIVE_INFINITY;
      let sent = 0;
      const write = (bytes: Buffer) => {
        if (socket.destroyed) return;
        socket.write(
          options.contentLength === undefined ? Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from('\r\n')]) : bytes,
        );
        sent += bytes.length;
      };
      let upfront = Math.min(options.upfront ?? 0, total - 1);
      while (upfront > 0) {
        const part = FILL.subarray(0, Math.min(FILL.length, upfront));
        write(part);
        upfront -= part.length;
      }
      if (options.trickleMs) {
        timer = setInterval(() => {
          if (socket.destroyed || sent >= total - 1) return clearInterval(timer);
          write(FILL.subarray(0, 1));
        }, options.trickleMs);
      }
      resolve();
    });
  });
  return {
    ended: endedPromise,
    started,
    get isEnded() {
      return ended;
    },
    destroy: () => socket.destroy(),
  };
}
