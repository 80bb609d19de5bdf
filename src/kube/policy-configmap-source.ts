import type { Metrics } from '../observability/metrics.js';
import type { PolicyStore } from '../policy/store.js';
import { isObject, objectAt, stringAt } from '../common/json.js';
import { httpStatusOf } from './api-call.js';
import type { ApiClient } from './api-client.js';
import type { EventRecorder } from './event-recorder.js';
import { silentLogger, type KubeLogger } from './logger.js';
import { WatchCache } from './watch-cache.js';

export const POLICY_KEY = 'policy.yaml';

export interface ConfigMapPolicySourceOptions {
  client: ApiClient;
  namespace: string;
  name: string;
  store: PolicyStore;
  events?: EventRecorder;
  metrics?: Metrics;
  logger?: KubeLogger;
}

/**
 * Follows the policy ConfigMap through the API (GET, then a watch on that one name: only the get and
 * watch verbs). Changes apply within seconds; a refused document is reported as an Event on the
 * ConfigMap; no ConfigMap (or no `policy.yaml` key) means the defaults.
 */
export class ConfigMapPolicySource {
  private readonly cache: WatchCache;
  private lastText: string | undefined | null = null;

  constructor(private readonly options: ConfigMapPolicySourceOptions) {
    const { client, namespace, name } = options;
    const collection = `/api/v1/namespaces/${encodeURIComponent(namespace)}/configmaps`;
    this.cache = new WatchCache({
      client,
      group: '',
      version: 'v1',
      plural: 'configmaps',
      metrics: options.metrics,
      logger: options.logger,
      source: {
        path: collection,
        watchParams: { fieldSelector: `metadata.name=${name}` },
        list: async (signal) => {
          try {
            const configMap = await client.request('GET', `${collection}/${encodeURIComponent(name)}`, { signal });
            if (!isObject(configMap)) return { items: [], resourceVersion: '' };
            return { items: [configMap], resourceVersion: stringAt(configMap, 'metadata', 'resourceVersion') ?? '' };
          } catch (err) {
            // Absent: the defaults apply, and the watch (from "now") reports it when it is created.
            if (httpStatusOf(err) === 404) return { items: [], resourceVersion: '' };
            throw err;
          }
        },
      },
      onChange: () => this.sync(),
    });
  }

  start(): void {
    this.cache.start();
  }

  stop(): void {
    this.cache.stop();
  }

  private sync(): void {
    const { namespace, name, store, events } = this.options;
    const configMap = this.cache.get(namespace, name);
    const value = objectAt(configMap, 'data')?.[POLICY_KEY];
    const text = typeof value === 'string' ? value : undefined;
    if (text === this.lastText) return;
    this.lastText = text;
    const logger = this.options.logger ?? silentLogger;
    if (configMap && text === undefined)
      logger.warn({ configMap: `${namespace}/${name}` }, `the policy ConfigMap has no ${POLICY_KEY} key: using the defaults`);
    const outcome = store.apply(text, 'configmap', `${namespace}/${name}`);
    if (!configMap || !events) return;
    const target = { apiVersion: 'v1', kind: 'ConfigMap', namespace, name, uid: stringAt(configMap, 'metadata', 'uid') };
    if (outcome.result === 'rejected') {
      void events.record(target, 'Warning', 'InvalidPolicy', `policy refused, generation ${store.generation} stays in effect: ${outcome.errors.join('; ')}`);
    } else if (outcome.result === 'accepted') {
      void events.record(target, 'Normal', 'PolicyApplied', `policy generation ${outcome.generation} is in effect`);
    }
  }
}
