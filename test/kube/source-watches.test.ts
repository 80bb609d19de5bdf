import { describe, expect, it } from 'vitest';
import { defaultPolicy } from '../../src/policy/policy.js';
import { dynamoSnapshotSource, gkePodSnapshotSource, kep5823Source, type RestoreSource } from '../../src/policy/sources.js';
import { SourceWatches, type WatchedObjects } from '../../src/kube/source-watches.js';
import { deadlineIn } from '../support/deadlines.js';
import { readyCheckpoint } from '../support/fixtures.js';

/** Watches that log what happens to them, and answer with the checkpoint named after their resource. */
function recordingWatches() {
  const log: string[] = [];
  const fresh = new Map<string, boolean>();
  const create = (source: RestoreSource): WatchedObjects => {
    const id = `${source.resource.resource}.${source.resource.group}/${source.resource.version}`;
    return {
      start: () => log.push(`start ${id}`),
      stop: () => log.push(`stop ${id}`),
      isFresh: () => fresh.get(id) ?? true,
      get: async (namespace, name) => readyCheckpoint({ namespace, name: `${name}@${id}` }),
      withTemplate: async (checkpoint) => ({ ...checkpoint, template: { from: id } }),
    };
  };
  return { log, fresh, watches: new SourceWatches(create) };
}

const KEP = kep5823Source(defaultPolicy());
const DYNAMO = dynamoSnapshotSource();

describe('SourceWatches', () => {
  it('reads each source through the watch of its own resource', async () => {
    const { watches } = recordingWatches();
    watches.follow([KEP, DYNAMO]);
    expect((await watches.get('ns', 'a', deadlineIn(1000), KEP))?.name).toBe('a@podcheckpoints.node.k8s.io/v1alpha1');
    expect((await watches.get('ns', 'a', deadlineIn(1000), DYNAMO))?.name).toBe('a@podsnapshots.nvidia.com/v1alpha1');
    expect((await watches.withTemplate(readyCheckpoint(), deadlineIn(1000), DYNAMO))?.template).toEqual({ from: 'podsnapshots.nvidia.com/v1alpha1' });
  });

  it('starts a new source before it stops one the policy dropped, and keeps the watches that stay', () => {
    const { log, watches } = recordingWatches();
    watches.follow([KEP, DYNAMO]);
    watches.follow([KEP, gkePodSnapshotSource()]);
    expect(log).toEqual([
      'start podcheckpoints.node.k8s.io/v1alpha1',
      'start podsnapshots.nvidia.com/v1alpha1',
      'start podsnapshots.podsnapshot.gke.io/v1',
      'stop podsnapshots.nvidia.com/v1alpha1',
    ]);
  });

  it('moves the KEP-5823 watch when the checkpoint API moves, and when how objects are read changes', () => {
    const { log, watches } = recordingWatches();
    watches.follow([KEP]);
    watches.follow([kep5823Source({ ...defaultPolicy(), checkpointAPI: { ...defaultPolicy().checkpointAPI, group: 'checkpoint.k8s.io' } })]);
    watches.follow([kep5823Source({ ...defaultPolicy(), checkpointAPI: { ...defaultPolicy().checkpointAPI, group: 'checkpoint.k8s.io' } })]);
    expect(log).toEqual([
      'start podcheckpoints.node.k8s.io/v1alpha1',
      'start podcheckpoints.checkpoint.k8s.io/v1alpha1',
      'stop podcheckpoints.node.k8s.io/v1alpha1',
    ]);
    watches.follow([{ ...KEP, ready: { condition: 'Usable', status: 'True' } }]);
    expect(log.slice(3)).toEqual(['start podcheckpoints.node.k8s.io/v1alpha1', 'stop podcheckpoints.checkpoint.k8s.io/v1alpha1']);
  });

  it('is fresh only when every watch is', () => {
    const { fresh, watches } = recordingWatches();
    watches.follow([KEP, DYNAMO]);
    expect(watches.isFresh()).toBe(true);
    fresh.set('podsnapshots.nvidia.com/v1alpha1', false);
    expect(watches.isFresh()).toBe(false);
  });

  it('starts the watch of a source a review still uses after the policy dropped it, and stops everything on stop', async () => {
    const { log, watches } = recordingWatches();
    watches.follow([KEP]);
    await watches.get('ns', 'a', deadlineIn(1000), DYNAMO);
    watches.stop();
    expect(log).toEqual([
      'start podcheckpoints.node.k8s.io/v1alpha1',
      'start podsnapshots.nvidia.com/v1alpha1',
      'stop podcheckpoints.node.k8s.io/v1alpha1',
      'stop podsnapshots.nvidia.com/v1alpha1',
    ]);
  });
});
