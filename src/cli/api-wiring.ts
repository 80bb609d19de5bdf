import { ApiClient } from '../kube/api-client.js';
import { CachedAuthorizer } from '../kube/authorization-cache.js';
import { KubeCheckpointSource } from '../kube/checkpoint-source.js';
import { EventRecorder } from '../kube/event-recorder.js';
import { loadApiTarget } from '../kube/api-target.js';
import { UnavailableApi } from '../kube/unavailable-api.js';
import { KubeNamespaceSource } from '../kube/namespace-source.js';
import { KubeOwnerReader } from '../kube/owner-reader.js';
import { ConfigMapPolicySource } from '../kube/policy-configmap-source.js';
import { KubeRuntimeClassSource } from '../kube/runtime-class-source.js';
import { SubjectAccessReviewAuthorizer } from '../kube/sar-authorizer.js';
import type { Logger } from '../observability/logger.js';
import type { Metrics } from '../observability/metrics.js';
import { sourcesOf } from '../policy/policy.js';
import type { RestoreSource } from '../policy/sources.js';
import type { PolicyStore } from '../policy/store.js';
import { SourceWatches } from '../kube/source-watches.js';
import type { RestorePorts } from '../restore/facts.js';
import type { ReadinessCheck } from '../server/ops-server.js';
import type { ServeOptions } from './options.js';

export interface ApiWiring {
  ports: Omit<RestorePorts, 'policy' | 'policyUnavailable'>;
  readiness: ReadinessCheck[];
  stop(): void;
}

/**
 * The adapters behind the ports, following the live policy: cache TTLs change in place, and a source
 * added (or a move of the checkpoint API) starts its watch before a source removed stops its own.
 */
function connect(client: ApiClient, options: ServeOptions, store: PolicyStore, logger: Logger, metrics: Metrics): ApiWiring {
  const checkpoints = new SourceWatches((source: RestoreSource) => {
    const { group, version, resource } = source.resource;
    return new KubeCheckpointSource({ client, group, version, resource, metrics, logger, layout: source });
  });
  checkpoints.follow(sourcesOf(store.current()));
  const runtimeClasses = new KubeRuntimeClassSource({ client, metrics, logger });
  const sar = new SubjectAccessReviewAuthorizer({ client, metrics, logger });
  const authorizer = new CachedAuthorizer(sar, { ...store.current().authorizationCache, metrics });
  const namespaces = new KubeNamespaceSource(client);
  runtimeClasses.start();

  store.onChange((policy) => {
    authorizer.setOptions(policy.authorizationCache);
    checkpoints.follow(sourcesOf(policy));
  });
  let policySource: ConfigMapPolicySource | undefined;
  if (options.policyConfigMap) {
    const events = new EventRecorder(client, logger);
    policySource = new ConfigMapPolicySource({ client, ...options.policyConfigMap, store, events, metrics, logger });
    policySource.start();
  }
  return {
    ports: { authorizer, checkpoints, runtimeClasses, namespaces, owners: new KubeOwnerReader({ client, metrics, logger }) },
    readiness: [
      { name: 'restore source watches', ready: () => checkpoints.isFresh() },
      { name: 'runtimeclasses watch', ready: () => runtimeClasses.isFresh() },
    ],
    stop: () => {
      policySource?.stop();
      checkpoints.stop();
      runtimeClasses.stop();
      client.close();
    },
  };
}

/** Wires the adapters to the API server, or to an "unreachable" stand-in when there is no config. */
export async function connectApi(options: ServeOptions, store: PolicyStore, logger: Logger, metrics: Metrics): Promise<ApiWiring> {
  const loaded = await loadApiTarget(options.kubeconfig, { serviceAccountDir: options.serviceAccountDir });
  if (loaded.target) {
    logger.info({ source: loaded.source }, 'using Kubernetes API');
    return connect(new ApiClient(loaded.target), options, store, logger, metrics);
  }
  logger.warn({ reason: loaded.reason }, 'no Kubernetes API configured: every restore will be denied');
  if (options.policyConfigMap) logger.warn('--policy-configmap needs the Kubernetes API: not ready, and restores are denied, until it can be read');
  const unavailable = new UnavailableApi(loaded.reason);
  return {
    ports: { authorizer: unavailable, checkpoints: unavailable, runtimeClasses: unavailable, namespaces: unavailable, owners: unavailable },
    readiness: [],
    stop: () => {},
  };
}
