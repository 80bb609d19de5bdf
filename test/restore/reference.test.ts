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

  it('reads the object shape without options, and with null options, as no options', () => {
    expect(restoreFieldOf({ spec: { restoreFrom: { name: 'c' } } })).toEqual({ kind: 'ref', ref: { name: 'c', options: {} } });
    expect(restoreFieldOf({ spec: { restoreFrom: { name: 'c', options: null } } })).toEqual({ kind: 'ref', ref: { name: 'c', options: {} } });
  });

  it('treats a null or empty name with no, null or empty options as absent', () => {
    for (const name of [undefined, null, '']) {
      for (const options of [undefined, null, {}]) {
        expect(restoreFieldOf({ spec: { restoreFrom: { name, options } } }), `name ${String(name)}, options ${JSON.stringify(options)}`).toEqual({
          kind: 'absent',
        });
      }
    }
  });

  it('says why a shape cannot be honoured', () => {
    const why = (restoreFrom: unknown) => restoreFieldOf({ spec: { restoreFrom } });
    expect(why(42)).toEqual({ kind: 'malformed', why: { problem: 'not-an-object' } });
    expect(why({ name: '', options: { a: 'b' } })).toEqual({ kind: 'malformed', why: { problem: 'options-without-name' } });
    expect(why({ name: null, options: 'x' })).toEqual({ kind: 'malformed', why: { problem: 'options-without-name' } });
    expect(why({ name: 7 })).toEqual({ kind: 'malformed', why: { problem: 'name-not-a-string' } });
    expect(why({ name: 'c', options: 'x' })).toEqual({ kind: 'malformed', why: { problem: 'options-not-a-map' } });
    expect(why({ name: 'c', options: { ok: 'v', bad: 1 } })).toEqual({ kind: 'malformed', why: { problem: 'option-not-a-string', key: 'bad' } });
  });
});
