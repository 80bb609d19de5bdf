import { fastify, LogController, type FastifyBaseLogger, type FastifyError } from 'fastify';
import type { Bindings, ChildLoggerOptions } from 'pino';
import type { SecureContextOptions } from 'node:tls';
import type { AdmissionHandler } from '../admission/handler.js';
import { reasonFor, statusBody } from '../admission/response.js';
import { admissionRoutes } from '../admission/routes.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { pinClientIdentities, type ClientIdentityPolicy } from './client-identity.js';
import type { PemPair } from '../tls/check.js';
import {
  DEFAULT_INTAKE_LIMITS,
  HANDSHAKE_TIMEOUT_MS,
  installIntakeLimits,
  intakeClientErrorHandler,
  IntakeRefusal,
  REQUEST_TIMEOUT_MS,
  type IntakeLimits,
  type RefusalReason,
} from './intake-limits.js';

/** kube-apiserver keeps idle connections for 90 s; closing earlier makes it write into dead sockets. */
export const KEEP_ALIVE_TIMEOUT_MS = 120_000;
/** UPDATE reviews carry two Pods; 7 MiB is what the field settled on (Fastify's default is 1 MiB). */
export const BODY_LIMIT_BYTES = 7 * 1024 * 1024;

/** The TLS settings of every secure context, at start and on each certificate reload (setSecureContext replaces all). */
export function secureContextOptions(tls: PemPair, clientCa?: string): SecureContextOptions {
  return { cert: tls.cert, key: tls.key, minVersion: 'TLSv1.2', ...(clientCa ? { ca: clientCa } : {}) };
}

export interface WebhookServerOptions {
  tls: PemPair;
  /** With it, only clients presenting a certificate signed by one of these CAs get through the handshake (mTLS). */
  clientCa?: string;
  /** With clientCa: only certificates naming one of these identities get an answer (client-identity.ts). */
  clientIdentity?: ClientIdentityPolicy;
  handler: AdmissionHandler;
  logger: Logger;
  /** Connection cap and in-flight body budget (intake-limits.ts); defaults fit the Deployment's 384Mi. */
  limits?: Partial<IntakeLimits>;
  /** Counts requests and connections refused by those limits. */
  metrics?: Pick<Metrics, 'requestsRefused'>;
}

/**
 * The logger Fastify hands each request (`request.log`, with its `reqId`), made the first time something
 * logs through it. Fastify made a pino child for every request: ~9 µs of CPU per review (a bare Fastify
 * server with the same options answered in ~72 µs with a logger, ~63 without), though restore-guard logs
 * its decisions through its own logger and Fastify writes to a request's only on faults. The child, when it
 * is made, has the same bindings and options: the same lines.
 */
class DeferredRequestLogger {
  private made: FastifyBaseLogger | undefined;

  constructor(
    private readonly parent: FastifyBaseLogger,
    private readonly bindings: Bindings,
    private readonly options: ChildLoggerOptions,
  ) {}

  private get logger(): FastifyBaseLogger {
    this.made ??= this.parent.child(this.bindings, this.options);
    return this.made;
  }

  get level(): string {
    return this.logger.level;
  }

  set level(level: string) {
    this.logger.level = level;
  }

  // Methods on the prototype (not a closure per request); each passes its arguments on as they came.
  fatal(...args: unknown[]): void {
    const logger = this.logger;
    Reflect.apply(logger.fatal, logger, args);
  }
  error(...args: unknown[]): void {
    const logger = this.logger;
    Reflect.apply(logger.error, logger, args);
  }
  warn(...args: unknown[]): void {
    const logger = this.logger;
    Reflect.apply(logger.warn, logger, args);
  }
  info(...args: unknown[]): void {
    const logger = this.logger;
    Reflect.apply(logger.info, logger, args);
  }
  debug(...args: unknown[]): void {
    const logger = this.logger;
    Reflect.apply(logger.debug, logger, args);
  }
  trace(...args: unknown[]): void {
    const logger = this.logger;
    Reflect.apply(logger.trace, logger, args);
  }
  silent(...args: unknown[]): void {
    const logger = this.logger;
    Reflect.apply(logger.silent, logger, args);
  }

  child(bindings: Bindings, options?: ChildLoggerOptions): FastifyBaseLogger {
    return this.logger.child(bindings, options);
  }
}

/** The HTTPS admission server: HTTP only, no decisions; every reply is JSON. */
export function createWebhookServer(options: WebhookServerOptions) {
  const refused = (reason: RefusalReason) => options.metrics?.requestsRefused.inc({ reason });
  const app = fastify({
    https: {
      ...secureContextOptions(options.tls, options.clientCa),
      ...(options.clientCa ? { requestCert: true, rejectUnauthorized: true } : {}),
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    },
    http2: false,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    // Slow senders (intake-limits.ts): a request must arrive within 30 s, kube-apiserver's longest wait; a
    // connection may be silent as long as a kept-alive one (also while a review is decided, and before its
    // first request: kube-apiserver may dial one and use it later).
    requestTimeout: REQUEST_TIMEOUT_MS,
    connectionTimeout: KEEP_ALIVE_TIMEOUT_MS,
    clientErrorHandler: intakeClientErrorHandler(refused),
    bodyLimit: BODY_LIMIT_BYTES,
    loggerInstance: options.logger,
    // Its methods are pino's LogFn, typed loosely since they only pass their arguments on.
    childLoggerFactory: (logger, bindings, childOptions) => new DeferredRequestLogger(logger, bindings, childOptions) as unknown as FastifyBaseLogger,
    // One log line per restore decision comes from the admission layer; per-request logs would flood.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: false,
    // The body is data, never merged into objects: keys like "__proto__" are answered, not refused.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
  });

  if (options.clientIdentity) {
    if (!options.clientCa) throw new Error('pinned client identities need a client CA (mTLS)');
    pinClientIdentities(app.server, options.clientIdentity, options.logger);
  }

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    // The intake limits' refusals (429 no room, 408 stalled upload, 413 too complex) carry their own Status.
    if (error instanceof IntakeRefusal) return error.send(reply);
    // Parser and limit errors (bad JSON, empty body, too large, wrong media type) get a JSON Status.
    const statusCode = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (statusCode === 500) options.logger.error({ err: error }, 'unexpected error in the webhook server');
    const body = statusBody(reasonFor(statusCode), statusCode === 500 ? 'internal error' : error.message);
    return reply.code(body.code).send(body);
  });
  installIntakeLimits(app, { limits: { ...DEFAULT_INTAKE_LIMITS, ...options.limits }, bodyLimit: BODY_LIMIT_BYTES, onRefused: refused });
  app.setNotFoundHandler((_request, reply) => reply.code(404).send(statusBody('NotFound', 'only POST /mutate and POST /validate are served here')));

  // Draining: server.close() reaps only the connections idle at that moment, so a keep-alive connection
  // with a review in flight would stay open after its answer and hold the drain until the 120 s keep-alive
  // timeout (past the pod's grace period). While closing, answers say `Connection: close`, and connections
  // that go idle are reaped every 50 ms. (Not per-answer hooks: they cost every review a few µs.)
  let closing = false;
  let reaper: NodeJS.Timeout | undefined;
  app.addHook('preClose', (done) => {
    closing = true;
    reaper = setInterval(() => app.server.closeIdleConnections(), 50);
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    clearInterval(reaper);
    done();
  });

  void app.register(admissionRoutes, { handler: options.handler, closing: () => closing });
  return app;
}

export type WebhookServer = ReturnType<typeof createWebhookServer>;
