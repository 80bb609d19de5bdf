import { dictionary, objectAt } from '../common/json.js';
import { DependencyError, type NamespaceSource } from '../restore/ports.js';
import type { Deadline } from '../admission/deadline.js';
import { callWithDeadline, httpStatusOf } from './api-call.js';
import type { ApiClient } from './api-client.js';

const TTL_MS = 30_000;

/**
 * Namespace labels for the policy's namespace selector, read with GET and kept briefly: only asked for
 * when a selector is configured, so no cluster-wide namespace watch is needed.
 */
export class KubeNamespaceSource implements NamespaceSource {
  private readonly cache = new Map<string, { labels: Record<string, string> | undefined; at: number }>();

  constructor(
    private readonly client: ApiClient,
    private readonly now: () => number = Date.now,
  ) {}

  async labels(namespace: string, deadline: Deadline): Promise<Record<string, string> | undefined> {
    const cached = this.cache.get(namespace);
    if (cached && this.now() - cached.at < TTL_MS) return cached.labels;
    let labels: Record<string, string> | undefined;
    try {
      const path = `/api/v1/namespaces/${encodeURIComponent(namespace)}`;
      const object = await callWithDeadline(deadline, `reading namespace ${namespace}`, (signal) => this.client.request('GET', path, { signal }));
      labels = stringValues(objectAt(object, 'metadata', 'labels'));
    } catch (err) {
      if (!(err instanceof DependencyError && httpStatusOf(err.cause) === 404)) throw err;
    }
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(namespace, { labels, at: this.now() });
    return labels;
  }
}

function stringValues(object: Record<string, unknown> | undefined): Record<string, string> {
  const labels = dictionary<string>();
  for (const [key, value] of Object.entries(object ?? {})) if (typeof value === 'string') labels[key] = value;
  return labels;
}
