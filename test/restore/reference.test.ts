import { describe, expect, it } from 'vitest';
import { dynamoSnapshotSource } from '../../src/policy/sources.js';
import { isObjectName, referenceOf, restoreFieldOf } from '../../src/restore/reference.js';
import { KEP, restorePod } from '../support/fixtures.js';

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

describe('referenceOf', () => {
  const dynamo = dynamoSnapshotSource();
  const withAnnotations = (annotations: unknown) => ({ metadata: { annotations }, spec: {} });

  it('reads an annotation source from its annotation, as a name without options', () => {
    expect(referenceOf(withAnnotations({ 'nvidia.com/restore-from': 'snap-1' }), dynamo)).toEqual({ kind: 'ref', ref: { name: 'snap-1', options: {} } });
    expect(referenceOf(withAnnotations({ other: 'x' }), dynamo)).toEqual({ kind: 'absent' });
    expect(referenceOf({ spec: { restoreFrom: { name: 'c' } } }, dynamo)).toEqual({ kind: 'absent' });
  });

  it('reports a present annotation that cannot name an object, never ignores it', () => {
    for (const value of ['', 'Upper', 'a/b', 'x'.repeat(254), '-lead']) {
      expect(referenceOf(withAnnotations({ 'nvidia.com/restore-from': value }), dynamo)).toEqual({ kind: 'malformed', why: { problem: 'not-an-object-name' } });
    }
    expect(referenceOf(withAnnotations({ 'nvidia.com/restore-from': 7 }), dynamo)).toEqual({ kind: 'malformed', why: { problem: 'name-not-a-string' } });
  });

  it('checks the name of spec.restoreFrom the same way', () => {
    expect(referenceOf(restorePod({ checkpoint: { name: 'Not_A_Name' } }), KEP)).toEqual({ kind: 'malformed', why: { problem: 'not-an-object-name' } });
    expect(referenceOf(restorePod({ checkpoint: { name: 'a.b-c' } }), KEP).kind).toBe('ref');
  });

  it('reads only own annotation keys', () => {
    expect(referenceOf(withAnnotations(Object.create({ 'nvidia.com/restore-from': 'snap' })), dynamo)).toEqual({ kind: 'absent' });
  });
});

describe('isObjectName', () => {
  it('takes DNS-1123 subdomains of at most 253 characters', () => {
    expect(isObjectName('a'.repeat(253))).toBe(true);
    expect(isObjectName('a'.repeat(254))).toBe(false);
    expect(isObjectName('snap.v1-2')).toBe(true);
    expect(isObjectName('a.b')).toBe(true);
    expect(isObjectName('snap.')).toBe(false);
  });
});
