import type { Metrics } from '../observability/metrics.js';
import { toPodCheckpoint } from '../restore/checkpoint.js';
import type { PodCheckpoint } from '../restore/model.js';
import { DependencyError, type CheckpointSource } from '../restore/ports.js';
import type { Deadline } from '../admission/deadline.js';
import type { ApiClient } from './api-client.js';
import type { KubeLogger } from './logger.js';
import { CachedObjectReader, WatchedSource, type WatchTuning } from './object-reader.js';

export interface KubeCheckpointSourceOptions {
  client: ApiClient;
  /** Defaults to the newest upstream revision: node.k8s.io/v1alpha1 podcheckpoints. */
  group?: string;
  version?: string;
  /** Plural resource name. */
  resource?: string;
  metrics?: Metrics;
  logger?: KubeLogger;
  watch?: WatchTuning;
}

/** PodCheckpoints from a cluster-wide watch cache, with a direct GET when the cache cannot answer. */
export class KubeCheckpointSource extends WatchedSource implements CheckpointSource {
  constructor(options: KubeCheckpointSourceOptions) {
    super(
      new CachedObjectReader({
        client: options.client,
        group: options.group ?? 'node.k8s.io',
        version: options.version ?? 'v1alpha1',
        plural: options.resource ?? 'podcheckpoints',
        namespaced: true,
        metrics: options.metrics,
        logger: options.logger,
        watch: options.watch,
      }),
    );
  }

  async get(namespace: string, name: string, deadline: Deadline): Promise<PodCheckpoint | undefined> {
    const checkpoint = toPodCheckpoint(await this.reader.get(namespace, name, deadline));
    if (!checkpoint || checkpoint.ready) return checkpoint;
    // Readiness is what changes; a cache a moment behind must not deny a checkpoint that just became
    // Ready. If the re-read fails, the cached (not ready) answer still stands.
    try {
      return toPodCheckpoint(await this.reader.read(namespace, name, deadline));
    } catch (err) {
      if (err instanceof DependencyError) return checkpoint;
      throw err;
    }
  }
}
