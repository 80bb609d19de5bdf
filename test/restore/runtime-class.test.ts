import { describe, expect, it } from 'vitest';
import { toRuntimeClassInfo } from '../../src/restore/runtime-class.js';

describe('toRuntimeClassInfo', () => {
  it('reads podCheckpoint.allowedRestoreOptions, keeping only strings', () => {
    expect(toRuntimeClassInfo({ metadata: { name: 'gvisor' }, podCheckpoint: { allowedRestoreOptions: ['tcp', 7, 'fs'] } })).toEqual({
      name: 'gvisor',
      allowedRestoreOptions: ['tcp', 'fs'],
    });
    expect(toRuntimeClassInfo({ metadata: { name: 'runc' } })).toEqual({ name: 'runc', allowedRestoreOptions: [] });
    expect(toRuntimeClassInfo({ metadata: {} })).toBeUndefined();
  });
});
