import { hostname } from 'node:os';
import type { CoreV1Event } from '@kubernetes/client-node';
import type { ApiClient } from './api-client.js';
import type { KubeLogger } from './logger.js';

/** The object an Event is about (its involvedObject). */
export interface InvolvedObject {
  apiVersion: string;
  kind: string;
  namespace: string;
  name: string;
  uid?: string;
}

/** Reports Kubernetes Events (core/v1) about objects restore-guard reads, e.g. a policy it refused. */
export class EventRecorder {
  private readonly instance = hostname();

  constructor(
    private readonly client: ApiClient,
    private readonly logger: KubeLogger,
  ) {}

  /** Best effort: a failure to report is logged, never thrown. */
  async record(target: InvolvedObject, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    const now = new Date();
    const body: CoreV1Event = {
      metadata: { namespace: target.namespace, generateName: `${target.name}.` },
      involvedObject: { apiVersion: target.apiVersion, kind: target.kind, namespace: target.namespace, name: target.name, uid: target.uid },
      type,
      reason,
      message: message.length > 1024 ? `${message.slice(0, 1023)}…` : message,
      source: { component: 'restore-guard' },
      reportingComponent: 'restore-guard',
      reportingInstance: this.instance,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      const path = `/api/v1/namespaces/${encodeURIComponent(target.namespace)}/events`;
      await this.client.request('POST', path, { body, signal: AbortSignal.timeout(10_000) });
    } catch (err) {
      this.logger.warn({ err: (err as Error).message, reason, target: `${target.namespace}/${target.name}` }, 'could not record an event');
    }
  }
}
