import type { Deadline } from '../admission/deadline.js';
import type { JsonObject } from '../common/json.js';
import type { Metrics } from '../observability/metrics.js';
import type { WorkloadKind } from '../policy/workloads.js';
import type { OwnerSource } from '../restore/ports.js';
import type { ApiClient } from './api-client.js';
import type { KubeLogger } from './logger.js';
import { CachedObjectReader } from './object-reader.js';

/** Workload objects by direct GET (only delegation reads them, once per controller-made object). */
export class KubeOwnerReader implements OwnerSource {
  private readonly readers = new Map<string, CachedObjectReader>();

  constructor(private readonly options: { client: ApiClient; metrics?: Metrics; logger?: KubeLogger }) {}

  get(kind: WorkloadKind, namespace: string, name: string, deadline: Deadline): Promise<JsonObject | undefined> {
    return this.readerOf(kind).read(namespace, name, deadline);
  }

  // A reader per kind for its path and metrics label; its watch cache is never started.
  private readerOf(kind: WorkloadKind): CachedObjectReader {
    const key = `${kind.group}/${kind.version}/${kind.resource}`;
    let reader = this.readers.get(key);
    if (!reader) {
      reader = new CachedObjectReader({ ...this.options, group: kind.group, version: kind.version, plural: kind.resource, namespaced: true });
      this.readers.set(key, reader);
    }
    return reader;
  }
}
