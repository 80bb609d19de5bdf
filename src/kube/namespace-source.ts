import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Deadline, NamespaceSource } from '../restore/ports.js';
import { callWithDeadline, httpStatusOf, SharedDispatcher } from './api-call.js';
import { DependencyError } from '../restore/ports.js';

const TTL_MS = 30_000;

/**
 * Namespace labels for the policy's namespace selector, read with GET and kept briefly: only asked for
 * when a selector is configured, so no cluster-wide namespace watch is needed.
 */
export class KubeNamespaceSource implements NamespaceSource {
  private readonly api: CoreV1Api;
  private readonly dispatchers = new SharedDispatcher();
  private readonly cache = new Map<string, { labels: Record<string, string> | undefined; at: number }>();

  constructor(kubeConfig: KubeConfig, private readonly now: () => number = Date.now) {
    this.api = kubeConfig.makeApiClient(CoreV1Api);
  }

  async labels(namespace: string, deadline: Deadline): Promise<Record<string, string> | undefined> {
    const cached = this.cache.get(namespace);
    if (cached && this.now() - cached.at < TTL_MS) return cached.labels;
    let labels: Record<string, string> | undefined;
    try {
      const object = await callWithDeadline(deadline, `reading namespace ${namespace}`, (options) => this.api.readNamespace({ name: namespace }, options), this.dispatchers);
      labels = object.metadata?.labels ?? {};
    } catch (err) {
      if (!(err instanceof DependencyError && httpStatusOf(err.cause) === 404)) throw err;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(namespace, { labels, at: this.now() });
    return labels;
  }

  close(): void {
    this.dispatchers.close();
  }
}
