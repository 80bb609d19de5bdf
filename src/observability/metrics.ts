import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** Every metric restore-guard exports, on one registry so tests can run several instances. */
export interface Metrics {
  registry: Registry;
  /**
   * `source`: the policy's name of the restore source the Pod references (names joined by commas when it
   * references several), `none` when it references none; never a value from the request.
   */
  reviews: Counter<'webhook' | 'operation' | 'decision' | 'source'>;
  reviewDuration: Histogram<'webhook'>;
  reviewsInFlight: Gauge<'webhook'>;
  malformedReviews: Counter<'webhook' | 'kind'>;
  sarCalls: Counter<'result'>;
  sarDuration: Histogram;
  sarCache: Counter<'result'>;
  apiCalls: Counter<'resource' | 'result'>;
  watchEvents: Counter<'resource' | 'type'>;
  watchRestarts: Counter<'resource'>;
  /** List pages read (a relist at scale reads many; each is bounded). */
  listPages: Counter<'resource'>;
  /** Objects over the size bound in a list or a watch: not cached, read with GET when needed. */
  oversizedObjects: Counter<'resource'>;
  /** Captured templates of PodCheckpoints read for a review: from the bounded cache (hit) or with a GET (miss). */
  templateReads: Counter<'result'>;
  policyGeneration: Gauge;
  /** notAfter of the serving certificate in use, in Unix seconds (alert well before it comes). */
  servingCertificateExpiry: Gauge;
  /** Changed certificate, key or client CA files seen, by result (success|error). */
  certificateReloads: Counter<'result'>;
  /** Connections closed after the mTLS handshake because the client certificate named none of --client-allowed-names. */
  clientIdentityRefusals: Counter;
  policyReloads: Counter<'source' | 'result'>;
  failOpen: Counter<'webhook'>;
  /** Requests (and connections) refused by the intake limits, by reason (server/intake-limits.ts). */
  requestsRefused: Counter<'reason'>;
}

export function createMetrics(options: { defaultMetrics?: boolean } = {}): Metrics {
  const registry = new Registry();
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry, prefix: 'restore_guard_' });
  const registers = [registry];
  const metrics: Metrics = {
    registry,
    reviews: new Counter({
      name: 'restore_guard_reviews_total',
      help: "Admission reviews answered, by webhook (mutate|validate), operation, decision and source (the policy's source name, or none).",
      labelNames: ['webhook', 'operation', 'decision', 'source'],
      registers,
    }),
    reviewDuration: new Histogram({
      name: 'restore_guard_review_duration_seconds',
      help: 'Time from request received to AdmissionReview answered.',
      labelNames: ['webhook'],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    reviewsInFlight: new Gauge({
      name: 'restore_guard_reviews_in_flight',
      help: 'Admission reviews being decided right now.',
      labelNames: ['webhook'],
      registers,
    }),
    malformedReviews: new Counter({
      name: 'restore_guard_malformed_reviews_total',
      help: 'Requests that were not a well-formed AdmissionReview, by kind of fault.',
      labelNames: ['webhook', 'kind'],
      registers,
    }),
    sarCalls: new Counter({
      name: 'restore_guard_subjectaccessreview_calls_total',
      help: 'SubjectAccessReviews sent to the API server, by result (allowed|denied|error).',
      labelNames: ['result'],
      registers,
    }),
    sarDuration: new Histogram({
      name: 'restore_guard_subjectaccessreview_duration_seconds',
      help: 'Round trip of one SubjectAccessReview.',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    }),
    sarCache: new Counter({
      name: 'restore_guard_subjectaccessreview_cache_total',
      help: 'Authorization cache lookups, by result (hit|miss|merged), and background refreshes of answers in use near their expiry (refresh).',
      labelNames: ['result'],
      registers,
    }),
    apiCalls: new Counter({
      name: 'restore_guard_api_reads_total',
      help: 'Direct GETs to the API server on a watch-cache miss, by resource and result.',
      labelNames: ['resource', 'result'],
      registers,
    }),
    watchEvents: new Counter({
      name: 'restore_guard_watch_events_total',
      help: 'Watch events received, by resource and type.',
      labelNames: ['resource', 'type'],
      registers,
    }),
    listPages: new Counter({
      name: 'restore_guard_list_pages_total',
      help: 'List pages read, by resource.',
      labelNames: ['resource'],
      registers,
    }),
    oversizedObjects: new Counter({
      name: 'restore_guard_oversized_objects_total',
      help: 'Objects over the size bound in a list or watch, not cached, by resource.',
      labelNames: ['resource'],
      registers,
    }),
    templateReads: new Counter({
      name: 'restore_guard_checkpoint_template_reads_total',
      help: 'Captured templates read for a validating review, by result (hit: from the bounded cache; miss: GET).',
      labelNames: ['result'],
      registers,
    }),
    watchRestarts: new Counter({
      name: 'restore_guard_watch_restarts_total',
      help: 'Times a watch was re-established after it ended or failed.',
      labelNames: ['resource'],
      registers,
    }),
    policyGeneration: new Gauge({
      name: 'restore_guard_policy_generation',
      help: 'Generation of the policy in effect (increments on every accepted change).',
      registers,
    }),
    servingCertificateExpiry: new Gauge({
      name: 'restore_guard_serving_certificate_expiry_timestamp_seconds',
      help: 'Expiry (notAfter) of the serving certificate in use, in seconds since the Unix epoch.',
      registers,
    }),
    certificateReloads: new Counter({
      name: 'restore_guard_certificate_reloads_total',
      help: 'Changed serving certificate files seen, by result (success: now in use; error: refused, the previous pair stays).',
      labelNames: ['result'],
      registers,
    }),
    clientIdentityRefusals: new Counter({
      name: 'restore_guard_client_certificates_refused_total',
      help: 'Connections closed without an answer because their verified client certificate named none of --client-allowed-names.',
      registers,
    }),
    policyReloads: new Counter({
      name: 'restore_guard_policy_reloads_total',
      help: 'Policy documents read, by source (file|configmap) and result (accepted|unchanged|rejected).',
      labelNames: ['source', 'result'],
      registers,
    }),
    failOpen: new Counter({
      name: 'restore_guard_fail_open_total',
      help: 'Restores allowed WITHOUT a complete check because the policy says failureMode: open.',
      labelNames: ['webhook'],
      registers,
    }),
    requestsRefused: new Counter({
      name: 'restore_guard_requests_refused_total',
      help:
        'Requests refused to protect memory, by reason: body-budget (429, too many body bytes in flight), stalled-upload (408, cut to make room), ' +
        'too-complex (413, JSON too costly to parse), too-large (413, over 7 MiB), timeout (408, request not arrived within 30 s or headers within 10 s), ' +
        'connection-limit (connection closed on accept, over --max-connections).',
      labelNames: ['reason'],
      registers,
    }),
  };
  startAtZero(metrics);
  return metrics;
}

/**
 * The series the alerts (manifests/monitoring/prometheusrule.yaml) read with increase(), exposed at 0 from
 * start-up: a counter series that first appears at 1 has no earlier sample, so increase() never sees the first
 * failure of a pod. The policy reloads of a source start at 0 when it is configured (PolicyStore.expect).
 */
function startAtZero(metrics: Metrics): void {
  for (const result of ['success', 'error']) metrics.certificateReloads.inc({ result }, 0);
  for (const result of ['allowed', 'denied', 'error']) metrics.sarCalls.inc({ result }, 0);
  for (const webhook of ['mutate', 'validate']) metrics.failOpen.inc({ webhook }, 0);
}
