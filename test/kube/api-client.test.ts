import { describe, expect, it } from 'vitest';
import { RefreshingTarget, type ConnectionMaterial } from '../../src/kube/api-client.js';

describe('RefreshingTarget', () => {
  const server = new URL('https://10.0.0.1:443');

  function target(load: () => Promise<ConnectionMaterial>) {
    let now = 0;
    const refreshing = new RefreshingTarget(server, load, 60_000, () => now);
    return { refreshing, advance: (ms: number) => (now += ms) };
  }

  it('reads the material once per refresh interval', async () => {
    let loads = 0;
    const { refreshing, advance } = target(async () => ({ ca: 'ca', headers: { authorization: `Bearer t${++loads}` } }));
    expect((await refreshing.transport()).headers.authorization).toBe('Bearer t1');
    advance(59_999);
    expect((await refreshing.transport()).headers.authorization).toBe('Bearer t1');
    advance(1);
    expect((await refreshing.transport()).headers.authorization).toBe('Bearer t2');
    refreshing.close();
  });

  it('keeps the connection pool while the TLS material is the same, and starts a new one when it changes', async () => {
    let ca = 'ca-1';
    const { refreshing, advance } = target(async () => ({ ca, headers: {} }));
    const first = (await refreshing.transport()).agent;
    advance(60_000);
    expect((await refreshing.transport()).agent).toBe(first);
    ca = 'ca-2';
    advance(60_000);
    const second = (await refreshing.transport()).agent;
    expect(second).not.toBe(first);
    // The retired pool no longer keeps connections alive.
    expect(Reflect.get(first, 'keepAlive')).toBe(false);
    refreshing.close();
  });

  it('keeps the last good material when a re-read fails, and tries again at the next interval', async () => {
    let fail = false;
    let loads = 0;
    const { refreshing, advance } = target(async () => {
      loads++;
      if (fail) throw new Error('ENOENT: token');
      return { headers: { authorization: `Bearer t${loads}` } };
    });
    expect((await refreshing.transport()).headers.authorization).toBe('Bearer t1');
    fail = true;
    advance(60_000);
    expect((await refreshing.transport()).headers.authorization).toBe('Bearer t1');
    fail = false;
    advance(60_000);
    expect((await refreshing.transport()).headers.authorization).toBe('Bearer t3');
    refreshing.close();
  });

  it('fails while there has never been good material, without caching the failure', async () => {
    let fail = true;
    const { refreshing } = target(async () => {
      if (fail) throw new Error('ENOENT: token');
      return { headers: { authorization: 'Bearer ok' } };
    });
    await expect(refreshing.transport()).rejects.toThrow('ENOENT');
    fail = false;
    expect((await refreshing.transport()).headers.authorization).toBe('Bearer ok');
    refreshing.close();
  });
});
