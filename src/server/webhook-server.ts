import { fastify, LogController, type FastifyError } from 'fastify';
import type { SecureContextOptions } from 'node:tls';
import type { AdmissionHandler } from '../admission/handler.js';
import { statusBody } from '../admission/response.js';
import type { Logger } from '../observability/logger.js';
import type { Webhook } from '../admission/request.js';
import { deadlineAfter, outboundBudgetMs } from './deadline.js';
import type { PemPair } from './dev-certificate.js';

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
  handler: AdmissionHandler;
  logger: Logger;
}

/** The HTTPS admission server: HTTP only, no decisions; every reply is JSON. */
export function createWebhookServer(options: WebhookServerOptions) {
  const app = fastify({
    https: {
      ...secureContextOptions(options.tls, options.clientCa),
      ...(options.clientCa ? { requestCert: true, rejectUnauthorized: true } : {}),
    },
    http2: false,
    keepAliveTimeout: KEEP_ALIVE_TIMEOUT_MS,
    bodyLimit: BODY_LIMIT_BYTES,
    loggerInstance: options.logger,
    // One log line per restore decision comes from the admission layer; per-request logs would flood.
    logController: new LogController({ disableRequestLogging: true }),
    return503OnClosing: false,
    // The body is data, never merged into objects: keys like "__proto__" are answered, not refused.
    onProtoPoisoning: 'ignore',
    onConstructorPoisoning: 'ignore',
  });

  app.setErrorHandler((error: FastifyError, _request, reply) => {
    // Parser and limit errors (bad JSON, empty body, too large, wrong media type) get a JSON Status.
    const statusCode = error.statusCode && error.statusCode >= 400 && error.statusCode < 500 ? error.statusCode : 500;
    if (statusCode === 500) options.logger.error({ err: error }, 'unexpected error in the webhook server');
    const body = statusBody('BadRequest', statusCode === 500 ? 'internal error' : error.message);
    return reply.code(statusCode).send({ ...body, code: statusCode, reason: statusCode === 500 ? 'InternalError' : body.reason });
  });
  app.setNotFoundHandler((_request, reply) =>
    reply.code(404).send({ apiVersion: 'v1', kind: 'Status', status: 'Failure', code: 404, reason: 'NotFound', message: 'only POST /mutate and POST /validate are served here' }),
  );

  // Draining: server.close() reaps only the connections idle at that moment, so a keep-alive connection
  // with a review in flight would stay open after its answer and hold the drain until the 120 s keep-alive
  // timeout (past the pod's grace period). While closing, answers say `Connection: close`, and connections
  // that go idle are reaped every 50 ms. (Not per-answer hooks: they cost every review a few µs.)
  let closing = false;
  let reaper: NodeJS.Timeout | undefined;
  app.addHook('preClose', async () => {
    closing = true;
    reaper = setInterval(() => app.server.closeIdleConnections(), 50);
  });
  app.addHook('onClose', async () => {
    clearInterval(reaper);
  });

  const route = (webhook: Webhook) =>
    app.post<{ Querystring: { timeout?: string } }>(`/${webhook}`, async (request, reply) => {
      const deadline = deadlineAfter(outboundBudgetMs(request.query.timeout));
      const result = await options.handler.handle(webhook, request.body, deadline);
      if (closing) reply.header('connection', 'close');
      return reply.code(result.statusCode).send(result.body);
    });
  route('mutate');
  route('validate');
  return app;
}

export type WebhookServer = ReturnType<typeof createWebhookServer>;
