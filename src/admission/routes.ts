import type { FastifyPluginCallback } from 'fastify';
import { deadlineAfter, outboundBudgetMs } from './deadline.js';
import type { AdmissionHandler } from './handler.js';
import type { Webhook } from './request.js';

export interface AdmissionRoutesOptions {
  handler: AdmissionHandler;
  /** While the server drains, answers say `Connection: close` so kept-alive connections end after them. */
  closing: () => boolean;
}

const WEBHOOKS: readonly Webhook[] = ['mutate', 'validate'];

/**
 * POST /mutate and POST /validate as one encapsulated Fastify plugin: the body and kube-apiserver's
 * `?timeout` in, the handler's reply out. The server around it owns TLS, limits and HTTP errors.
 */
export const admissionRoutes: FastifyPluginCallback<AdmissionRoutesOptions> = (app, { handler, closing }, done) => {
  for (const webhook of WEBHOOKS) {
    app.post<{ Querystring: { timeout?: string } }>(`/${webhook}`, async (request, reply) => {
      const deadline = deadlineAfter(outboundBudgetMs(request.query.timeout));
      const result = await handler.handle(webhook, request.body, deadline);
      if (closing()) reply.header('connection', 'close');
      return reply.code(result.statusCode).send(result.body);
    });
  }
  done();
};
