import type { Metrics } from '../observability/metrics.js';
import { toRuntimeClassInfo } from '../restore/runtime-class.js';
import type { RuntimeClassInfo } from '../restore/model.js';
import type { RuntimeClassSource } from '../restore/ports.js';
import type { Deadline } from '../admission/deadline.js';
import type { ApiClient } from './api-client.js';
import type { KubeLogger } from './logger.js';
import { CachedObjectReader, WatchedSource, type WatchTuning } from './object-reader.js';

export interface KubeRuntimeClassSourceOptions {
  client: ApiClient;
  metrics?: Metrics;
  logger?: KubeLogger;
  watch?: WatchTuning;
}

/**
 * RuntimeClasses (node.k8s.io/v1, cluster-scoped), read as raw JSON: the typed V1RuntimeClass model
 * would drop the KEP's `podCheckpoint` field.
 */
export class KubeRuntimeClassSource extends WatchedSource implements RuntimeClassSource {
  constructor(options: KubeRuntimeClassSourceOptions) {
    super(
      new CachedObjectReader({
        client: options.client,
        group: 'node.k8s.io',
        version: 'v1',
        plural: 'runtimeclasses',
        namespaced: false,
        metrics: options.metrics,
        logger: options.logger,
        watch: options.watch,
      }),
    );
  }

  async get(name: string, deadline: Deadline): Promise<RuntimeClassInfo | undefined> {
    return toRuntimeClassInfo(await this.reader.get('', name, deadline));
  }
}
