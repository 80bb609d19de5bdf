import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { KubeNamespaceSource } from '../../src/kube/namespace-source.js';
import { deadlineIn } from '../support/deadlines.js';
import { FakeApi } from '../../harness/fake-api.js';

describe('KubeNamespaceSource', () => {
  let api: FakeApi;
  beforeEach(async () => {
    api = await FakeApi.start();
  });
  afterEach(async () => {
    await api.close();
  });

  it("reads a namespace's labels once and answers again from its short cache", async () => {
    api.namespaces.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels: { tier: 'gold', n: 1 } } });
    const source = new KubeNamespaceSource(api.client());
    expect(await source.labels('team-a', deadlineIn(5_000))).toEqual({ tier: 'gold' });
    expect(await source.labels('team-a', deadlineIn(5_000))).toEqual({ tier: 'gold' });
    expect(api.calls('namespaces.get')).toBe(1);
  });

  it('answers undefined for a namespace that does not exist', async () => {
    const source = new KubeNamespaceSource(api.client());
    expect(await source.labels('nowhere', deadlineIn(5_000))).toBeUndefined();
  });

  it('keeps a label named like an Object.prototype member as an own key', async () => {
    // JSON.parse makes "__proto__" an own key; copying it into a plain object would drop it silently.
    const labels = JSON.parse('{"__proto__": "x", "constructor": "y"}') as Record<string, string>;
    api.namespaces.put({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'team-a', labels } });
    const found = (await new KubeNamespaceSource(api.client()).labels('team-a', deadlineIn(5_000))) ?? {};
    expect(Object.hasOwn(found, '__proto__')).toBe(true);
    expect(Object.keys(found).sort()).toEqual(['__proto__', 'constructor']);
    expect(found.constructor).toBe('y');
  });
});
