import type { Metrics } from '../observability/metrics.js';
import { compactCheckpoint, toPodCheckpoint, type ObjectLayout } from '../restore/checkpoint.js';
import type { PodCheckpoint } from '../restore/model.js';
import { DependencyError, type CheckpointSource } from '../restore/ports.js';
import type { Deadline } from '../admission/deadline.js';
import type { ApiClient } from './api-client.js';
import type { KubeLogger } from './logger.js';
import { CheckpointTable } from './checkpoint-table.js';
import { CachedObjectReader, WatchedSource, type WatchTuning } from './object-reader.js';
import { TemplateCache } from './template-cache.js';
import { keyOf } from './watch-cache.js';

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
  /** The bound of the recently used templates kept (default 8 MiB). */
  templateCacheBytes?: number;
  /** Where readiness, the node and the template are in these objects (default: a PodCheckpoint's). */
  layout?: ObjectLayout;
}

/**
 * PodCheckpoints from a cluster-wide watch cache that keeps only compact records (no templates), with
 * a direct GET when the cache cannot answer, and the captured template read when a validating review
 * needs it: from a small cache of recently used ones, else with a GET.
 */
export class KubeCheckpointSource extends WatchedSource<PodCheckpoint> implements CheckpointSource {
  private readonly templates: TemplateCache;
  private readonly metrics: Metrics | undefined;

  constructor(options: KubeCheckpointSourceOptions) {
    const templates = new TemplateCache(options.templateCacheBytes ?? 8 * 1024 * 1024);
    super(
      new CachedObjectReader<PodCheckpoint>({
        client: options.client,
        group: options.group ?? 'node.k8s.io',
        version: options.version ?? 'v1alpha1',
        plural: options.resource ?? 'podcheckpoints',
        namespaced: true,
        metrics: options.metrics,
        logger: options.logger,
        watch: options.watch,
        compact: (raw) => compactCheckpoint(raw, options.layout),
        newStore: () => new CheckpointTable(),
        // Any change (or deletion, or an oversized version) of a checkpoint drops its template.
        onKeyEvent: (key) => templates.delete(key),
      }),
    );
    this.templates = templates;
    this.metrics = options.metrics;
    this.layout = options.layout;
  }

  private readonly layout: ObjectLayout | undefined;

  async get(namespace: string, name: string, deadline: Deadline): Promise<PodCheckpoint | undefined> {
    const cached = this.reader.cache.isFresh() ? this.reader.cache.get(namespace, name) : undefined;
    if (cached?.ready) return cached;
    if (!cached) return this.read(namespace, name, deadline);
    // Readiness is what changes; a cache a moment behind must not deny a checkpoint that just became
    // Ready. If the re-read fails, the cached (not ready) answer still stands.
    try {
      return await this.read(namespace, name, deadline);
    } catch (err) {
      if (err instanceof DependencyError) return cached;
      throw err;
    }
  }

  async withTemplate(checkpoint: PodCheckpoint, deadline: Deadline): Promise<PodCheckpoint | undefined> {
    if (checkpoint.template) return checkpoint;
    const key = keyOf(checkpoint.namespace, checkpoint.name);
    const hit = this.templates.get(key, checkpoint.resourceVersion);
    this.metrics?.templateReads.inc({ result: hit ? 'hit' : 'miss' });
    // A GET without resourceVersion is a quorum read: never older than what the watch delivered.
    return hit ?? this.read(checkpoint.namespace, checkpoint.name, deadline);
  }

  /** The templates held now (tests, diagnostics). */
  get templateCache(): TemplateCache {
    return this.templates;
  }

  private async read(namespace: string, name: string, deadline: Deadline): Promise<PodCheckpoint | undefined> {
    const checkpoint = toPodCheckpoint(await this.reader.read(namespace, name, deadline), { layout: this.layout });
    if (checkpoint?.template) this.templates.set(keyOf(namespace, name), checkpoint, JSON.stringify(checkpoint.template).length);
    return checkpoint;
  }
}
