import { describe, expect, it } from 'vitest';
import { DependencyError } from '../../src/restore/ports.js';

describe('DependencyError', () => {
  it('carries the failure and names itself in stack traces and logs', () => {
    const error = new DependencyError('timeout', 'deadline spent', { cause: 'x' });
    expect(error).toMatchObject({ name: 'DependencyError', failure: 'timeout', message: 'deadline spent', cause: 'x' });
    expect(String(error)).toBe('DependencyError: deadline spent');
  });
});
