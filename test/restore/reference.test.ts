import { describe, expect, it } from 'vitest';
import { restoreFieldOf } from '../../src/restore/reference.js';
import { restorePod } from '../support/fixtures.js';

describe('restoreFieldOf', () => {
  it('reads the object shape with options', () => {
    expect(restoreFieldOf(restorePod({ checkpoint: { name: 'c', options: { tcp: 'close' } } }))).toEqual({
      kind: 'ref',
      ref: { name: 'c', options: { tcp: 'close' } },
    });
  });

  it('reads the early plain-string shape', () => {
    expect(restoreFieldOf(restorePod({ checkpoint: 'c' }))).toEqual({ kind: 'ref', ref: { name: 'c', options: {} } });
  });

  it('treats a missing, null, empty or nameless restoreFrom as absent', () => {
    expect(restoreFieldOf({ spec: {} }).kind).toBe('absent');
    expect(restoreFieldOf({ spec: { restoreFrom: null } }).kind).toBe('absent');
    expect(restoreFieldOf({ spec: { restoreFrom: '' } }).kind).toBe('absent');
    expect(restoreFieldOf({ spec: { restoreFrom: {} } }).kind).toBe('absent');
    expect(restoreFieldOf(undefined).kind).toBe('absent');
  });

  it('reports shapes that cannot be honoured instead of ignoring them', () => {
    expect(restoreFieldOf({ spec: { restoreFrom: 42 } }).kind).toBe('malformed');
    expect(restoreFieldOf({ spec: { restoreFrom: ['c'] } }).kind).toBe('malformed');
    expect(restoreFieldOf({ spec: { restoreFrom: { name: 7 } } }).kind).toBe('malformed');
    expect(restoreFieldOf({ spec: { restoreFrom: { name: 'c', options: { a: 1 } } } }).kind).toBe('malformed');
    expect(restoreFieldOf({ spec: { restoreFrom: { name: 'c', options: 'x' } } }).kind).toBe('malformed');
    expect(restoreFieldOf({ spec: { restoreFrom: { options: { a: 'b' } } } }).kind).toBe('malformed');
  });
});
