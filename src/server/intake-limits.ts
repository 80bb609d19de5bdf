import { errorCodes, type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest, type RawServerDefault } from 'fastify';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import { statusBody, statusCode, type StatusBody } from '../admission/response.js';

/**
 * What the webhook takes in before it decides anything: how long a request may take to arrive, how many
 * connections it holds, and how many bytes the requests in flight may cost together. Without these, 80
 * connections each holding a nearly complete 7 MiB body took the process to 725 MB RSS (the pod's limit is
 * 384Mi), and a body fed one byte every 20 s was still open after minutes.
 *
 * Timeouts. kube-apiserver never waits more than 30 s for a webhook (`timeoutSeconds` is at most 30; the
 * manifests ship 5), and sends each review in one go, so:
 * - a request's headers must be complete 10 s after its first byte, the whole request (headers and body)
 *   30 s after it (Node's `headersTimeout` and `requestTimeout`, checked every second instead of Node's
 *   30 s); a request still arriving after 30 s can no longer be answered in time;
 * - a TLS handshake must finish in 10 s (Node's default is 120 s);
 * - a connection may be silent for 120 s, the keep-alive timeout: kube-apiserver keeps idle connections
 *   90 s, and a connection it dialled but has not used yet is idle the same way. That bound also holds
 *   while a review is being decided (at most 30 s) and for connections that never send a request.
 *
 * The body budget. Every request with a body is charged what it costs while it is in flight: while the
 * body arrives, its declared Content-Length (bodies without one, chunked, as their chunks arrive); once
 * it is complete and until the answer is sent, an estimate of what the parsed JSON takes in the V8 heap
 * (parseCost). Over the budget, a request is refused at once, before its body is read: HTTP 429 with
 * `Retry-After: 1` and a Kubernetes Status (kube-apiserver retries such answers while its timeout lasts),
 * and its connection is closed. Two rules keep slow senders from starving the reviews that matter:
 * - bodies over 64 KiB (kube-apiserver's reviews are a few KB; UPDATEs of large Pods reach 1-2 MiB) may
 *   hold at most 3/4 of the budget together; the last quarter is kept for small bodies;
 * - when a request does not fit, uploads that have been arriving for 2 s or more (a review arrives in
 *   milliseconds) are cut, oldest first, with 408, to make room.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** Headers complete within this after a request's first byte. */
export const HEADERS_TIMEOUT_MS = 10_000;
/** The whole request (headers and body) within this after its first byte: kube-apiserver's longest wait. */
export const REQUEST_TIMEOUT_MS = 30_000;
/** How often Node looks for requests past those two (its default, 30 s, lets one live up to twice as long). */
export const TIMEOUT_CHECK_INTERVAL_MS = 1_000;
/** A TLS handshake must be done within this. */
export const HANDSHAKE_TIMEOUT_MS = 10_000;
/** Under pressure, an upload that has been arriving this long is cut to make room. */
export const STALLED_UPLOAD_MS = 2_000;
/** What refusals for lack of room tell the caller to wait. */
export const RETRY_AFTER_SECONDS = 1;
/** Bodies up to this size are "small": charged at their worst expansion, never scanned, and they alone may use the last quarter of the budget. */
export const SMALL_BODY_BYTES = 64 * KiB;
/**
 * The most V8 heap a JSON text takes per byte of it, measured on Node 24 (7 MiB bodies): 21.7x for
 * `[{},{},...]`, 13.7x for `[[],[],...]`, 4.3x for `[0,0,...]`, 3.6x for an object with 300,000 short
 * labels, 2x for a Pod with 100,000 env entries, 1x for one long string.
 */
export const WORST_PARSE_EXPANSION = 24;

/**
 * The default budget, 48 MiB, and why it keeps the pod inside its 384Mi limit whatever the callers do
 * (NODE_OPTIONS: --max-old-space-size=160 --max-semi-space-size=8; idle RSS ~93 MiB, of which ~25 MiB live heap):
 * - bodies arriving are Buffers outside the V8 heap: at most 48 MiB, plus one body being decoded (7 MiB
 *   Buffer + its 7 MiB string) at a time;
 * - parsed bodies waiting for their answer are charged their estimated heap, at most 48 MiB together;
 *   even if the estimate were off by 2x that is 96 MiB, plus the ~25 MiB live at idle and 14 MiB for
 *   the body being parsed: ~135 MiB, inside the 160 MiB old space (a single 7 MiB `[{},...]` body, 152 MiB
 *   parsed, used to crash the process; it is now refused with 413);
 * - connections cost ~60-72 KiB each (TLS buffers, parser): 512 of them (the default cap) ~36 MiB.
 * Worst case RSS: ~70 MiB (code, V8 and Node outside the heap) + 160 MiB old space + 24 MiB new space (3 x 8)
 * + 55 MiB Buffers + 36 MiB connections = ~345 MiB < 384 MiB, and that only if the heap filled to its limit,
 * which the 48 MiB of live bodies cannot do. Meanwhile 48 MiB is room for 5 concurrent 7 MiB reviews, or
 * hundreds of the usual few-KB ones.
 */
export const DEFAULT_MAX_INFLIGHT_BODY_BYTES = 48 * MiB;
/** Connections held at once; more are closed as they are accepted (before the TLS handshake). */
export const DEFAULT_MAX_CONNECTIONS = 512;

export interface IntakeLimits {
  /** What the requests in flight may cost together, in bytes (see the budget above). */
  maxInflightBodyBytes: number;
  /** Connections held at once. */
  maxConnections: number;
  /** Under pressure, uploads arriving for this long are cut (default STALLED_UPLOAD_MS; tests change it). */
  stalledUploadMs?: number;
}

export const DEFAULT_INTAKE_LIMITS: IntakeLimits = { maxInflightBodyBytes: DEFAULT_MAX_INFLIGHT_BODY_BYTES, maxConnections: DEFAULT_MAX_CONNECTIONS };

/** Why a request or connection was refused; the label of `restore_guard_requests_refused_total`. */
export type RefusalReason = 'body-budget' | 'stalled-upload' | 'too-complex' | 'too-large' | 'timeout' | 'connection-limit';

/** An upload charged to the budget: one request with a body, from its headers to its answer. */
export interface Upload {
  /** Declared Content-Length; undefined for a chunked body. */
  readonly declared: number | undefined;
  /** Over SMALL_BODY_BYTES (or chunked): limited to the large share. */
  readonly large: boolean;
  /** Bytes charged now. */
  charged: number;
  /** The body is still arriving (only such uploads may be cut). */
  receiving: boolean;
  /** When its headers arrived (performance.now()). */
  readonly since: number;
  /** Ends the request with a 408; set by whoever reads the body. */
  cut?: () => void;
}

/** The accounting, apart from HTTP (unit-tested on its own). */
export class BodyBudget {
  private used = 0;
  private usedLarge = 0;
  /** Uploads with a charge, oldest first. */
  private readonly uploads = new Set<Upload>();
  /** The share bodies over SMALL_BODY_BYTES may hold together. */
  readonly largeShare: number;

  constructor(
    readonly max: number,
    private readonly onCut: (upload: Upload) => void = () => {},
    private readonly stalledMs: number = STALLED_UPLOAD_MS,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.largeShare = Math.floor((max * 3) / 4);
  }

  get inUse(): number {
    return this.used;
  }

  open(declared: number | undefined): Upload {
    return { declared, large: declared === undefined || declared > SMALL_BODY_BYTES, charged: 0, receiving: true, since: this.now() };
  }

  /** Whether `bytes` could ever be charged to this upload (else the request is refused for good, 413). */
  canEverHold(upload: Upload, bytes: number): boolean {
    return bytes <= (upload.large ? this.largeShare : this.max);
  }

  /** Raises the upload's charge to `total` bytes, cutting stalled uploads if needed; false if it does not fit. */
  chargeUpTo(upload: Upload, total: number): boolean {
    const extra = total - upload.charged;
    if (extra <= 0) return true;
    if (!this.canEverHold(upload, total)) return false;
    if (!this.fits(upload, extra)) {
      this.cutStalled(upload, extra);
      if (!this.fits(upload, extra)) return false;
    }
    upload.charged = total;
    this.used += extra;
    if (upload.large) this.usedLarge += extra;
    this.uploads.add(upload);
    return true;
  }

  /** The request ended (answered, refused or aborted): its charge is returned. Idempotent. */
  release(upload: Upload): void {
    upload.receiving = false;
    upload.cut = undefined;
    if (upload.charged === 0) return;
    this.used -= upload.charged;
    if (upload.large) this.usedLarge -= upload.charged;
    upload.charged = 0;
    this.uploads.delete(upload);
  }

  private fits(upload: Upload, extra: number): boolean {
    return this.used + extra <= this.max && (!upload.large || this.usedLarge + extra <= this.largeShare);
  }

  private cutStalled(newcomer: Upload, extra: number): void {
    const stalledBefore = this.now() - this.stalledMs;
    for (const upload of this.uploads) {
      if (this.fits(newcomer, extra)) return;
      if (upload === newcomer || !upload.receiving || upload.since > stalledBefore) continue;
      // Freeing a small upload does not help a large newcomer that only the large share holds back.
      if (newcomer.large && !upload.large && this.used + extra <= this.max) continue;
      const cut = upload.cut;
      this.release(upload);
      this.onCut(upload);
      cut?.();
    }
  }
}

/**
 * Heap a JSON text will take once parsed, estimated from one pass over its bytes: the text itself, 64
 * bytes per object or array and 16 per member or element (',' and ':' outside strings). Measured against
 * V8 (7 MiB bodies): `[{},...]` 152 MiB real / 190 estimated, `[0,...]` 30 / 62, 300,000 labels 25 / 16,
 * 100,000 env entries 14 / 31, one long string 7 / 7. A few ns a byte, so only large bodies are scanned.
 */
export function parseCost(body: Buffer): number {
  let containers = 0;
  let separators = 0;
  const n = body.length;
  for (let i = 0; i < n; i++) {
    const b = body[i];
    // `| 0` tells the optimizing compiler i stays a small integer (a call may return any number): without
    // it the loop ran at half speed, even over bodies without strings.
    if (b === QUOTE) i = closingQuote(body, i + 1) | 0;
    else if (b === 0x7b || b === 0x5b) containers++;
    else if (b === 0x2c || b === 0x3a) separators++;
  }
  return n + containers * 64 + separators * 16;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
/** Up to this many bytes a string is read byte by byte; a native indexOf per string costs more. */
const SHORT_STRING = 64;

/** Where the string whose content starts at `i` ends (at or past the body's end if it never does). */
function closingQuote(body: Buffer, i: number): number {
  const shortEnd = Math.min(body.length, i + SHORT_STRING);
  const stop = quoteOrStop(body, i, shortEnd);
  return stop < shortEnd ? stop : longStringEnd(body, stop);
}

/**
 * A long string, from `i`: one indexOf to its next quote, and if that one is escaped, byte by byte from
 * there. JSON kept in a string (kubectl's last-applied-configuration) has an escaped quote every few
 * bytes: an indexOf for each made this estimate cost a 1 MiB UPDATE more CPU than its JSON.parse.
 */
function longStringEnd(body: Buffer, i: number): number {
  const quote = body.indexOf(QUOTE, i);
  if (quote < 0) return body.length;
  // An odd run of backslashes right before a quote escapes it. (A run starts where no escape is open: the
  // byte before it is plain or escaped.)
  let run = quote;
  while (body[run - 1] === BACKSLASH) run--;
  if ((quote - run) % 2 === 0) return quote;
  return quoteOrStop(body, quote + 1, body.length);
}

/** The first unescaped quote from `i` before `end`, or where the reading stopped: `end`, or one past it. */
function quoteOrStop(body: Buffer, i: number, end: number): number {
  for (; i < end; i++) {
    const c = body[i];
    if (c === QUOTE) return i;
    if (c === BACKSLASH) i++;
  }
  return i;
}

/** A refusal the error handler answers as a Kubernetes Status, closing the connection. */
export class IntakeRefusal extends Error {
  constructor(
    readonly reason: 'RequestTimeout' | 'RequestEntityTooLarge' | 'TooManyRequests',
    message: string,
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
  }

  /** The Status body (kube-apiserver's style: reason, code, details.retryAfterSeconds). */
  status(): StatusBody {
    return statusBody(this.reason, this.message, this.retryAfterSeconds ? { retryAfterSeconds: this.retryAfterSeconds } : undefined);
  }

  get statusCode(): number {
    return statusCode(this.reason);
  }

  /** Body bytes the client still has to send, when known: up to LINGER_MAX_BYTES, the connection lingers. */
  unread: number | undefined;

  /** Sends it: Status body, `Retry-After` when there is one, and `Connection: close` (the rest of the body is not kept). */
  send(reply: FastifyReply) {
    if (this.retryAfterSeconds) reply.header('retry-after', String(this.retryAfterSeconds));
    const socket = reply.raw.socket;
    if (socket && this.unread !== undefined && this.unread <= LINGER_MAX_BYTES) lingerOnClose(socket);
    return reply.code(this.statusCode).header('connection', 'close').send(this.status());
  }
}

/** How long a refused connection keeps reading (and discarding) after its answer before it is closed. */
export const LINGER_MS = 1_000;
/** Only connections with at most this much body left linger (reading 80 refused 7 MiB bodies at once costs RSS). */
export const LINGER_MAX_BYTES = 1024 * 1024;

/**
 * After an answer with `Connection: close`, Node closes the socket as soon as the answer is written; with
 * body bytes still unread that close is a TCP reset, and the reset makes the client drop the answer it has
 * not read yet (a client still sending its body sees "connection reset", not the 429). So the socket only
 * half-closes, reads and discards what still comes for up to LINGER_MS, then closes: a client sending at
 * speed, as kube-apiserver does, gets the answer; a slow one costs a connection for a second, no memory.
 * Bodies with more than LINGER_MAX_BYTES left are closed at once (kube-apiserver retries a reset, too).
 */
function lingerOnClose(socket: Socket): void {
  const target = socket as Socket & { destroySoon?: () => void };
  target.destroySoon = () => {
    if (socket.writable) socket.end();
    setTimeout(() => socket.destroy(), LINGER_MS).unref();
  };
}

const noRoom = () => new IntakeRefusal('TooManyRequests', 'restore-guard has too many request bodies in flight; retry shortly', RETRY_AFTER_SECONDS);
const tooComplex = (cost: number, share: number) =>
  new IntakeRefusal(
    'RequestEntityTooLarge',
    `the body's JSON would take ~${Math.ceil(cost / MiB)} MiB to parse; at most ${Math.floor(share / MiB)} MiB is allowed`,
  );
const stalled = () => new IntakeRefusal('RequestTimeout', 'the request body stopped arriving; closed to make room for others');
const clientError = (reason: 'RequestTimeout' | 'RequestHeaderFieldsTooLarge' | 'BadRequest', message: string) => {
  const status = statusBody(reason, message);
  const body = JSON.stringify(status);
  const text = { RequestTimeout: 'Request Timeout', RequestHeaderFieldsTooLarge: 'Request Header Fields Too Large', BadRequest: 'Bad Request' }[reason];
  return `HTTP/1.1 ${status.code} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`;
};

export interface IntakeOptions {
  limits: IntakeLimits;
  /** The largest body accepted (413 beyond). */
  bodyLimit: number;
  onRefused?: (reason: RefusalReason) => void;
}

const uploadOf = new WeakMap<IncomingMessage, Upload>();

/** Emitted on a request to cut its upload; the body parser, while it reads, answers it with a 408. */
const CUT_EVENT = 'restore-guard:cut';

/**
 * Opens an upload for a request and releases it however the request ends (answered, refused by any hook,
 * or its connection gone). The closures hung on the request are made here, not in the hook or the body
 * parser: there they would share a scope with the Fastify request or the parser's state, and the
 * measured cost of that was ~100 µs of extra garbage collection per review (old space filled 6x faster).
 */
function track(budget: BodyBudget, declared: number | undefined, request: IncomingMessage, response: ServerResponse): Upload {
  const upload = budget.open(declared);
  uploadOf.set(request, upload);
  // Until the body parser listens, cutting means closing the connection.
  upload.cut = () => {
    if (!request.emit(CUT_EVENT)) request.destroy();
  };
  response.once('close', () => budget.release(upload));
  return upload;
}

/**
 * Fastify's `clientErrorHandler`: requests past headersTimeout or requestTimeout, and unparseable HTTP, get
 * a JSON Status (not Fastify's own JSON), then the connection closes. Counts the timeouts.
 */
export function intakeClientErrorHandler(onRefused: (reason: RefusalReason) => void = () => {}) {
  return (error: NodeJS.ErrnoException, socket: Socket): void => {
    if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') onRefused('timeout');
    if (error.code === 'ECONNRESET' || socket.destroyed) return;
    const inFlight = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage;
    if (socket.writable && !inFlight?.headersSent) {
      socket.write(
        error.code === 'ERR_HTTP_REQUEST_TIMEOUT'
          ? clientError('RequestTimeout', 'the request did not arrive in time')
          : error.code === 'HPE_HEADER_OVERFLOW'
            ? clientError('RequestHeaderFieldsTooLarge', 'the request headers are too large')
            : clientError('BadRequest', 'malformed HTTP request'),
      );
    }
    socket.destroy(error);
  };
}

/**
 * Puts the limits on a Fastify app created with REQUEST_TIMEOUT_MS, HANDSHAKE_TIMEOUT_MS and
 * intakeClientErrorHandler: the connection cap, the headers timeout,
 * the body budget (an onRequest hook charging declared lengths, and the only body parser, for
 * application/json, which counts what arrives). Other media types get 415 without their body being read.
 */
export function installIntakeLimits<L extends FastifyBaseLogger>(
  app: FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, L>,
  options: IntakeOptions,
): BodyBudget {
  const refused = options.onRefused ?? (() => {});
  const server = app.server;
  server.maxConnections = options.limits.maxConnections;
  server.on('drop', () => refused('connection-limit'));
  server.headersTimeout = HEADERS_TIMEOUT_MS;
  // Read when the server starts listening.
  (server as unknown as { connectionsCheckingInterval: number }).connectionsCheckingInterval = TIMEOUT_CHECK_INTERVAL_MS;

  const budget = new BodyBudget(options.limits.maxInflightBodyBytes, () => refused('stalled-upload'), options.limits.stalledUploadMs);

  app.addHook('onRequest', (request, reply, done) => {
    const headers = request.headers;
    const length = headers['content-length'];
    if (length === undefined && headers['transfer-encoding'] === undefined) return done();
    const declared = length === undefined ? undefined : Number(length);
    // Past the body limit the parser refuses it (413) before reading a byte: nothing to charge.
    if (declared !== undefined && !(declared > 0 && declared <= options.bodyLimit)) return done();
    const upload = track(budget, declared, request.raw, reply.raw);
    // A small body is charged its worst expansion up front; a large one its length, then its parse cost.
    const charge = declared === undefined ? 0 : upload.large ? declared : declared * WORST_PARSE_EXPANSION;
    if (budget.chargeUpTo(upload, charge)) return done();
    const refusal = budget.canEverHold(upload, charge) ? noRoom() : tooComplex(charge, budget.largeShare);
    refusal.unread = declared;
    refused(refusal.statusCode === 429 ? 'body-budget' : 'too-complex');
    void refusal.send(reply);
  });

  app.removeAllContentTypeParsers();
  app.addContentTypeParser('application/json', (request: FastifyRequest, payload: IncomingMessage, done: (error: Error | null, body?: unknown) => void) => {
    const upload = uploadOf.get(request.raw);
    const declared = Number(request.headers['content-length']);
    if (declared > options.bodyLimit) {
      refused('too-large');
      return done(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE());
    }
    const chunks: Buffer[] = [];
    let received = 0;
    let finished = false;
    const finish = (error: Error | null, body?: unknown) => {
      if (finished) return;
      finished = true;
      payload.removeListener('data', onData);
      payload.removeListener('end', onEnd);
      payload.removeListener('error', onError);
      payload.removeListener('close', onClose);
      payload.removeListener(CUT_EVENT, onCut);
      chunks.length = 0;
      if (upload) {
        upload.receiving = false;
        upload.cut = undefined;
      }
      done(error, body);
    };
    const refuse = (refusal: Error, reason: RefusalReason) => {
      if (refusal instanceof IntakeRefusal && !Number.isNaN(declared)) refusal.unread = declared - received;
      refused(reason);
      finish(refusal);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > options.bodyLimit) return refuse(new errorCodes.FST_ERR_CTP_BODY_TOO_LARGE(), 'too-large');
      // A chunked body is charged as it arrives.
      if (upload && upload.declared === undefined && !budget.chargeUpTo(upload, received)) {
        return budget.canEverHold(upload, received) ? refuse(noRoom(), 'body-budget') : refuse(tooComplex(received, budget.largeShare), 'too-complex');
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      if (!Number.isNaN(declared) && received !== declared) return finish(new errorCodes.FST_ERR_CTP_INVALID_CONTENT_LENGTH());
      if (received === 0) return finish(new errorCodes.FST_ERR_CTP_EMPTY_JSON_BODY());
      const body = chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks, received);
      if (upload?.large) {
        // Until it is answered, a large body is charged what its parsed form will take (at least its length).
        const cost = parseCost(body);
        if (!budget.chargeUpTo(upload, Math.max(cost, upload.charged))) {
          return budget.canEverHold(upload, cost) ? refuse(noRoom(), 'body-budget') : refuse(tooComplex(cost, budget.largeShare), 'too-complex');
        }
      }
      let text = body.toString('utf8');
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        return finish(new errorCodes.FST_ERR_CTP_INVALID_JSON_BODY());
      }
      finish(null, parsed);
    };
    const onError = (error: Error & { statusCode?: number }) => {
      if (!(typeof error.statusCode === 'number' && error.statusCode >= 400)) error.statusCode = 400;
      finish(error);
    };
    const onClose = () => finish(Object.assign(new Error('the request was aborted'), { statusCode: 400 }));
    const onCut = () => {
      const refusal = stalled();
      if (!Number.isNaN(declared)) refusal.unread = declared - received;
      finish(refusal);
    };
    payload.on('data', onData);
    payload.on('end', onEnd);
    payload.on('error', onError);
    payload.on('close', onClose);
    payload.on(CUT_EVENT, onCut);
    payload.resume();
  });

  return budget;
}

/** The smallest budget --max-inflight-body-bytes takes: its large share (3/4) must hold one body at the 7 MiB limit. */
export const MIN_INFLIGHT_BODY_BYTES = 16 * MiB;

/** A byte size as flags take it: a whole number of bytes, or with Ki, Mi or Gi (`48Mi`). Undefined if not one. */
export function parseByteSize(text: string): number | undefined {
  const match = /^(\d{1,12})(Ki|Mi|Gi)?$/.exec(text.trim());
  if (!match) return undefined;
  const unit = match[2] === 'Ki' ? KiB : match[2] === 'Mi' ? MiB : match[2] === 'Gi' ? 1024 * MiB : 1;
  const bytes = Number(match[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}
